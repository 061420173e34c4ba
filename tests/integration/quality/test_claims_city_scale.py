"""Claim checks over a 40,000-elder district on PostgreSQL, through the job (issue #15).

The month is written by two INSERT … SELECT generate_series statements: 40,000 elders, ~360,000
lunches at two points over nine service days, served by 400 cashiers in an ordinary lunch rush
(one meal every 8 s each). Into it go a few constructed anomalies; the job must finish ``done``
and flag exactly them: no parameter limit, no month in memory, no rush mistaken for fraud.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from canteen.meals.tables import Meal
from canteen.quality import services as quality
from canteen.regions.tables import Site
from canteen.registry.tables import Elder

pytestmark = pytest.mark.postgres

N = 40_000
MONTH = "2026-10"
FIRST = dt.date(2026, 10, 1)
LUNCH = {"slot": "lunch", "start": "10:00", "end": "13:00", "cutoff": "09:00"}
TWICE = [101, 102, 103, 104, 105]  # the n-th elder also eats at the other point ten minutes later
DEAD = [301, 303, 305]  # recorded deceased on 10 October; subsidised meals after it


async def _month(w: Any) -> dict[str, Any]:
    await Site.update({Site.slots: [LUNCH], Site.meals_per_slot: 0}).where(
        Site.id.is_in([w.site_a, w.site_b])
    )
    await Elder.raw(
        "INSERT INTO elder (district, community, name, gender, birth_date, national_id_enc, "
        "national_id_masked, national_id_hash, id_last4, living_situation, status, created_at, updated_at) "
        "SELECT {}, {}, '老人' || g, 'female', DATE '1944-03-01', 'x', "
        "'3301**********' || lpad(g::text, 4, '0'), "
        "md5('claims' || g::text), lpad((g % 10000)::text, 4, '0'), 'alone', 'active', now(), now() "
        "FROM generate_series(1, {}) AS g",
        w.district_x,
        w.community_x,
        N,
    )
    first_id = int(
        (
            await Elder.select(Elder.id).where(Elder.community == w.community_x).order_by(Elder.id).first()
            or {}
        )["id"]
    )
    # The g-th elder (g = id - first_id + 1) eats lunch on days 3, 6 … 27 while g > 10·d: each
    # day's count differs (no identical counts); cashier 1000 + g % 400 serves one every 8 s.
    # One statement per service day (each well inside the pool's 30 s command timeout).
    for d in range(1, 10):
        await Elder.raw(
            "INSERT INTO meal (district, site, elder, service_date, slot, mode, served_at, list_price_fen, "
            "copay_fen, payment, cashier_id, operator) "
            "SELECT {}, CASE WHEN g % 2 = 0 THEN {}::int ELSE {}::int END, {}::int + g - 1, "
            "{}::date + (3 * d - 1), 'lunch', "
            "'dine_in', (({}::date + (3 * d - 1)) + TIME '11:00') AT TIME ZONE 'Asia/Shanghai' "
            "+ ((g / 400) * 8) * INTERVAL '1 second', 1500, 1500, 'cash', 1000 + g % 400, {}::int "
            "FROM generate_series(1, {}) AS g CROSS JOIN (SELECT {}::int AS d) AS day WHERE g > 10 * d",
            w.district_x,
            w.site_a,
            w.site_b,
            first_id,
            FIRST,
            FIRST,
            w.operator_x,
            N,
            d,
        )
    twice = [first_id + g - 1 for g in TWICE]
    dead = [first_id + g - 1 for g in DEAD]
    # The same card at the other point ten minutes later, on 3 October.
    await Elder.raw(
        "INSERT INTO meal (district, site, elder, service_date, slot, mode, served_at, list_price_fen, "
        "copay_fen, payment, operator) "
        "SELECT m.district, CASE WHEN m.site = {}::int THEN {}::int ELSE {}::int END, m.elder, "
        "m.service_date, 'lunch', "
        "'dine_in', m.served_at + INTERVAL '10 minutes', 1500, 1500, 'cash', m.operator FROM meal m "
        "WHERE m.elder = ANY({}::int[]) AND m.service_date = DATE '2026-10-03'",
        w.site_a,
        w.site_b,
        w.site_a,
        twice,
    )
    await Elder.raw(
        "UPDATE meal SET subsidised = true, subsidy_fen = 500, copay_fen = 1000 WHERE elder = ANY({}::int[])",
        dead,
    )
    await Elder.raw(
        "INSERT INTO elder_status_event (elder, status, at) "
        "SELECT e, 'deceased', TIMESTAMPTZ '2026-10-10 08:00+08' FROM unnest({}::int[]) AS e",
        dead,
    )
    # A burst: twelve walk-in meals two seconds apart by one cashier on 6 October.
    await Elder.raw(
        "INSERT INTO meal (district, site, service_date, slot, mode, served_at, list_price_fen, copay_fen, "
        "payment, cashier_id, operator) "
        "SELECT {}, {}, DATE '2026-10-06', 'lunch', 'dine_in', "
        "TIMESTAMPTZ '2026-10-06 11:30+08' + (2 * k) * INTERVAL '1 second', 1500, 1500, 'cash', 999, {} "
        "FROM generate_series(0, 11) AS k",
        w.district_x,
        w.site_a,
        w.operator_x,
    )
    return {"twice": twice, "dead": dead}


def test_claim_checks_of_a_forty_thousand_elder_district(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    made = run(lambda: _month(world))
    meals = run(lambda: Meal.count().where(Meal.district == world.district_x))
    assert meals > 350_000
    h = login("official_x")
    started = time.monotonic()
    r = client.post(f"/api/v1/districts/{world.district_x}/claim-checks", json={"month": MONTH}, headers=h)
    done = finish_job(r, h, timeout=600.0)
    took = time.monotonic() - started
    print(f"\nclaim checks over {meals} meals of {N} elders: {took:.1f} s, result {done['result']}")
    assert done["status"] == "done", done
    flags = run(lambda: quality.open_flags(world.district_x, MONTH))
    by_kind: dict[str, list[Any]] = {}
    for f in flags:
        by_kind.setdefault(f.kind, []).append(f)
    assert sorted(by_kind) == ["after_status", "fast_scans", "two_points"], {
        k: len(v) for k, v in by_kind.items()
    }
    assert sorted(f.elder_id for f in by_kind["two_points"]) == made["twice"]
    assert all(len(f.meal_ids) == 2 for f in by_kind["two_points"])
    assert sorted(f.elder_id for f in by_kind["after_status"]) == made["dead"]
    # Meals on days 12, 15 … 27 (after 10 October): six each.
    assert all(len(f.meal_ids) == 6 for f in by_kind["after_status"])
    [burst] = by_kind["fast_scans"]  # the 400 cashiers' rush is not flagged
    assert len(burst.meal_ids) == 12
    assert done["result"]["open"] == len(flags) == 9
    # A second run through the job finds the same and adds nothing.
    again = finish_job(
        client.post(f"/api/v1/districts/{world.district_x}/claim-checks", json={"month": MONTH}, headers=h),
        h,
        timeout=600.0,
    )
    assert again["status"] == "done" and again["result"]["new_flags"] == 0 and again["result"]["open"] == 9
