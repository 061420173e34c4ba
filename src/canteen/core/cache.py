"""Small per-process caches for rows read on every scan and changed rarely (a site's serving
hours, a day's menu, the policy in force). Each entry lives ``ttl`` seconds; writers in this
process clear the cache at once, other processes see a change within ``ttl``. Nothing that
money depends on is decided from a cache: portions, balances and the one-subsidy rule are
decided by the database in the write transaction."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ALL: list[TTLCache[Any, Any]] = []


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float, max_items: int = 4096) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._data: dict[K, tuple[float, V]] = {}
        _ALL.append(self)

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) on a fresh hit, (False, None) otherwise."""
        hit = self._data.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def set(self, key: K, value: V) -> None:
        if len(self._data) >= self.max_items:
            self._data.clear()
        self._data[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self._data.clear()


def clear_all() -> None:
    """Forget every cached row in this process (tests that empty the tables call it)."""
    for cache in _ALL:
        cache.clear()
