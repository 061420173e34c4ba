"""Accounting pages in headless Chromium: an operator enters costs in yuan and drafts and submits a
statement; an official approves, records the payment and reads the viability table. axe-core finds no
serious or critical violation on any of them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MONTH = "2026-09"


async def _set_up() -> dict[str, Any]:
    from canteen.meals import rollups
    from tests.factories import make_world
    from tests.integration.accounting.test_accounting import _meals

    w = await make_world()
    await _meals(w, dt.date(2026, 9, 1), 30)
    await rollups.rollup_range(w.district_x, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    return {"district": w.district_x, "site": w.site_a, "operator": w.operator_x}


def test_costs_settlement_and_viability(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "operator_a")
    page.goto(f"/accounting/costs?site_id={data['site']}&month={MONTH}")
    check_axe(page, "costs form")
    page.fill("#food_fen", "abc")
    page.click("button:has-text('保存成本'), button:has-text('Save costs')")
    expect(page.locator("#err-food_fen")).to_be_visible()
    check_axe(page, "costs form with errors")
    page.fill("#food_fen", "2000")
    page.fill("#labour_fen", "3000.50")
    page.check("#residential_utilities")
    page.click("button:has-text('保存成本'), button:has-text('Save costs')")
    expect(page.locator("p.ok")).to_be_visible()
    expect(page.locator("#labour_fen")).to_have_value("3000.50")

    page.goto("/accounting/settlements")
    check_axe(page, "settlements")
    page.fill("#month", MONTH)
    page.click("form[action='/accounting/settlements'] button")
    page.wait_for_url(re.compile(r"/accounting/settlements/\d+$"))
    check_axe(page, "statement draft")
    detail = page.url
    page.click("form[action$='/submit'] button")
    page.wait_for_url(detail)

    page.context.clear_cookies()
    sign_in(page, "official_x")
    page.goto(detail)
    page.click("form[action$='/approve'] button")
    page.wait_for_url(detail)
    page.fill("#reference", "BANK-2026-10-07")
    check_axe(page, "approved statement")
    page.click("form[action$='/pay'] button")
    expect(page.locator("body")).to_contain_text("BANK-2026-10-07")

    page.goto(f"/accounting/viability?district_id={data['district']}&month={MONTH}")
    expect(page.locator("table:not(#satisfaction-table) tbody tr")).to_have_count(2)
    # The same points' quarterly survey and complaints sit beside the grades.
    expect(page.locator("#satisfaction-table tbody tr")).to_have_count(2)
    check_axe(page, "viability")
