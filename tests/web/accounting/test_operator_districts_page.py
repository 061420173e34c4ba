"""In headless Chromium: district Y's official drafts, on the settlement page, the statement of an
operator registered in district X for its point in district Y (issue #11). The page names the
districts in words, chooses the official's own district, and the statement shows only that
district's point, its amount to the fen. axe-core finds no serious or critical violation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MONTH = "2026-09"


async def _set_up() -> dict[str, Any]:
    from canteen.regions.tables import Site
    from tests.factories import make_world
    from tests.integration.accounting.test_operator_districts import SEP, _expected, _meals

    w = await make_world()
    # Site C of district Y is run by operator X (registered in district X, same city).
    await Site.update({Site.operator: w.operator_x}).where(Site.id == w.site_c)
    await _meals(w, SEP)
    _, fen = await _expected(w, w.district_y, SEP, "district")
    return {"district_y": w.district_y, "operator": w.operator_x, "fen": fen}


def test_official_drafts_their_district_of_a_multi_district_operator(
    page: Any, live_server: LiveServer
) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "official_y")
    page.goto("/accounting/settlements")
    check_axe(page, "settlements of a multi-district operator")
    # The operator is named with the districts it serves; the official's own district is chosen.
    expect(page.locator("#operator_id option")).to_contain_text(["拱墅区、西湖区"])
    expect(page.locator("#district_id option:checked")).to_have_text("西湖区")
    expect(page.locator("#district_id")).to_have_value(str(data["district_y"]))
    page.select_option("#operator_id", str(data["operator"]))
    page.fill("#month", MONTH)
    page.select_option("#source", "district")
    page.click("form[action='/accounting/settlements'] button[type=submit]")
    page.wait_for_url(re.compile(r"/accounting/settlements/\d+$"))
    check_axe(page, "statement of district Y")
    expect(page.locator("h1")).to_contain_text("西湖区")
    expect(page.locator("body")).to_contain_text(f"{data['fen'] / 100:.2f}")
    # Only district Y's point is on it.
    body = page.locator("body").inner_text()
    assert "曙光路老年食堂" in body and "卖鱼桥幸福食堂" not in body

    page.goto("/accounting/settlements")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("西湖区")
