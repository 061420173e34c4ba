"""Live events (a check-in, a welfare alert) published on channels: Redis pub/sub when
configured, memory otherwise. Publishing never fails a business write: it happens after
the commit, and a Redis outage only delays the live view, never the meal."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

log = logging.getLogger("canteen.events")

_plugin: Any = None


def bind(plugin: Any) -> None:
    """Called once by create_app with the ChannelsPlugin."""
    global _plugin
    _plugin = plugin


def publish(channels: list[str], data: Any) -> None:
    if _plugin is None:
        return
    try:
        _plugin.publish(msgspec.json.encode(data).decode(), channels=channels)
    except Exception:  # a live view may lag; the write it reports has already committed
        log.warning("live event not published", extra={"code": "event_publish_failed"})


def site_channel(site_id: int) -> str:
    return f"site:{site_id}"


def district_channel(district_id: int) -> str:
    return f"district:{district_id}"
