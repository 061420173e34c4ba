"""补贴跟着人走 on the officials' pages, in headless Chromium at a 1024×768 tablet: 西湖区's official
sees a 拱墅区 resident's meals at its point apart on the month dashboard and on the inter-district
statement (what 拱墅区 owes, in yuan and in words), 拱墅区's official sees the same meals as its
residents' meals elsewhere; axe finds nothing serious; no code, id or ISO time on either page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MONTH = "2026-10"


async def _set_up() -> dict[str, Any]:
    from canteen.meals.tables import Meal
    from tests.factories import make_world
    from tests.integration.cards.elders import add_elder
    from tests.integration.reports.helpers import local

    w = await make_world()
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    for k in range(3):
        day = dt.date(2026, 10, 5) + dt.timedelta(days=k)
        # As meals.record_meal writes a home-priced meal at a point of another district.
        await Meal.insert(
            Meal(
                district=w.district_y,
                site=w.site_c,
                elder=elder,
                service_date=day,
                slot="lunch",
                mode="dine_in",
                served_at=local(day, "11:40"),
                list_price_fen=1500,
                subsidy_fen=600,
                copay_fen=900,
                funding=[
                    {"source": "city", "fen": 200, "district_id": w.district_x},
                    {"source": "district", "fen": 400, "district_id": w.district_x},
                ],
                policy_district=w.district_x,
                payment="cash",
                subsidised=True,
                tier_code="dibao",
                categories=["dibao"],
                idempotency_key=f"web-away-{k}",
            )
        )
    return {"x": w.district_x, "y": w.district_y}


def _words_only(page: Any, label: str) -> None:
    text = page.locator("main").inner_text()
    assert not re.search(r"\b(district_id|policy_district|residents_away|visitors)\b", text), (label, text)
    assert not re.search(r"\d{4}-\d\d-\d\dT|\+\d\d:\d\d|UTC", text), (label, text)


def test_the_host_and_the_home_district_see_the_visits_apart(
    page: Any, live_server: LiveServer, tmp_path: Any
) -> None:
    d = live_server.run(_set_up)
    sign_in(page, "official_y")
    page.goto(f"/official/districts/{d['y']}/dashboard?month={MONTH}")
    section = page.locator("section[aria-labelledby='h-away']")
    expect(section).to_contain_text("外区老人在本区助餐点就餐")
    expect(section.locator("table").first.locator("tbody tr")).to_have_count(1)
    expect(section.locator("table").first).to_contain_text("拱墅区")
    check_axe(page, "the month dashboard with visitors")

    page.get_by_role("link", name="跨区结算").first.click()
    page.wait_for_url(re.compile(rf"/official/districts/{d['y']}/inter-district"))
    page.goto(f"/official/districts/{d['y']}/inter-district?month={MONTH}")
    expect(page.locator("h1")).to_contain_text("跨区结算单")
    row = page.locator("section[aria-labelledby='h-visitors'] tbody tr")
    expect(row).to_have_count(1)
    # 3 meals × 4 yuan of 拱墅区's own district share; the city's 2 yuan is never owed between districts.
    expect(row).to_contain_text("曙光路老年食堂")
    expect(row).to_contain_text("市级 6.00")
    expect(row.locator("td").last).to_have_text("12.00")
    expect(page.locator("main dl")).to_contain_text("12.00")
    _words_only(page, "inter-district (host)")
    check_axe(page, "the inter-district statement")
    page.screenshot(path=str(tmp_path / "inter-district-host.png"), full_page=True)

    # The home district: the same meals as its residents' meals elsewhere, in English too.
    page.context.clear_cookies()
    sign_in(page, "official_x")
    page.goto(f"/lang/en?next=/official/districts/{d['x']}/inter-district?month={MONTH}")
    page.goto(f"/official/districts/{d['x']}/inter-district?month={MONTH}")
    away = page.locator("section[aria-labelledby='h-away'] tbody tr")
    expect(away).to_have_count(1)
    expect(away).to_contain_text("西湖区")
    expect(page.locator("main dl")).to_contain_text("12.00")
    expect(page.locator("h1")).to_contain_text("Inter-district statement")
    _words_only(page, "inter-district (home)")
    check_axe(page, "the inter-district statement (home, en)")
