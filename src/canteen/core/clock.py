"""Time: stored in UTC, reasoned about in the service zone. Services take ``now`` explicitly."""

from __future__ import annotations

import datetime as dt
import zoneinfo

UTC = dt.UTC


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def local_date(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    """The service day a moment falls on (lunch at 00:30 UTC is today in Shanghai)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment must carry a time zone")
    return moment.astimezone(tz).date()


def local_time(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.time:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment must carry a time zone")
    return moment.astimezone(tz).time()
