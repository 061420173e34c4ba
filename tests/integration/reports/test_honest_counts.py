"""Counts that mean what they say, defaults that make sense (issue #16, officials):

- a delivery meal ordered for tomorrow is not counted today — not on the dashboard, the public
  page, the accounting KPIs nor the spending against budget;
- the dashboard, the viability page and the public page open on the last complete month;
- the by-category table and its export follow the chosen month;
- grades are given only where costs exist, and are defined on the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from canteen.accounting import kpis
from canteen.accounting.tables import SiteMonthCost
from canteen.core.clock import utcnow
from canteen.core.periods import last_complete_month
from canteen.meals.rollups import rollup_range
from canteen.meals.tables import Meal
from canteen.registry.services import today_of
from canteen.reports import services as reports
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import add_meal, official
from tests.integration.test_admin_pages import page_login

TODAY = dt.date(2026, 10, 15)


async def _served_and_ordered(w: Any) -> None:
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    await add_meal(w, site=w.site_a, elder=elder, day=TODAY - dt.timedelta(days=1), subsidy_fen=500)
    ordered = await add_meal(w, site=w.site_a, elder=elder, day=TODAY + dt.timedelta(days=1), subsidy_fen=300)
    # As orders.place_order writes it: a delivery meal recorded when it is placed, for tomorrow.
    await Meal.update({Meal.mode: "delivery"}).where(Meal.id == ordered)
    await rollup_range(w.district_x, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1))


def test_meals_ordered_for_tomorrow_are_not_counted(world: Any, run: Any) -> None:
    run(lambda: _served_and_ordered(world))
    who = official(world)
    d = world.district_x

    overview = run(lambda: reports.month_overview(who, d, "2026-10", today=TODAY))
    assert overview.meals == 1 and overview.subsidy_fen == 500
    public = run(lambda: reports.public_district("330105", "2026-10", TODAY))
    assert public.meals == 1 and public.subsidy_fen == 500
    base = run(lambda: kpis.month_base(d, "2026-10", today=TODAY))
    assert base[world.site_a].meals == 1 and base[world.site_a].serving_days == 1
    spend = run(lambda: kpis.spending_vs_budget(who, d, 2026, today=TODAY))
    assert sum(c.fen for c in spend.cells if c.category != "operating") == 500

    # Once the day is over and the meal delivered, it counts.
    later = TODAY + dt.timedelta(days=5)
    assert run(lambda: reports.month_overview(who, d, "2026-10", today=later)).meals == 2
    assert run(lambda: kpis.month_base(d, "2026-10", today=later))[world.site_a].meals == 2
    spend = run(lambda: kpis.spending_vs_budget(who, d, 2026, today=dt.date(2026, 11, 2)))
    assert sum(c.fen for c in spend.cells if c.category != "operating") == 800


def test_pages_open_on_the_last_complete_month(client: Any, world: Any) -> None:
    expected = last_complete_month(today_of(utcnow()))
    page_login(client, "official_x")
    r = client.get(f"/official/districts/{world.district_x}/dashboard")
    assert r.status_code == 200
    assert f"· {expected}</h1>" in r.text
    assert "评级说明" in r.text  # the grades are defined where they are shown
    r = client.get("/accounting/viability")
    assert r.status_code == 200 and expected in r.text
    r = client.get("/public/districts/330105")
    assert f'<option value="{expected}" selected>' in r.text


async def _two_months(w: Any) -> None:
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    await add_meal(w, site=w.site_a, elder=elder, day=dt.date(2026, 9, 10), subsidy_fen=700)
    await add_meal(w, site=w.site_a, elder=elder, day=dt.date(2026, 10, 10), subsidy_fen=400)
    await rollup_range(w.district_x, dt.date(2026, 9, 10), dt.date(2026, 10, 10))


def test_category_table_and_export_follow_the_month(client: Any, world: Any, run: Any) -> None:
    run(lambda: _two_months(world))
    page_login(client, "official_x")
    base = f"/official/districts/{world.district_x}/dashboard"
    r = client.get(base + "/export?table=categories&fmt=csv&month=2026-10")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    meal_rows = [row for row in rows[1:] if row and row[1] == "低保"]
    assert [row[-1] for row in meal_rows] == ["4.00"], rows
    r = client.get(base + "/export?table=categories&fmt=csv&month=2026-09")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[-1] for row in rows[1:] if row and row[1] == "低保"] == ["7.00"], rows


async def _zero_costs(w: Any) -> None:
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    await add_meal(w, site=w.site_a, elder=elder, day=dt.date(2026, 10, 10))
    await rollup_range(w.district_x, dt.date(2026, 10, 10), dt.date(2026, 10, 10))
    fields = {f: 0 for f in (*kpis.COST_FIELDS, "other_income_fen")}
    await SiteMonthCost.insert(
        SiteMonthCost(site=w.site_a, district=w.district_x, month="2026-10", updated_at=utcnow(), **fields)
    )


def test_no_grade_from_a_month_nobody_has_costed(world: Any, run: Any) -> None:
    run(lambda: _zero_costs(world))
    report = run(lambda: kpis.viability_report(official(world), world.district_x, "2026-10"))
    point = next(p for p in report.points if p.site_id == world.site_a)
    assert point.grade == "N" and not point.costs_entered
