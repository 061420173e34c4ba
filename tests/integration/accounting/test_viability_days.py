"""Viability by day adds up to the month, to the fen, for every point and every kind of subsidy.

A September of mixed random meals at sites A and B (test_accounting), elder meals at site A that
earn per-meal and per-diner operating subsidies (test_operating_kinds), a construction grant spread
over three years, and costs for site A only (site B's days carry no cost and no margin).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.accounting.kpis import viability_days, viability_report
from canteen.accounting.tables import OperatingSubsidyRule, SiteMonthCost
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals import rollups
from tests.factories import World
from tests.integration.accounting.test_accounting import _meals
from tests.integration.accounting.test_operating_kinds import _month

SEPT = dt.date(2026, 9, 1)


async def _setup(w: World, food: int, labour: int, other_income: int) -> None:
    await _meals(w, SEPT, 30)
    await _month(w)  # elder meals, per_meal + per_diner_day + monthly rules; rolls up September
    await rollups.rollup_range(w.district_x, SEPT, dt.date(2026, 9, 30))
    await OperatingSubsidyRule.insert(
        OperatingSubsidyRule(
            district=w.district_x,
            site=w.site_a,
            kind="construction_spread",
            amount_fen=360_001,
            years=3,
            effective_from="2026-01",
            source="city",
            created_at=utcnow(),
        )
    )
    await SiteMonthCost.insert(
        SiteMonthCost(
            site=w.site_a,
            district=w.district_x,
            month="2026-09",
            food_fen=food,
            labour_fen=labour,
            rent_fen=100_003,
            utilities_fen=20_000,
            depreciation_fen=10_000,
            delivery_fen=5_001,
            other_fen=1_000,
            other_income_fen=other_income,
            updated_at=utcnow(),
        )
    )


def _check(world: World, run: Any, who: str) -> None:
    actor = run(lambda: load_principal(world.users[who]))
    month = run(lambda: viability_report(actor, world.district_x, "2026-09"))
    days = run(lambda: viability_days(actor, world.district_x, "2026-09"))
    assert days.days
    for p in month.points:
        mine = [d for d in days.days if d.site_id == p.site_id]
        assert len(mine) == p.serving_days
        assert sum(d.meals for d in mine) == p.meals
        assert sum(d.subsidised_meals for d in mine) == p.subsidised_meals
        assert sum(d.income_fen for d in mine) == p.income_fen
        assert sum(d.operating_subsidy_fen for d in mine) == p.operating_subsidy_fen
        if p.costs_entered:
            assert sum(d.cost_fen or 0 for d in mine) == p.cost_fen
            assert sum(d.margin_fen or 0 for d in mine) == p.margin_fen
        else:
            assert all(d.cost_fen is None and d.margin_fen is None for d in mine)


def test_the_days_add_up_to_the_month(world: World, run: Any) -> None:
    run(lambda: _setup(world, 200_001, 300_007, 7_003))
    _check(world, run, "official_x")
    # The operator sees its own point only, with the same figures.
    operator = run(lambda: load_principal(world.users["operator_a"]))
    own = run(lambda: viability_days(operator, world.district_x, "2026-09"))
    assert {d.site_id for d in own.days} == {world.site_a}


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(food=st.integers(0, 900_000), labour=st.integers(0, 900_000), other=st.integers(0, 90_000))
def test_any_costs_spread_without_losing_a_fen(
    world: World, run: Any, food: int, labour: int, other: int
) -> None:
    async def reset() -> None:
        await SiteMonthCost.update(
            {
                SiteMonthCost.food_fen: food,
                SiteMonthCost.labour_fen: labour,
                SiteMonthCost.other_income_fen: other,
            }
        ).where(SiteMonthCost.site == world.site_a)

    if not run(lambda: SiteMonthCost.count()):
        run(lambda: _setup(world, food, labour, other))
    run(reset)
    _check(world, run, "official_x")


def test_the_days_api_and_page(client: Any, world: World, run: Any, login: Any) -> None:
    from tests.integration.accounts.test_auth import _page_login

    run(lambda: _setup(world, 200_000, 300_000, 0))
    official = login("official_x")
    r = client.get(
        f"/api/v1/districts/{world.district_x}/viability/days",
        params={"month": "2026-09", "site_id": world.site_a},
        headers=official,
    )
    assert r.status_code == 200, r.text
    assert {d["site_id"] for d in r.json()["days"]} == {world.site_a}
    other = login("official_y")
    r = client.get(
        f"/api/v1/districts/{world.district_x}/viability/days", params={"month": "2026-09"}, headers=other
    )
    assert r.status_code in (403, 404)
    _page_login(client, "official_x")
    page = client.get(
        f"/accounting/viability/days?district_id={world.district_x}&month=2026-09&site_id={world.site_b}"
    )
    assert page.status_code == 200
    assert "9月1日" in page.text and "成本未填报" in page.text and "2026-09-01" not in page.text
