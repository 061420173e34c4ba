"""Two real ``canteen serve`` processes on one database and one Redis (PostgreSQL + Redis lane):
a menu or a policy changed through process A reaches process B's quotes within one second,
well inside the caches' TTLs (menus 15 s, policies 60 s), so the eviction travelled on the bus.
(The one-second poll is a functional bound, not a timing benchmark.)"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from canteen.core.clock import utcnow
from canteen.settings import get_settings
from tests.factories import World
from tests.fault.harness import Service
from tests.integration.checkin.test_counter import _counter

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("CANTEEN_REDIS_URL"), reason="needs Redis (CANTEEN_TEST_REDIS_URL)"
    ),
]


@pytest.fixture
def two(client: Any) -> Iterator[tuple[Service, Service]]:
    db_url, redis_url = os.environ["CANTEEN_DATABASE_URL"], os.environ["CANTEEN_REDIS_URL"]
    started: list[Service] = []
    try:
        for _ in range(2):
            svc = Service(db_url, redis_url, workers=1)
            started.append(svc)
            svc.start()
        yield started[0], started[1]
    finally:
        for svc in started:
            svc.stop()
            if svc.log is not None:
                svc.log.unlink(missing_ok=True)


def _within_one_second(check: Callable[[], Any]) -> tuple[Any, float]:
    """Poll until ``check()`` is truthy, for at most one second; (its last value, seconds)."""
    start = time.monotonic()
    while True:
        got = check()
        waited = time.monotonic() - start
        if got or waited > 1.0:
            return got, waited
        time.sleep(0.02)


def test_a_menu_and_a_policy_changed_on_one_process_reach_the_others_quotes_within_a_second(
    client: Any, world: World, run: Any, login: Any, two: tuple[Service, Service]
) -> None:
    a, b = two
    c = run(lambda: _counter(world, n_elders=1))
    admin = login("admin")
    site, elder = world.site_a, c.elders[0]
    day = utcnow().astimezone(get_settings().tz).date().isoformat()
    menu = client.get(f"/api/v1/sites/{site}/menus", params={"from": day, "to": day}, headers=admin).json()
    set_a = next(s for s in menu["items"][0]["sets"] if s["name"] == "套餐A")

    def quote_on_b() -> httpx.Response:
        body = {"elder_id": elder, "site_id": site, "slot": "lunch", "date": day, "meal_set_id": set_a["id"]}
        return httpx.post(b.base + "/api/v1/quotes", json=body, headers=admin, timeout=10)

    first, cached = quote_on_b(), quote_on_b()  # the second answer comes from B's caches
    assert first.status_code == cached.status_code == 200, first.text
    assert cached.json()["list_price_fen"] == 1500 and cached.json()["subsidy_fen"] > 0

    # The menu: a new price for the same set, written through A.
    new_sets = [{"name": "套餐A", "list_price_fen": 1800}, {"name": "软食套餐", "list_price_fen": 1200}]
    put = httpx.put(
        f"{a.base}/api/v1/sites/{site}/menus/{day}/lunch", json={"sets": new_sets}, headers=admin, timeout=10
    )
    assert put.status_code == 200, put.text
    got, waited = _within_one_second(lambda: quote_on_b().json().get("list_price_fen") == 1800)
    print(f"\nmenu changed on :{a.port}; :{b.port} quoted the new price after {waited:.2f}s")
    assert got, "process B still quotes the old menu price a second after the change"

    # The policy: retired through A; B stops subsidising.
    policies = client.get(f"/api/v1/districts/{world.district_x}/policies", headers=admin).json()["items"]
    live = next(p for p in policies if p["status"] == "published")
    assert quote_on_b().json()["subsidy_fen"] > 0
    retired = httpx.post(f"{a.base}/api/v1/policies/{live['id']}/retire", headers=admin, timeout=10)
    assert retired.status_code == 200, retired.text

    def unsubsidised() -> bool:
        r = quote_on_b()
        return r.status_code != 200 or r.json()["subsidy_fen"] == 0

    got, waited = _within_one_second(unsubsidised)
    last = quote_on_b()
    print(f"policy retired on :{a.port}; :{b.port} answered {last.status_code} after {waited:.2f}s")
    assert got, "process B still subsidises under the retired policy a second later"
