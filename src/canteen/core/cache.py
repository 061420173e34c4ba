"""Small per-process caches for rows read on every scan and changed rarely (a site's serving
hours, a day's menu, the policy in force).

Each named cache is bounded (least recently used entries go first, one at a time, when it is
full) and each entry lives ``ttl`` seconds. A writer calls ``await invalidate(name, *keys)``
after its commit: the keys (or, with none, the whole cache) are evicted in this process at
once and, with Redis configured, published on ``canteen:cache`` so that every other process
evicts them too, within a moment. Every process runs :func:`listener` (the web app in its
lifespan, ``canteen worker`` beside its worker); a listener that loses Redis clears its caches
when it is back (it may have missed messages), and while it is away the TTL is the bound.

Nothing that money depends on is decided from a cache: portions, balances and the one-subsidy
rule are decided by the database in the write transaction, so a late eviction shows an old
price or menu for a moment, never a wrong balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cachetools
import msgspec

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CHANNEL = "canteen:cache"
log = logging.getLogger("canteen.cache")

_BY_NAME: dict[str, TTLCache[Any, Any]] = {}
_MISSING = object()


def _token(key: Hashable) -> bytes:
    """A key's canonical bytes: the same in every process, so a published eviction names it.
    Keys are ints, strings, dates and tuples of them (msgspec encodes each one way only)."""
    return msgspec.json.encode(key)


class _Entries(cachetools.TTLCache[bytes, Any]):
    """cachetools' LRU + TTL, counting the entries pushed out because the cache was full."""

    evictions = 0

    def popitem(self) -> tuple[bytes, Any]:
        item = super().popitem()
        self.evictions += 1
        return item


