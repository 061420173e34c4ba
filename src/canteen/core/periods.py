"""Months as 'YYYY-MM' strings."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from canteen.core.errors import DomainError, register

register("invalid_month", 422)

# Years a programme can have meals in; anything else is a typo (or a fuzzer), not a month.
MONTH_PATTERN = r"^((?:19|20|21)\d{2})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a 'YYYY-MM' month; ``invalid_month`` (422) for anything else."""
    m = _MONTH.match(month or "")
    if not m:
        raise DomainError("invalid_month", {"month": month})
    y, mo = int(m.group(1)), int(m.group(2))
    return dt.date(y, mo, 1), dt.date(y, mo, calendar.monthrange(y, mo)[1])


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7])
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def last_complete_month(today: dt.date) -> str:
    """The month before ``today``'s: what a report shows by default (a month one day old
    says nothing yet)."""
    return shift(month_of(today), -1)


def months(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` (both YYYY-MM, inclusive); empty when last < first."""
    return [shift(first, k) for k in range(index(last) - index(first) + 1)]


def quarter_months(month: str) -> tuple[str, str]:
    """The first and last month of the calendar quarter ``month`` lies in (2026-08 → 2026-07, 2026-09)."""
    first = shift(month, -((int(month[5:7]) - 1) % 3))
    return first, shift(first, 2)
