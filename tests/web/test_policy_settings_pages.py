"""The settings of issue #11 an official makes on the pages, in headless Chromium: portability on
the policy editor (who keeps paying away from home), an operating subsidy per diner per day, and a
quarterly statement. Each is stored as the API would store it; axe finds nothing serious."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _set_up() -> dict[str, Any]:
    from tests.factories import make_world

    w = await make_world()
    return {"district": w.district_x, "operator": w.operator_x}


async def _stored_portability(district: int) -> Any:
    import msgspec

    from canteen.subsidies.schemas import Policy
    from canteen.subsidies.tables import SubsidyPolicy

    row = (
        await SubsidyPolicy.select(SubsidyPolicy.document)
        .where(SubsidyPolicy.district == district)
        .order_by(SubsidyPolicy.version, ascending=False)
        .first()
    )
    doc = row["document"]
    return msgspec.json.decode(doc if isinstance(doc, str | bytes) else msgspec.json.encode(doc), type=Policy)


async def _rules(district: int) -> list[dict[str, Any]]:
    from canteen.accounting.tables import OperatingSubsidyRule as OperatingRule

    return await OperatingRule.select().where(OperatingRule.district == district)


def test_portability_operating_rules_and_a_quarter_on_the_pages(page: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    sign_in(page, "official_x")

    # Away from home: outside the home district only the city's share follows the person.
    page.goto(f"/districts/{d['district']}/policies/new")
    page.uncheck("input[name='port_district_all']")
    page.check("input[name='port_district'][value='city']")
    check_axe(page, "the policy editor, portability")
    page.get_by_role("button", name="保存为草稿").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    doc = live_server.run(lambda: _stored_portability(d["district"]))
    assert doc.portability.outside_home_district == ["city"], doc.portability
    assert doc.portability.outside_home_street is None

    # An operating subsidy of 1 yuan per elder served per day, from the district.
    page.goto(f"/accounting/operating-rules?district_id={d['district']}")
    page.select_option("#kind", "per_diner_day")
    page.fill("#amount", "1")
    page.select_option("#source", "district")
    page.fill("#effective_from", "2026-10")
    check_axe(page, "the operating rules page")
    page.locator("#rule-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"saved=1"))
    rules = live_server.run(lambda: _rules(d["district"]))
    assert [(r["kind"], r["amount_fen"], r["source"]) for r in rules] == [("per_diner_day", 100, "district")]
    expect(page.locator("main")).to_contain_text("按每日就餐长者人数")  # the kind in words, not its code
    assert "per_diner_day" not in page.locator("main").inner_text()

    # A quarterly statement: the quarter's three months, each with its subtotal.
    page.goto("/accounting/settlements")
    page.select_option("#operator_id", str(d["operator"]))
    page.check("input[name='period'][value='quarter']")
    page.fill("#month", "2026-11")
    page.select_option("#source", "district")
    page.get_by_role("button", name="生成草稿").click()
    page.wait_for_url(re.compile(r"/accounting/settlements/\d+"))
    text = page.locator("main").inner_text()
    for month in ("2026-10", "2026-11", "2026-12"):
        assert month in text or f"{int(month[5:])}月" in text, text[:1500]
    check_axe(page, "a quarterly statement")
