"""A small key-value store shared by the processes: Redis when configured, memory otherwise.

Sessions, login rate limits and caches live here. Nothing that money depends
on does: the database is the referee for balances, meals and settlements, so a
Redis outage degrades convenience (sessions, rate limits), never correctness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from canteen.core.errors import DomainError

PREFIX = "canteen:"
log = logging.getLogger("canteen.kv")


@contextmanager
def _reachable() -> Iterator[None]:
    """Redis away (stopped, restarting, failing over) is a 503 with Retry-After, never a 500."""
    # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError) as exc:
        raise DomainError("service_unavailable", {"reason": "redis"}) from exc


class KV(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def incr(self, key: str, ttl: int) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryKV:
    """Per-process store; right for one process (the demo, tests), wrong for several."""

    backend = "memory"

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        self._data[key] = (value, time.monotonic() + ttl if ttl else None)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: int) -> int:
        item = self._live(key)
        if item is None:
            self._data[key] = (b"1", time.monotonic() + ttl)
            return 1
        value = int(item[0]) + 1
        self._data[key] = (str(value).encode(), item[1])
        return value

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


class RedisKV:
    """redis-py asyncio; reconnects by itself after a Redis restart."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
        import redis.asyncio as aioredis

        # Short timeouts: when Redis is away we want an error quickly, not a stalled request.
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10
        )

    async def get(self, key: str) -> bytes | None:
        with _reachable():
            value = await self.client.get(PREFIX + key)
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        with _reachable():
            await self.client.set(PREFIX + key, value, ex=ttl)

    async def delete(self, key: str) -> None:
        with _reachable():
            await self.client.delete(PREFIX + key)

    async def incr(self, key: str, ttl: int) -> int:
        with _reachable():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(PREFIX + key)
                pipe.expire(PREFIX + key, ttl, nx=True)
                value, _ = await pipe.execute()
        return int(value)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def make_kv(redis_url: str | None) -> KV:
    return RedisKV(redis_url) if redis_url else MemoryKV()


def redis_unavailable(exc: BaseException) -> bool:
    """True for redis-py's "cannot reach Redis" errors (stopped, restarting, failing over)."""
    try:
        # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


def make_channels_backend(redis_url: str) -> Any:
    """Redis pub/sub for live events that survives a Redis restart.

    Litestar's ``RedisChannelsPubSubBackend`` lets one connection error end its publish
    and listen tasks for good (found by the fault suite: after Redis came back, no live
    event reached any subscriber until the process restarted). Here a publish that cannot
    reach Redis is dropped with a warning (the write it reports has committed; the live
    view lags), and the listener waits and reconnects; redis-py re-subscribes the
    channels on reconnect.
    """
    # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.asyncio import Redis

    class ResilientRedisChannels(RedisChannelsPubSubBackend):
        async def publish(self, data: bytes, channels: Iterable[str]) -> None:
            try:
                await super().publish(data, channels)
            except Exception as exc:
                if not (redis_unavailable(exc) or isinstance(exc, OSError)):
                    raise
                log.warning("live event dropped: redis unreachable", extra={"code": "event_publish_failed"})

        async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
            while True:
                try:
                    async for item in super().stream_events():
                        yield item
                except Exception as exc:
                    if not (redis_unavailable(exc) or isinstance(exc, OSError)):
                        raise
                    log.warning(
                        "live events paused: redis unreachable", extra={"code": "event_stream_failed"}
                    )
                    await asyncio.sleep(1)

    return ResilientRedisChannels(redis=Redis.from_url(redis_url, socket_connect_timeout=2))
