"""The live "today" numbers: the district's live view sums the day's rollup rows (kept by each
meal's own write, a void taking its meal away), the site's tally sums its meals in the database;
after check-ins, walk-ins and voids at several points both equal a count over the meals."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from canteen.core.clock import utcnow
from canteen.meals.tables import DailyRollup, Meal
from canteen.settings import get_settings
from tests.factories import World
from tests.integration.checkin.test_counter import _counter, _scan


def test_after_check_ins_walk_ins_and_voids_the_live_views_equal_a_count_over_meals(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=7))
    cashier = login("cashier_all")
    served: list[int] = []
    for i, elder in enumerate(c.elders):
        r = _scan(client, cashier, c.sites[i % 3], c.cards[elder])
        assert r.status_code == 201, r.text
        served.append(r.json()["meal_id"])
    again = _scan(client, cashier, c.sites[1], c.cards[c.elders[0]])  # a second lunch: no subsidy
    assert again.status_code in (201, 409), again.text
    for site in (c.sites[0], c.sites[2]):
        walk = client.post(
            "/api/v1/walk-ins",
            json={"site_id": site, "slot": "lunch"},
            headers={**cashier, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert walk.status_code == 201, walk.text
    for meal_id in (served[0], served[4]):
        void = client.post(f"/api/v1/meals/{meal_id}/void", json={"reason": "扫错了卡"}, headers=cashier)
        assert void.status_code == 200, void.text

    today = utcnow().astimezone(get_settings().tz).date()
    meals = run(
        lambda: Meal.select(
            Meal.site, Meal.slot, Meal.elder, Meal.subsidised, Meal.voided_at, Meal.copay_fen, Meal.payment
        ).where((Meal.district == world.district_x) & (Meal.service_date == today))
    )
    live = [m for m in meals if m["voided_at"] is None]
    assert len(live) >= 7 and len(meals) - len(live) == 2  # the test really sold and voided

    view = client.get(f"/api/v1/districts/{world.district_x}/today", headers=login("official_x"))
    assert view.status_code == 200, view.text
    body = view.json()
    by_site = {s["site_id"]: s for s in body["items"]}
    per_site = Counter(m["site"] for m in live)
    subsidised = Counter(m["site"] for m in live if m["subsidised"])
    print(f"\nmeals today {len(meals)} ({len(meals) - len(live)} voided); live view {body['meals']}")
    assert body["meals"] == len(live)
    for site in c.sites:
        assert by_site[site]["meals"] == per_site[site]
        assert by_site[site]["subsidised"] == subsidised[site]
        assert by_site[site]["by_slot"] == ({"lunch": per_site[site]} if per_site[site] else {})
    # The view reads the rollups: they hold exactly the live meals.
    rolled = run(
        lambda: DailyRollup.select(DailyRollup.meals).where(
            (DailyRollup.district == world.district_x)
            & (DailyRollup.service_date == today)
            & (DailyRollup.source == "")
        )
    )
    assert sum(r["meals"] for r in rolled) == len(live)

    for site in c.sites:
        at = [m for m in meals if m["site"] == site]
        kept = [m for m in at if m["voided_at"] is None]
        t = client.get(f"/api/v1/sites/{site}/tally", headers=cashier)
        assert t.status_code == 200, t.text
        tally = t.json()
        assert tally["meals"] == len(kept)
        assert tally["voided"] == len(at) - len(kept)
        assert tally["walk_ins"] == sum(1 for m in kept if m["elder"] is None)
        assert tally["subsidised"] == sum(1 for m in kept if m["subsidised"])
        assert tally["copay_fen"] == sum(m["copay_fen"] for m in kept)
        assert tally["cash_fen"] == sum(m["copay_fen"] for m in kept if m["payment"] == "cash")
        assert tally["balance_fen"] == sum(m["copay_fen"] for m in kept if m["payment"] == "balance")
        assert tally["by_slot"] == ({"lunch": len(kept)} if kept else {})

    # The page's live table shows the same total.
    page = client.get(f"/official/districts/{world.district_x}/today/table", headers=login("official_x"))
    assert page.status_code == 200 and f"<td>{len(live)}</td>" in page.text