@dataclass
class CacheStats:
    name: str
    size: int
    maxsize: int
    ttl: float
    hits: int
    misses: int
    evictions: int  # pushed out by the bound (least recently used first)
    invalidations: int  # keys (or whole clears) evicted by writers, here or in another process

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class TTLCache(Generic[K, V]):
    """One named, bounded cache: ``get`` → ``(hit, value)`` (a cached None is a hit), ``set``,
    ``invalidate(key)``, ``clear``. Names are unique per process: the bus finds caches by name."""

    def __init__(
        self, name: str, ttl: float, maxsize: int = 4096, *, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if name in _BY_NAME:
            raise ValueError(f"cache {name!r} exists already")
        self.name = name
        self.ttl = ttl
        self.maxsize = maxsize
        self._data = _Entries(maxsize=maxsize, ttl=ttl, timer=timer)
        # The web app's loop is the only user in production; tests may touch a cache from the
        # main thread while an app's portal thread runs. cachetools is not thread-safe.
        self._lock = threading.Lock()
        self.hits = self.misses = self.invalidations = 0
        _BY_NAME[name] = self

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) on a fresh hit, (False, None) otherwise."""
        with self._lock:
            value = self._data.get(_token(key), _MISSING)
        if value is _MISSING:
            self.misses += 1
            return False, None
        self.hits += 1
        return True, value

    def set(self, key: K, value: V) -> None:
        with self._lock:
            self._data[_token(key)] = value

    def invalidate(self, key: K) -> None:
        """Evict one key in this process only (see the module's :func:`invalidate` for all)."""
        self._evict([_token(key)])

    def _evict(self, tokens: list[bytes]) -> None:
        with self._lock:
            for t in tokens:
                self._data.pop(t, None)
        self.invalidations += len(tokens)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            self._data.expire()
            size = len(self._data)
        return CacheStats(
            self.name,
            size,
            self.maxsize,
            self.ttl,
            self.hits,
            self.misses,
            self._data.evictions,
            self.invalidations,
        )


def clear_all() -> None:
    """Forget every cached row in this process (tests that empty the tables call it)."""
    for cache in _BY_NAME.values():
        cache.clear()


def stats() -> dict[str, CacheStats]:
    """Hits, misses, evictions and size of every named cache of this process."""
    return {name: cache.stats() for name, cache in sorted(_BY_NAME.items())}


def summary() -> str:
    """One line for a log or a probe: ``menus 812/32768 hit 97.1% …; bus connected``."""
    parts = []
    for s in stats().values():
        ratio = "-" if s.hit_ratio is None else f"{s.hit_ratio:.1%}"
        parts.append(f"{s.name} {s.size}/{s.maxsize} hit {ratio} evicted {s.evictions}")
    return "; ".join(parts) + f"; bus {bus_state()}"


# --- across processes ------------------------------------------------------------------------


class _Message(msgspec.Struct, frozen=True):
    origin: str  # the publishing process: it evicted already
    name: str
    keys: list[str] | None  # key tokens; None: the whole cache


_ORIGIN = uuid.uuid4().hex
LISTENER_NAME = f"canteen-cache-{_ORIGIN[:12]}"


class _Bus:
    """One process's Redis link for evictions: a publisher client and the listener's state."""

    def __init__(self, redis_url: str) -> None:
        # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
        import redis.asyncio as aioredis

        from canteen.core.kv import client_options

        self.url = redis_url
        self.client = aioredis.Redis.from_url(redis_url, **client_options())
        self.loop = asyncio.get_running_loop()
        self.connected = False
        self.received = 0
        self.reconnects = 0
        self.publish_failures = 0
        self.stopping = False

    async def publish(self, message: _Message) -> None:
        try:
            await asyncio.wait_for(self.client.publish(CHANNEL, msgspec.json.encode(message)), 2.0)
        except Exception as exc:  # Redis away: the other processes fall back on the TTL
            self.publish_failures += 1
            log.warning(
                "cache eviction not published: %s", type(exc).__name__, extra={"code": "cache_publish_failed"}
            )

    async def listen(self) -> None:
        """Subscribe, clear the caches (anything missed before now is gone), evict what comes;
        on any connection failure wait a moment and do it all again, for ever."""
        # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
        import redis.asyncio as aioredis
        from redis.asyncio.client import PubSub

        from canteen.core.kv import client_options

        class Watched(PubSub):
            """redis-py reconnects a dropped pub/sub link and subscribes again by itself, in
            silence: whatever was published in between is lost. Note it, so the caches go."""

            reconnected = False

            async def on_connect(self, connection: Any) -> None:
                await super().on_connect(connection)
                self.reconnected = True

        backoff = 0.2
        # A cancel landing inside redis-py's read timeout can come out as a TimeoutError (the
        # timeout context swallows it), which the loop below would take for a lost link and go
        # on for ever: the flag, set before the cancel, ends it whatever the cancel became.
        while not self.stopping:
            # Named, so an operator (and a test) can find this process's link in CLIENT LIST.
            client = aioredis.Redis.from_url(self.url, client_name=LISTENER_NAME, **client_options())
            pubsub = Watched(client.connection_pool)
            try:
                await pubsub.subscribe(CHANNEL)
                # The subscription is confirmed by its first message; only then is nothing missed.
                while await pubsub.get_message(timeout=1.0) is None:
                    if self.stopping:
                        return
                self._resumed()
                backoff = 0.2
                while not self.stopping:
                    raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if pubsub.reconnected:
                        pubsub.reconnected = False
                        self.reconnects += 1
                        self._resumed()
                    if raw is not None:
                        self._apply(raw.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the link: reconnect (and clear) after a pause
                if self.stopping:
                    return
                if self.connected:
                    log.warning(
                        "cache bus lost (%s): caches fall back on their TTL until it is back",
                        type(exc).__name__,
                        extra={"code": "cache_bus_lost"},
                    )
                self.connected = False
                self.reconnects += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                # Bounded: closing a pub/sub whose read was cancelled mid-way can wait for ever
                # (seen in CI: an app's shutdown hung on it), and shutdown must not.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(client.aclose(), 1.0)

    def _resumed(self) -> None:
        """Subscribed (again): drop everything cached, since evictions may have been missed."""
        clear_all()
        if self.reconnects:
            log.warning("cache bus (re)subscribed: caches cleared", extra={"code": "cache_bus_resumed"})
        self.connected = True

    def _apply(self, data: Any) -> None:
        try:
            message = msgspec.json.decode(data, type=_Message)
        except (msgspec.DecodeError, TypeError):
            log.warning("cache bus: unreadable message dropped", extra={"code": "cache_message_invalid"})
            return
        self.received += 1
        if message.origin == _ORIGIN:
            return
        cache = _BY_NAME.get(message.name)
        if cache is None:
            return
        if message.keys is None:
            cache.clear()
            cache.invalidations += 1
        else:
            cache._evict([k.encode() for k in message.keys])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()


_buses: list[_Bus] = []


def bus_state() -> str:
    if not _buses:
        return "off (one process: local evictions only)"
    return "connected" if any(b.connected for b in _buses) else "reconnecting"


@contextlib.asynccontextmanager
async def listener(redis_url: str | None) -> AsyncIterator[None]:
    """Run this process's eviction listener (and publisher) while the block runs; a no-op
    without Redis (one process: writers evict locally, which is all there is)."""
    if not redis_url:
        yield
        return
    bus = _Bus(redis_url)
    task = asyncio.create_task(bus.listen(), name="canteen-cache-bus")
    _buses.append(bus)
    try:
        yield
    finally:
        _buses.remove(bus)
        bus.stopping = True
        task.cancel()
        # Never wait for ever on the way out (the listener's Redis link may be stuck).
        await asyncio.wait({task}, timeout=3.0)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(bus.close(), 2.0)


async def invalidate(name: str, *keys: Hashable) -> None:
    """Evict ``keys`` of cache ``name`` (every entry when no key is given) here and in every
    other process. Call it after the write's commit. Never fails the write: when Redis cannot
    be reached the other processes see the change within the cache's TTL."""
    cache = _BY_NAME.get(name)  # None: its module is not loaded here (other processes may hold it)
    tokens = [_token(k) for k in keys]
    if cache is not None and keys:
        cache._evict(tokens)
    elif cache is not None:
        cache.clear()
        cache.invalidations += 1
    if not _buses:
        return
    message = _Message(_ORIGIN, name, [t.decode() for t in tokens] if keys else None)
    loop = asyncio.get_running_loop()
    here = [b for b in _buses if b.loop is loop]
    if here:
        await here[0].publish(message)
    else:  # a caller on another loop (a test thread): hand it to the bus's own loop
        bus = _buses[0]
        asyncio.run_coroutine_threadsafe(bus.publish(message), bus.loop)
