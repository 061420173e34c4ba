"""A small key-value store shared by the processes: Redis when configured, memory otherwise.

Login rate limits and caches live here (staff sessions are stored in the database and
only cached here). Nothing that money depends on does: the database is the referee for
balances, meals, settlements and sessions, so a Redis outage degrades convenience (live
updates, caches), never correctness.
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

        self.client = aioredis.Redis.from_url(url, **client_options())

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


def client_options() -> dict[str, Any]:
    """redis-py options for every client of ours (the store and the live-events pub/sub).

    After a Redis restart every pooled connection is dead. Without a health check and a
    retry, each one failed its next command once (the fault suite saw sporadic 503s for
    a minute and more). A connection idle longer than ``health_check_interval`` is
    PINGed before use, and a command that meets a connection error reconnects and is
    retried once, after a short backoff. Short timeouts: when Redis is away we want an
    error quickly, not a stalled request.
    """
    # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return {
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        "health_check_interval": 5,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


class _Breaker:
    """Skip Redis for a few seconds after it failed, so a cache whose truth is elsewhere
    (the database) costs nothing while Redis is away, instead of a connect attempt per use."""

    cooldown = 5.0

    def __init__(self) -> None:
        self.open_until = 0.0

    def closed(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self) -> None:
        if self.closed():
            log.warning("redis unreachable: caches bypassed", extra={"code": "cache_bypassed"})
        self.open_until = time.monotonic() + self.cooldown


_breaker = _Breaker()


async def cache_get(kv: KV, key: str) -> bytes | None:
    """``kv.get`` for a cache: None (a miss) when Redis is unreachable, never an error."""
    if not _breaker.closed():
        return None
    try:
        return await kv.get(key)
    except DomainError as exc:
        if exc.code != "service_unavailable":
            raise
        _breaker.trip()
        return None


async def cache_set(kv: KV, key: str, value: bytes, ttl: int) -> None:
    """``kv.set`` for a cache: skipped when Redis is unreachable."""
    if not _breaker.closed():
        return
    try:
        await kv.set(key, value, ttl)
    except DomainError as exc:
        if exc.code != "service_unavailable":
            raise
        _breaker.trip()


async def cache_delete(kv: KV, key: str) -> bool:
    """``kv.delete`` for a cache; False when Redis could not be reached (the entry may linger
    until its TTL, so cache TTLs stay short)."""
    try:
        await kv.delete(key)
    except DomainError as exc:
        if exc.code != "service_unavailable":
            raise
        _breaker.trip()
        return False
    return True


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
    """Redis pub/sub for live events that survives a Redis outage and restart.

    Litestar's ``RedisChannelsPubSubBackend`` lets one connection error end its publish
    and listen tasks for good (found by the fault suite: after Redis came back, no live
    event reached any subscriber until the process restarted), and a subscription made
    while Redis is away raised and left the channel marked as subscribed in the plugin,
    so it was never subscribed again. Here:

    * a publish that cannot reach Redis is dropped with a warning (the write it reports
      has committed; the live view lags);
    * a subscribe or unsubscribe that cannot reach Redis is remembered, and the listener
      subscribes the wanted channels again on a fresh pub/sub connection once Redis is
      back (it retries every second);
    * ``live`` says whether the last contact with Redis worked: the live streams tell the
      pages "live updates paused" from it.
    """
    # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.asyncio import Redis

    def unreachable(exc: BaseException) -> bool:
        # RuntimeError: redis-py's "pubsub connection not set" when the first subscribe never connected.
        return redis_unavailable(exc) or isinstance(exc, OSError | RuntimeError)

    class ResilientRedisChannels(RedisChannelsPubSubBackend):
        def __init__(self, *, redis: Redis) -> None:
            super().__init__(redis=redis)
            self.live = True
            self._wanted: set[str] = set()
            self._stale = False

        def _down(self, what: str) -> None:
            if self.live:
                log.warning(
                    "live events paused: redis unreachable (%s)", what, extra={"code": "event_stream_failed"}
                )
            self.live = False

        async def publish(self, data: bytes, channels: Iterable[str]) -> None:
            try:
                await super().publish(data, channels)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self._down("publish")
                log.warning("live event dropped: redis unreachable", extra={"code": "event_publish_failed"})

        async def subscribe(self, channels: Iterable[str]) -> None:
            wanted = set(channels)
            self._wanted |= wanted
            try:
                await super().subscribe(wanted)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self._down("subscribe")
                self._stale = True
                self._has_subscribed.set()  # the listener resubscribes when Redis is back

        async def unsubscribe(self, channels: Iterable[str]) -> None:
            gone = set(channels)
            self._wanted -= gone
            try:
                await super().unsubscribe(gone)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self._down("unsubscribe")
                self._stale = True

        async def _fresh_subscription(self) -> None:
            old = self._pub_sub
            # The parent keeps its PubSub in a name-mangled attribute; a new one starts clean.
            self._RedisChannelsPubSubBackend__pub_sub = None
            try:
                await old.aclose()
            except Exception as exc:
                if not unreachable(exc):
                    raise
            if self._wanted:
                await self._pub_sub.subscribe(*sorted(self._wanted))
            else:
                self._has_subscribed.clear()
            self._stale = False

        async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
            while True:
                await self._has_subscribed.wait()
                try:
                    if self._stale:
                        await self._fresh_subscription()
                        if not self._wanted:
                            continue
                    message = await self._pub_sub.get_message(
                        ignore_subscribe_messages=True, timeout=self._stream_sleep_no_subscriptions
                    )
                except Exception as exc:
                    if not unreachable(exc):
                        raise
                    self._down("listen")
                    self._stale = True
                    await asyncio.sleep(1)
                    continue
                if not self.live:
                    log.warning("live events resumed", extra={"code": "event_stream_resumed"})
                self.live = True
                if message is None:
                    continue
                channel: str = message["channel"].decode()
                # Unsubscribing is queued by Redis: skip a late message for a channel we left.
                if (
                    channel.encode()
                    in self._pub_sub.channels.keys() - self._pub_sub.pending_unsubscribe_channels
                ):
                    yield channel, message["data"]

    return ResilientRedisChannels(redis=Redis.from_url(redis_url, **client_options()))
