"""The one rate limiter: every limit and lockout counter of the service goes through here.

Built on the ``limits`` library's async API: its Redis storage when ``CANTEEN_REDIS_URL`` is
set (counters shared by every process), its memory storage otherwise (one process). The
strategy is a fixed window whose ``hit()`` is one atomic increment-then-compare (a Lua script
on Redis, a per-key lock in memory), so N simultaneous guesses are N increments and only the
first ``amount`` of them get through: a limit is never checked first and counted later.

Callers name a :class:`Limit` (what, how many, how long) and a key (an account, a client
address, a card number); :meth:`Limiter.attempt` hits them in order and refuses with
``too_many_attempts`` (429, ``retry_after_seconds``) at the first that is spent. A sign-in that
succeeds gives its attempt back (:meth:`Attempt.succeeded`), so the counters count failures.

When the store cannot be reached the limiter fails closed: ``service_unavailable`` (503 with
``Retry-After``), never a silent pass. The durable lockout of an elder's PIN is not here but
in the database (``canteen.registry.pin_lockout``); this limiter adds the per-address limits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from canteen.core.errors import DomainError

log = logging.getLogger("canteen.ratelimit")

KEY_PREFIX = "canteen:limits"
# How long a client waits before retrying when the limiter's store is away (Redis restarting).
STORE_DOWN_RETRY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` attempts per ``seconds`` (a fixed window from the first attempt), for each key."""

    name: str
    amount: int
    seconds: int

    @property
    def item(self) -> RateLimitItemPerSecond:
        return _item(self.name, self.amount, self.seconds)


_ITEMS: dict[tuple[str, int, int], RateLimitItemPerSecond] = {}


def _item(name: str, amount: int, seconds: int) -> RateLimitItemPerSecond:
    key = (name, amount, seconds)
    item = _ITEMS.get(key)
    if item is None:
        item = _ITEMS[key] = RateLimitItemPerSecond(amount, seconds, namespace=name)
    return item


def progressive(name: str, amount: int, seconds: int) -> tuple[Limit, ...]:
    """A lockout that lengthens: ``amount`` per window, twice that per 4 windows, four times
    per 96 windows (with the defaults 5 per 15 minutes, 10 per hour, 20 per day)."""
    return (
        Limit(f"{name}:1", amount, seconds),
        Limit(f"{name}:2", amount * 2, seconds * 4),
        Limit(f"{name}:3", amount * 4, seconds * 96),
    )


# Look-ups that need no secret: volume limits (every request counts, nothing is given back).
CARD_LOOKUP_PER_ACCOUNT = Limit("card_lookup:account", 60, 60)
CARD_LOOKUP_PER_ADDRESS = Limit("card_lookup:address", 120, 60)
QUOTES_PER_ACCOUNT = Limit("quotes:account", 120, 60)
QUOTES_PER_ADDRESS = Limit("quotes:address", 300, 60)


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, StorageError | ConnectionError | TimeoutError | OSError):
        return True
    try:  # redis is imported only when CANTEEN_REDIS_URL is set
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


def _store_down(exc: BaseException) -> DomainError:
    log.warning("rate limiter store unreachable: refusing", extra={"code": "ratelimit_store_down"})
    return DomainError(
        "service_unavailable", {"reason": "rate_limiter", "retry_after_seconds": STORE_DOWN_RETRY_SECONDS}
    )


@dataclass
class Attempt:
    """The hits of one attempt; ``succeeded()`` gives them back (and clears ``clear_on_success``)."""

    limiter: Limiter
    hits: list[tuple[Limit, str]]
    clear_on_success: list[tuple[Limit, str]] = field(default_factory=list)

    async def succeeded(self) -> None:
        # Best effort: the sign-in has succeeded, a store hiccup now must not refuse it.
        try:
            for limit, key in self.clear_on_success:
                await self.limiter.clear(limit, key)
            cleared = set(self.clear_on_success)
            for limit, key in self.hits:
                if (limit, key) not in cleared:
                    await self.limiter.refund(limit, key)
        except DomainError:
            log.warning("rate limiter store unreachable: attempt not given back")


class Limiter:
    """Atomic counters on Redis (shared) or in memory (one process)."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._pool: Any = None
        self.storage: Storage
        if redis_url:
            # redis is imported only when CANTEEN_REDIS_URL is set; without it nothing loads it.
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            # Short timeouts (an error quickly, not a stalled sign-in) and one retry on a
            # connection error: after a Redis restart a pooled connection is stale, and the
            # retry reconnects instead of refusing the request.
            self._pool = aioredis.ConnectionPool.from_url(
                redis_url,
                socket_timeout=2,
                socket_connect_timeout=2,
                health_check_interval=10,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
            self.storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                connection_pool=self._pool,
            )
            self.backend = "redis"
        else:
            self.storage = MemoryStorage(wrap_exceptions=True)
            self.backend = "memory"
        self.strategy = FixedWindowRateLimiter(self.storage)

    async def _retry_after(self, limit: Limit, key: str) -> int:
        stats = await self.strategy.get_window_stats(limit.item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def hit(self, limit: Limit, key: str) -> int:
        """Count one attempt against ``limit`` for ``key``; the attempts left, or ``too_many_attempts``."""
        await self.attempt([(limit, key)])
        return await self.remaining(limit, key)

    async def attempt(
        self, hits: Iterable[tuple[Limit, str]], *, clear_on_success: Sequence[tuple[Limit, str]] = ()
    ) -> Attempt:
        """Count one attempt against each (limit, key) in order; refuse at the first that is spent.

        Each limit counts the attempts that got past the ones before it: a refused attempt is
        counted where it was refused (so a burst cannot slip between a check and a count) but
        not by the limits after it, so one burst against a progressive lockout spends its first
        window, not the day's.
        """
        done: list[tuple[Limit, str]] = []
        try:
            for limit, key in hits:
                passed = await self.strategy.hit(limit.item, key)
                done.append((limit, key))
                if not passed:
                    raise DomainError(
                        "too_many_attempts",
                        {
                            "retry_after_seconds": await self._retry_after(limit, key),
                            "limit": limit.name.split(":")[0],
                        },
                    )
        except DomainError:
            raise
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise
        return Attempt(self, done, list(clear_on_success))

    async def remaining(self, limit: Limit, key: str) -> int:
        try:
            return int((await self.strategy.get_window_stats(limit.item, key)).remaining)
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise

    async def retry_after(self, limit: Limit, key: str) -> int:
        """Seconds until ``limit``'s window for ``key`` ends."""
        try:
            return await self._retry_after(limit, key)
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise

    async def refund(self, limit: Limit, key: str) -> None:
        """Give one attempt back (never below zero)."""
        item = limit.item
        k = item.key_for(key)
        try:
            if await self.storage.get(k) > 0:
                await self.storage.incr(k, item.get_expiry(), amount=-1)
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise

    async def clear(self, limit: Limit, key: str) -> None:
        """Forget every attempt of ``key`` against ``limit`` (a success, an admin's unlock)."""
        try:
            await self.strategy.clear(limit.item, key)
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise

    async def locked(self, limits: Iterable[Limit], key: str) -> bool:
        """True when any of ``limits`` is spent for ``key`` (read-only)."""
        try:
            for limit in limits:
                if not await self.strategy.test(limit.item, key):
                    return True
            return False
        except Exception as exc:
            if _unavailable(exc):
                raise _store_down(exc) from exc
            raise

    async def ping(self) -> None:
        if not await self.storage.check():
            raise _store_down(ConnectionError("rate limiter store unreachable"))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def make_limiter(redis_url: str | None) -> Limiter:
    return Limiter(redis_url)
