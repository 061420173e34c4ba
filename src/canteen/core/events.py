"""Live events (a check-in, a welfare alert) published on channels: Redis pub/sub when
configured, memory otherwise. Publishing never fails a business write: it happens after
the commit, and a Redis outage only delays the live view, never the meal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar.response.sse import ServerSentEventMessage

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


HEARTBEAT_SECONDS = 10.0
RECONNECT_MS = 3000


def live_ok(plugin: Any) -> bool:
    """False while the channels backend cannot reach Redis (the memory backend is always live)."""
    return bool(getattr(getattr(plugin, "_backend", None), "live", True))


def _status(live: bool) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="status", data="live" if live else "paused", retry=RECONNECT_MS)


async def stream(
    plugin: Any, channels: list[str], *, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncGenerator[str | ServerSentEventMessage, None]:
    """A page's live stream: the events of ``channels`` as they come, and a ``status`` event
    (``live`` or ``paused``) first and every ``heartbeat`` seconds, so a page can say "live
    updates paused" while Redis is away instead of going quietly stale. The subscription
    itself never fails on a Redis outage (the backend resubscribes when Redis is back)."""
    async with plugin.start_subscription(channels) as subscriber:
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            async for message in subscriber.iter_events():
                await inbox.put(message)

        task = asyncio.create_task(pump())
        loop = asyncio.get_running_loop()
        try:
            state = live_ok(plugin)
            yield _status(state)
            due = loop.time() + heartbeat
            while True:
                try:
                    message = await asyncio.wait_for(inbox.get(), max(0.0, due - loop.time()))
                except TimeoutError:
                    pass
                else:
                    yield message.decode() if isinstance(message, bytes) else str(message)
                # On schedule (busy or not), and at once when the state changes.
                now_ok = live_ok(plugin)
                if now_ok != state or loop.time() >= due:
                    state = now_ok
                    yield _status(state)
                    due = loop.time() + heartbeat
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def site_channel(site_id: int) -> str:
    return f"site:{site_id}"


def district_channel(district_id: int) -> str:
    return f"district:{district_id}"
