"""Months as 'YYYY-MM' strings."""

from __future__ import annotations

import calendar
import datetime as dt


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a 'YYYY-MM' month."""
    y, m = int(month[:4]), int(month[5:7])
    return dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7])
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1
