"""The delivery vocabulary in words for the kitchen, courier and alert pages.

Stop, round, order and alert codes stay codes in the data (the API speaks them); a page shows
them only through these msgids, so no person ever reads ``not_home`` or ``urgent_welfare``.
Diet and slot words come from ``canteen.core.categories``, the one place they are defined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from canteen import i18n
from canteen.core.categories import diet_labels, slot_label, texture_label

STOP_STATUS = {
    "pending": "delivery.stop.pending",
    "delivered": "delivery.stop.delivered",
    "not_home": "delivery.stop.not_home",
    "refused": "delivery.stop.refused",
    "failed": "delivery.stop.failed",
}
ROUND_STATUS = {
    "planned": "delivery.round.planned",
    "out": "delivery.round.out",
    "done": "delivery.round.done",
}
WELFARE_LEVEL = {
    "fine": "delivery.welfare.fine",
    "attention": "delivery.welfare.attention",
    "urgent": "delivery.welfare.urgent",
}
ALERT_KIND = {
    "urgent_welfare": "delivery.alert.urgent_welfare",
    "missed_meal": "delivery.alert.missed_meal",
}
ALERT_STATUS = {
    "open": "delivery.alert_status.open",
    "acknowledged": "delivery.alert_status.acknowledged",
    "closed": "delivery.alert_status.closed",
}
ALERT_REASON = {
    "no_checkin": "delivery.alert_reason.no_checkin",
    "not_delivered": "delivery.alert_reason.not_delivered",
}
ORDER_STATUS = {
    "placed": "delivery.order.placed",
    "confirmed": "delivery.order.confirmed",
    "cooking": "delivery.order.cooking",
    "out_for_delivery": "delivery.order.out_for_delivery",
    "delivered": "delivery.order.delivered",
    "not_delivered": "delivery.order.not_delivered",
    "cancelled": "delivery.order.cancelled",
}
PAYMENT = {
    "cash": "delivery.payment.cash",
    "balance": "delivery.payment.balance",
    "card": "delivery.payment.card",
}
UNKNOWN = "delivery.unknown"  # a code retired from the vocabulary that still sits in old rows


def _word(lang: str, table: Mapping[str, str], code: object) -> str:
    return i18n.gettext(lang, table.get(str(code or ""), UNKNOWN))


def map_links(address: str, lat: float | None, lon: float | None) -> dict[str, str]:
    """A navigation link for the phone's own maps app (``geo:``) and a public maps search.

    Plain links, no script: the ``geo:`` URI opens the installed maps app on Android (the
    address as the query, the coordinates as the point); the https link searches the address
    on a public map in any browser.
    """
    located = lat is not None and lon is not None
    q = quote(address or (f"{lat},{lon}" if located else ""))
    if located:
        # Amap's public URI API: a marker at the point, named with the address.
        web = f"https://uri.amap.com/marker?position={lon},{lat}&name={q}"
    else:
        web = f"https://uri.amap.com/search?keyword={q}"
    return {"geo": f"geo:{lat},{lon}?q={q}" if located else f"geo:0,0?q={q}", "web": web}


def words(lang: str) -> dict[str, Callable[..., Any]]:
    """Template helpers bound to the reader's language (merged into the page context)."""

    def diet(codes: Iterable[str] | None, texture: bool | None = None) -> str:
        return diet_labels(codes or [], lang, texture=texture)

    def diet_or_standard(codes: Iterable[str] | None) -> str:
        return diet_labels(codes or [], lang) or i18n.gettext(lang, "standard")

    return {
        "diet_words": diet,
        "diet_or_standard": diet_or_standard,
        "texture_words": lambda codes: texture_label(codes or [], lang),
        "slot_words": lambda code: slot_label(str(code), lang),
        "stop_status": lambda code: _word(lang, STOP_STATUS, code),
        "round_status": lambda code: _word(lang, ROUND_STATUS, code),
        "welfare_words": lambda code: _word(lang, WELFARE_LEVEL, code),
        "alert_kind": lambda code: _word(lang, ALERT_KIND, code),
        "alert_status": lambda code: _word(lang, ALERT_STATUS, code),
        "alert_reason": lambda code: _word(lang, ALERT_REASON, code),
        "order_status": lambda code: _word(lang, ORDER_STATUS, code),
        "payment_words": lambda code: _word(lang, PAYMENT, code),
        "yuan": lambda fen: f"¥{int(fen or 0) / 100:.2f}",
        "map_links": map_links,
    }
