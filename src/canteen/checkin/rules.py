"""Pure rules of the counter: which slot is being served now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from canteen.core.errors import DomainError, register

register("slot_closed", 409)

# A cashier may still serve a late elder a little after the serving hours end.
GRACE = dt.timedelta(minutes=30)


def _t(text: str) -> dt.time:
    hh, mm = text.split(":")
    return dt.time(int(hh), int(mm))


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def slot_open_at(hours: Mapping[str, Any], at_local: dt.time) -> bool:
    """Whether one slot of a site's serving hours is open at ``at_local`` (the service zone's time).

    Open from ``GRACE`` before ``start`` to ``GRACE`` after ``end``, to the minute (a scan at
    13:30:59 is "13:30"). The ONE rule: the counter (:func:`pick_slot`) accepts with it and the
    ``outside_hours`` claim check flags with it, so a meal the counter took is never flagged
    for its time. A slot without both hours is never open.
    """
    start, end = hours.get("start"), hours.get("end")
    if not start or not end:
        return False
    grace = int(GRACE.total_seconds() // 60)
    now_m = _minutes(at_local)
    return _minutes(_t(str(start))) - grace <= now_m <= _minutes(_t(str(end))) + grace


def pick_slot(slots: Iterable[Mapping[str, Any]], now_local: dt.time, requested: str | None = None) -> str:
    """The slot being served at ``now_local`` (or ``requested`` if it is open, with grace).

    Raises ``slot_closed`` with the site's serving hours when nothing is open.
    """
    slots = list(slots)
    for s in slots:
        if requested is not None and s["slot"] != requested:
            continue
        if slot_open_at(s, now_local):
            return str(s["slot"])
    raise DomainError(
        "slot_closed",
        {
            "requested": requested,
            "serving_hours": [
                {
                    "slot": s["slot"],
                    "start": _t(s["start"]).strftime("%H:%M"),
                    "end": _t(s["end"]).strftime("%H:%M"),
                }
                for s in slots
                if s.get("start") and s.get("end")
            ],
        },
    )
