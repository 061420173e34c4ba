"""Pure rules of the claim checks: the thresholds a district may set, and the counter's serving
hours turned into the minute windows the database compares meals against."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from canteen.checkin.rules import GRACE


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    """A district's claim-check thresholds.

    ``fast_scans`` flags a cashier who records MORE than ``fast_scan_count`` counter meals within
    any ``fast_scan_seconds`` (a burst faster than people can be served: 9 meals in 30 s is one
    every 3.3 s). The old rule (five gaps under 10 s in a day) flagged every busy canteen's
    ordinary lunch rush, where a queue served every 6–10 s gives dozens of short gaps a day."""

    fast_scan_count: int = 8
    fast_scan_seconds: int = 30
    two_points_minutes: int = 30
    identical_days: int = 7


DEFAULT_THRESHOLDS = Thresholds()

# What an official may set (the API's and the form's bounds, one place).
BOUNDS: dict[str, tuple[int, int]] = {
    "fast_scan_count": (2, 500),
    "fast_scan_seconds": (5, 3600),
    "two_points_minutes": (5, 240),
    "identical_days": (3, 31),
}

VOID_RATE_FACTOR = 3.0
VOID_RATE_FLOOR = 0.05


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


def out_of_bounds(values: Mapping[str, int]) -> list[str]:
    """The names of the thresholds outside :data:`BOUNDS` (empty when all are fine)."""
    return [k for k, (lo, hi) in BOUNDS.items() if k in values and not lo <= int(values[k]) <= hi]


def open_windows(site_id: int, slots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A site's slots as minute-of-day windows ``lo ≤ minute ≤ hi``: exactly
    :func:`canteen.checkin.rules.slot_open_at` (hours plus the grace window, to the minute), so
    the SQL check flags only what the counter would have refused. Slots without both hours are
    never open, so they give no window."""
    grace = int(GRACE.total_seconds() // 60)
    out = []
    for s in slots:
        start, end = s.get("start"), s.get("end")
        if not start or not end or not s.get("slot"):
            continue
        out.append(
            {
                "site": int(site_id),
                "slot": str(s["slot"]),
                "lo": _minutes(str(start)) - grace,
                "hi": _minutes(str(end)) + grace,
            }
        )
    return out
