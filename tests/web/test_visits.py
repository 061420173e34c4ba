"""Welfare visits in headless Chromium (issue #17): a community worker records a visit from the
plan on a 390×844 phone in one tap + a note, and the official reads coverage per community on
the district overview. Words only (no raw codes), local times, axe-clean."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.factories import NOW, make_world
from tests.web.conftest import LiveServer
from tests.web.test_courier_kitchen import check_page, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _set_up() -> dict[str, Any]:
    """District X: a weekly rule for 80+ living alone made a month ago; in 卖鱼桥社区 one elder
    never visited (overdue), one visited two days ago; a community worker of that community."""
    from canteen.accounts.services import load_principal
    from canteen.accounts.tables import RoleGrant, StaffUser
    from canteen.care import visits
    from canteen.core.clock import utcnow
    from tests.factories import add_user
    from tests.integration.cards.elders import add_elder

    w = await make_world()
    official = await load_principal(w.users["official_x"])
    assert official is not None
    now = utcnow()
    await visits.create_rule(
        official,
        w.district_x,
        visits.VisitRuleIn(name="独居80岁以上 每周一次", every_days=7, alone=True, min_age=80),
        now=now - dt.timedelta(days=30),
    )
    overdue = await add_elder(district=w.district_x, community=w.community_x, name="王秀英")
    seen = await add_elder(district=w.district_x, community=w.community_x, name="李桂芳")
    await add_elder(district=w.district_y, community=w.community_y, name="西湖长者")
    await visits.record_visit(
        official, seen, visits.VisitIn(level="fine", at=now - dt.timedelta(days=2)), now=now
    )
    uid = await add_user("sq_worker", [])
    await StaffUser.update({StaffUser.display_name: "陈丽华"}).where(StaffUser.id == uid)
    await RoleGrant.insert(RoleGrant(user=uid, role="community_worker", community=w.community_x))
    return {"district": w.district_x, "overdue": overdue, "seen": seen, "created": NOW}


def test_community_worker_records_a_visit_on_a_phone(browser: Any, live_server: LiveServer) -> None:
    from canteen.care.tables import Visit

    data = live_server.run(_set_up)
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, "sq_worker")
    page.get_by_role("link", name="巡访计划").click()
    page.wait_for_url(re.compile(r"/care/plan"))
    text = check_page(page, "visit plan (phone)")
    first = page.locator(".visit-entry").first
    expect(first).to_contain_text("王秀英")  # overdue first
    expect(first).to_contain_text("已逾期")
    assert "独居80岁以上" in text and "西湖长者" not in text
    # Nothing wider than the phone: no sideways scrolling on the plan.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    entry = page.locator(f"#elder-{data['overdue']}")
    entry.get_by_label("备注（可选）").fill("血压有点高，已提醒复诊")
    entry.get_by_label("用时（分钟，可不填）").fill("25")
    entry.get_by_role("button", name="已探访：情况良好").click()
    page.wait_for_url(re.compile(r"done="))
    expect(page.locator("#visit-saved")).to_be_visible()
    text = check_page(page, "visit plan after the visit")
    rows = live_server.run(
        lambda: Visit.select(Visit.visitor_role, Visit.note, Visit.minutes, Visit.at).where(
            Visit.elder == data["overdue"]
        )
    )
    assert [(r["visitor_role"], r["note"], r["minutes"]) for r in rows] == [
        ("community_worker", "血压有点高，已提醒复诊", 25)
    ]
    # The last visit shows in Shanghai time, not UTC.
    at = rows[0]["at"] if rows[0]["at"].tzinfo else rows[0]["at"].replace(tzinfo=dt.UTC)
    local = at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M")
    assert local in page.locator(f"#elder-{data['overdue']}").inner_text()
    assert "已逾期" not in page.locator(f"#elder-{data['overdue']}").inner_text()
    # A minutes value that is not a number is refused next to the field, in words.
    entry = page.locator(f"#elder-{data['seen']}")
    entry.get_by_label("用时（分钟，可不填）").evaluate("el => el.removeAttribute('pattern')")
    entry.get_by_label("用时（分钟，可不填）").fill("abc")
    entry.get_by_role("button", name="已探访：情况良好").click()
    expect(page.locator(f"#minutes-err-{data['seen']}")).to_be_visible()
    context.close()


def test_official_sees_coverage_per_community(browser: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    for lang in ("zh-CN", "en"):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1024, "height": 768}, locale=lang
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        if lang == "en":
            context.add_cookies([{"name": "canteen_lang", "value": "en", "url": live_server.url}])
        sign_in(page, "official_x")
        page.get_by_role("link", name="巡访覆盖率" if lang == "zh-CN" else "Visit coverage").click()
        page.wait_for_url(re.compile(rf"/care/districts/{data['district']}/coverage"))
        check_page(page, f"coverage ({lang})")
        row = page.locator("#coverage tbody tr", has_text="卖鱼桥社区")
        expect(row).to_contain_text("50.0%")
        cells = row.locator("td").all_inner_texts()
        assert cells[:3] == ["2", "1", "1"], cells
        # The district's rules page, reached from the coverage page, is in words too.
        page.get_by_role("link", name="巡访规则" if lang == "zh-CN" else "Visit rules").click()
        text = check_page(page, f"visit rules ({lang})")
        assert ("独居" in text) if lang == "zh-CN" else ("Lives alone" in text)
        context.close()
