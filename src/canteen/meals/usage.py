"""What an elder has already used: the reads every quote and refusal is built on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.meals.tables import Meal
from canteen.regions.tables import Site
from canteen.settings import get_settings
from canteen.subsidies.schemas import Usage

# The subsidy counters' refusal (canteen.meals.hotpath raises it as a UniqueViolation naming the
# counters' unique index, as the partial unique index meal_one_subsidy it replaced did).
SUBSIDY_REFUSAL = "subsidy_usage_key"
SUBSIDY_INDEX_MARKERS = (SUBSIDY_REFUSAL, "meal_one_subsidy", "meal.elder, meal.service_date, meal.slot")


def is_subsidy_refusal(constraint: str) -> bool:
    """Whether a unique violation came from the subsidy limit's referee (the usage counters)."""
    return any(m in constraint for m in SUBSIDY_INDEX_MARKERS)


async def served_already(elder_id: int, day: dt.date, slot: str) -> dict[str, Any] | None:
    """The live subsidised meal the elder had in ``slot`` on ``day``, anywhere, or None."""
    row: dict[str, Any] | None = (
        await Meal.select(Meal.id, Meal.site, Meal.site.name.as_alias("site_name"), Meal.served_at, Meal.mode)
        .where(
            (Meal.elder == elder_id)
            & (Meal.service_date == day)
            & (Meal.slot == slot)
            & (Meal.subsidised == True)  # noqa: E712 - Piccolo builds SQL from this comparison
            & Meal.voided_at.is_null()
        )
        .first()
    )
    return row


async def month_subsidy(elder_id: int, day: dt.date) -> int:
    """Meal subsidy (fen) of the elder's live meals from the 1st of ``day``'s month to ``day``."""
    first = day.replace(day=1)
    rows = await Meal.select(Meal.subsidy_fen).where(
        (Meal.elder == elder_id)
        & (Meal.service_date >= first)
        & (Meal.service_date <= day)
        & Meal.voided_at.is_null()
    )
    return sum(r["subsidy_fen"] for r in rows)


async def usage_of(elder_id: int, day: dt.date, slot: str) -> Usage:
    """Everything the limits count, from the elder's live meals of ``day``'s month up to ``day``
    (one read): subsidised meals in ``slot`` today, today in any slot and this month, and the
    month's meal subsidy (fen). A meal is subsidised when its quote had ``subsidy_fen > 0``."""
    first = day.replace(day=1)
    rows = await Meal.select(Meal.service_date, Meal.slot, Meal.subsidy_fen, Meal.subsidised).where(
        (Meal.elder == elder_id)
        & (Meal.service_date >= first)
        & (Meal.service_date <= day)
        & Meal.voided_at.is_null()
    )
    subsidised = [r for r in rows if r["subsidised"]]
    today = [r for r in subsidised if r["service_date"] == day]
    return Usage(
        slot_meals_today=min(1000, sum(1 for r in today if r["slot"] == slot)),
        month_subsidy_fen=sum(r["subsidy_fen"] for r in rows),
        day_meals_today=min(1000, len(today)),
        month_meals=min(1000, len(subsidised)),
    )


def already_detail(row: dict[str, Any] | None) -> dict[str, Any]:
    """The ``already_served`` refusal's detail: where and when the first meal was had."""
    if row is None:
        return {}
    tz = get_settings().tz
    return {
        "meal_id": row["id"],
        "site_id": row["site"],
        "site_name": row["site_name"],
        "served_at": row["served_at"].astimezone(tz).isoformat(timespec="minutes"),
        "mode": row["mode"],
    }


async def elder_meals(elder_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
    """An elder's latest meals, newest first, voided ones included (the profile's meal history).

    The caller has checked that the reader may see the elder (``registry.get_elder``).
    """
    rows = await (
        Meal.select(
            Meal.id,
            Meal.service_date,
            Meal.slot,
            Meal.mode,
            Meal.site,
            Meal.copay_fen,
            Meal.subsidy_fen,
            Meal.payment,
            Meal.served_at,
            Meal.voided_at,
        )
        .where(Meal.elder == elder_id)
        .order_by(Meal.service_date, Meal.id, ascending=False)
        .limit(max(1, min(limit, 100)))
    )
    names = {
        int(s["id"]): s["name"]
        for s in await Site.select(Site.id, Site.name).where(Site.id.is_in([r["site"] for r in rows] or [0]))
    }
    for r in rows:
        r["site_name"] = names.get(int(r["site"]), "")
    return rows
