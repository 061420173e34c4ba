"""The per-process caches: bounded with per-key eviction (least recently used first), a TTL per
entry, hit/miss counters per named cache, and local eviction by key when no bus runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from canteen.core import cache
from canteen.core.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def test_a_full_cache_drops_its_least_recently_used_entry_not_everything() -> None:
    c: TTLCache[int, str] = TTLCache(_name(), ttl=60, maxsize=3)
    for i in range(3):
        c.set(i, f"site {i}")
    assert c.get(0) == (True, "site 0")  # 0 is now the most recently used; 1 the least
    c.set(3, "site 3")
    assert c.get(1) == (False, None)
    assert [c.get(i)[0] for i in (0, 2, 3)] == [True, True, True]
    s = c.stats()
    assert (s.size, s.maxsize, s.evictions) == (3, 3, 1)


def test_entries_expire_after_their_ttl_and_a_cached_none_is_a_hit() -> None:
    clock = Clock()
    c: TTLCache[tuple[int, dt.date, str], str | None] = TTLCache(_name(), ttl=15, timer=clock)
    key = (7, dt.date(2026, 12, 1), "lunch")
    c.set(key, None)  # "no menu" is an answer worth keeping too
    assert c.get(key) == (True, None)
    clock.now += 14.9
    assert c.get(key) == (True, None)
    clock.now += 0.2
    assert c.get(key) == (False, None)
    s = c.stats()
    assert (s.hits, s.misses, s.hit_ratio) == (2, 1, 2 / 3)


def test_invalidate_evicts_one_key_and_the_names_count_separately() -> None:
    a: TTLCache[tuple[int, dt.date], int] = TTLCache(_name(), ttl=60)
    b: TTLCache[int, int] = TTLCache(_name(), ttl=60)
    day = dt.date(2026, 12, 1)
    a.set((1, day), 10)
    a.set((2, day), 20)
    b.set(1, 30)
    # Without a bus (no Redis) the module's invalidate is a local eviction: one process.
    asyncio.run(cache.invalidate(a.name, (1, day)))
    assert a.get((1, day)) == (False, None) and a.get((2, day)) == (True, 20)
    assert b.get(1) == (True, 30)
    asyncio.run(cache.invalidate(a.name))  # no key: the whole cache
    assert a.get((2, day)) == (False, None)
    stats = cache.stats()
    assert stats[a.name].invalidations == 2 and stats[b.name].invalidations == 0
    assert stats[b.name].hits == 1
    assert a.name in cache.summary() and "bus off" in cache.summary()


def test_the_city_sizes() -> None:
    # 1,500 points x 3 slots = 4,500 menus a day, plus the days ahead delivery orders price.
    from canteen.menus import services as menus
    from canteen.regions import lookup
    from canteen.subsidies import services as subsidies

    stats = cache.stats()
    assert stats["menus"].maxsize >= 20_000
    assert stats["sites"].maxsize >= 1_500 * 2
    assert {"menus", "sites", "policies", "cities", "meal_types"} <= set(stats)
    assert menus._SERVED.name == "menus" and lookup._SITES.name == "sites"
    assert subsidies._CACHE.name == "policies"


def test_two_caches_may_not_share_a_name() -> None:
    name = _name()
    TTLCache(name, ttl=1)
    with pytest.raises(ValueError):
        TTLCache(name, ttl=1)
