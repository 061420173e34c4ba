"""Pure rules of the counter: which slot is being served now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from canteen.core.errors import DomainError, register

register(
    "slot_closed",
    409,
    "现在不是该站点的供餐时间。",
    "This site is not serving a meal at this time.",
)

# A cashier may still serve a late elder a little after the serving hours end.
GRACE = dt.timedelta(minutes=30)


def _t(text: str) -> dt.time:
    hh, mm = text.split(":")
    return dt.time(int(hh), int(mm))


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def pick_slot(slots: Iterable[Mapping[str, Any]], now_local: dt.time, requested: str | None = None) -> str:
    """The slot being served at ``now_local`` (or ``requested`` if it is open, with grace).

    Raises ``slot_closed`` with the site's serving hours when nothing is open.
    """
    hours = [(s["slot"], _t(s["start"]), _t(s["end"])) for s in slots]
    grace = int(GRACE.total_seconds() // 60)
    now_m = _minutes(now_local)
    for slot, start, end in hours:
        if requested is not None and slot != requested:
            continue
        if _minutes(start) - grace <= now_m <= _minutes(end) + grace:
            return slot
    raise DomainError(
        "slot_closed",
        {
            "requested": requested,
            "serving_hours": [
                {"slot": s, "start": a.strftime("%H:%M"), "end": b.strftime("%H:%M")} for s, a, b in hours
            ],
        },
    )
