"""Civil-affairs list in headless Chromium: an official uploads a CSV (死亡 for one elder, a row
with an unknown ID), sees the dry run in words, applies it, then closes the refund task it
opened. Every page passes axe-core (no serious or critical violation) and shows no internal code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_dashboard import check_axe, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CODES = ("deceased", "in_hospital", "unknown_id", "refunded_cash", "after_status_end", "apply", "bad_event")


async def _set_up() -> dict[str, Any]:
    from canteen.accounts.services import load_principal
    from canteen.core.clock import utcnow
    from canteen.payments.ledger import top_up_cash
    from canteen.registry import services as registry
    from canteen.registry.card_services import issue_card
    from canteen.registry.national_id import make_national_id
    from canteen.registry.tables import Elder
    from canteen.settings import get_settings
    from tests.factories import make_world
    from tests.integration.cards.elders import add_elder

    w = await make_world()
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    elder = await add_elder(district=w.district_x, community=w.community_x, name="张桂兰")
    await issue_card(admin, elder, reason="new")
    await top_up_cash(admin, w.site_a, elder, 3650, idempotency_key="civil-web-topup")
    row = await Elder.select(Elder.national_id_enc).where(Elder.id == elder).first()
    assert row is not None
    number = registry.decrypt_id(row["national_id_enc"])
    yesterday = utcnow().astimezone(get_settings().tz).date() - dt.timedelta(days=1)
    unknown = make_national_id("330105", dt.date(1939, 6, 1), 955)
    csv = (
        "身份证号,姓名,情形,日期,备注\r\n"
        f"{number},张桂兰,死亡,{yesterday.isoformat()},家属来电告知\r\n"
        f"{unknown},李建国,迁出,{yesterday.isoformat()},\r\n"
    ).encode("utf-8-sig")
    return {"elder": elder, "csv": csv}


def _no_codes(page: Any) -> None:
    text = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
    for code in CODES:
        assert not re.search(rf"\b{code}\b", text), f"internal code {code!r} shown: {text[:400]}"


def _job_result(page: Any) -> None:
    """On a run's progress page, wait for the result link (htmx swaps it in; a page built without
    htmx is refreshed by hand, as a person would) and follow it."""
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))
    expect(page.locator("#job-progress")).to_be_visible()
    result = page.locator("#job-result")
    if page.evaluate("() => !!window.htmx"):
        expect(result).to_be_visible(timeout=30_000)
    else:
        for _ in range(60):
            if result.count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(result).to_be_visible()
    _no_codes(page)
    result.click()


def test_official_uploads_checks_applies_and_closes_the_refund_task(
    page: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_set_up)
    sign_in(page, "official_x")
    page.goto("/care/civil")
    expect(page.locator("h1")).to_have_text("民政名单")
    check_axe(page, "civil upload")
    page.set_input_files(
        "#file", files=[{"name": "民政名单.csv", "mimeType": "text/csv", "buffer": d["csv"]}]
    )
    page.get_by_role("button", name="检查名单").click()
    # The check is a job: its progress page links to the check page when done.
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))
    check_axe(page, "civil check progress")
    _job_result(page)
    page.wait_for_url(re.compile(r"/care/civil/[A-Za-z0-9_\-]+/checked/[0-9a-f]{16}$"))
    rows = page.locator("#civil-rows tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("张桂兰")
    expect(rows.nth(0)).to_contain_text("将执行")
    expect(rows.nth(0)).to_contain_text("死亡")
    expect(rows.nth(0)).to_contain_text("¥36.50")
    expect(rows.nth(1)).to_contain_text("第3行：本区没有登记这个身份证号的老人")
    _no_codes(page)
    check_axe(page, "civil dry run")
    page.locator("#apply").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{16}$"))
    _job_result(page)
    expect(page.locator("h1")).to_have_text("民政名单已执行")
    expect(page.locator("#civil-result")).to_contain_text("已执行的行: 1")
    _no_codes(page)
    check_axe(page, "civil result")
    page.get_by_role("link", name="退款任务").first.click()
    task = page.locator("section.refund-task")
    expect(task).to_have_count(1)
    expect(task).to_contain_text("张桂兰")
    expect(task).to_contain_text("¥36.50")
    check_axe(page, "refund tasks")
    # A cancel without a note is refused next to the field, in words.
    task.get_by_label("无需退款（取消）").check()
    task.get_by_role("button", name="关闭任务").click()
    expect(page.locator("p.error[role=alert]")).to_be_visible()
    check_axe(page, "refund task error")
    task = page.locator("section.refund-task")
    task.get_by_label("已现金退款").check()
    task.get_by_label("备注（取消时必填）").fill("已交给女儿张丽")
    task.get_by_role("button", name="关闭任务").click()
    expect(page.locator("p.success")).to_have_text("退款任务已关闭。")
    expect(page.locator("section.refund-task")).to_have_count(0)
    expect(page.locator("#closed-tasks")).to_contain_text("已现金退款")
    _no_codes(page)
    check_axe(page, "refund task closed")
    page.goto("/care/expiring")
    expect(page.locator("h1")).to_have_text("即将到期的认定材料")
    check_axe(page, "expiring list")
    page.goto(f"/elders/{d['elder']}")
    expect(page.locator("#civil-title")).to_have_text("民政名单")
    check_axe(page, "elder profile")
