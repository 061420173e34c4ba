"""The cache bus (Redis lane): the app's listener evicts what another process publishes on
``canteen:cache``, and after its connection drops it reconnects and clears its caches (it may
have missed evictions meanwhile). The two-process version is tests/integration/test_cache_processes.py."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from canteen.core import cache
from canteen.menus import services as menus

pytestmark = pytest.mark.skipif(
    not os.environ.get("CANTEEN_REDIS_URL"), reason="Redis lane only (set CANTEEN_TEST_REDIS_URL)"
)


def _until(what: str, check: Callable[[], bool], bound: float = 10.0) -> None:
    """Poll ``check`` until true (a bound on the wait, not a timing)."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what} after {bound:.0f}s")


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["CANTEEN_REDIS_URL"])


def test_an_eviction_published_elsewhere_reaches_this_process_and_a_lost_link_clears(client: Any) -> None:
    _until("the cache bus to connect", lambda: cache.bus_state() == "connected")
    day = dt.date(2026, 12, 1)
    menus._SERVED.set((11, day, "lunch"), None)
    menus._SERVED.set((12, day, "lunch"), None)
    r = _redis()
    try:
        other = cache._Message(
            origin="another-process", name="menus", keys=[cache._token((11, day, "lunch")).decode()]
        )
        r.publish(cache.CHANNEL, msgspec.json.encode(other))
        _until("the published key to be evicted", lambda: not menus._SERVED.get((11, day, "lunch"))[0])
        assert menus._SERVED.get((12, day, "lunch")) == (True, None)  # only the key named

        # Drop the listener's connection: it comes back and clears (it may have missed messages).
        bus = cache._buses[0]
        before = bus.reconnects
        mine = [c for c in r.client_list() if c.get("name") == cache.LISTENER_NAME]
        assert mine, [c.get("name") for c in r.client_list()]
        for c in mine:
            r.client_kill_filter(_id=c["id"])
        _until("the listener to reconnect", lambda: bus.reconnects > before and bus.connected)
        _until("the caches to be cleared", lambda: not menus._SERVED.get((12, day, "lunch"))[0])
        print(f"\nbus after a dropped link: {cache.summary()}")
    finally:
        r.close()
