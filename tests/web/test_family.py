"""Family accounts in headless Chromium: staff open one from the elder's profile with the
elder's consent recorded (who, when, audited) and reset its password; the family member signs
in on a 360×740 phone and is greeted by their own name, ordering for the elder."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

PHONE = "13957100001"
FIRST = "jiashu2580abc"
SECOND = "xinmima2026ok"


async def _set_up() -> Any:
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    return await delivery_world(await make_world(), n_elders=1)


def check_axe(pg: Any, label: str) -> None:
    bad = serious(axe_violations(pg))
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"


def staff_sign_in(page: Any, username: str = "admin") -> None:
    from tests.factories import PASSWORD

    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))


def family_sign_in(browser: Any, server: LiveServer, password: str) -> Any:
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 740}, locale="zh-CN")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    pg.goto("/elder/family-sign-in")
    pg.fill("#phone", PHONE)
    pg.fill("#password", password)
    pg.get_by_role("button", name="登录").click()
    return pg


def _counts(server: LiveServer) -> tuple[int, int, int]:
    async def go() -> tuple[int, int, int]:
        from canteen.core.tables import AuditEntry
        from canteen.orders.tables import FamilyAccount, FamilyLink

        audits = await AuditEntry.count().where(AuditEntry.action.like("family.%"))
        return await FamilyAccount.count(), await FamilyLink.count(), audits

    return server.run(go)


def test_staff_open_link_and_reset_a_family_account(page: Any, browser: Any, live_server: LiveServer) -> None:
    from tests.web.test_crawl import tap_target_findings

    d = live_server.run(_set_up)
    elder = d.elders[0]
    staff_sign_in(page)
    page.goto(f"/elders/{elder}")
    section = page.locator("section[aria-labelledby=family-h]")
    expect(section).to_contain_text("还没有关联家属账号")
    # consent not ticked: refused next to the box, nothing written
    page.fill("#family-name", "王志明")
    page.fill("#family-phone", PHONE)
    page.fill("#family-password", FIRST)
    page.fill("#family-consent_note", "本人在社区办公室当面同意")
    page.get_by_role("button", name="开通并关联账号").click()
    expect(page.locator("#family-consent-error")).to_have_text("长者同意后请勾选此项。")
    assert _counts(live_server) == (0, 0, 0)
    check_axe(page, "profile, family form with an error")
    # with consent: opened and linked, the consent shown with who recorded it and when
    page.fill("#family-password", FIRST)
    page.check("#family-consent")
    page.get_by_role("button", name="开通并关联账号").click()
    expect(page.locator("section[aria-labelledby=family-h] [role=status]")).to_have_text("家属账号已关联。")
    row = page.locator("#family-links tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("王志明")
    expect(row).to_contain_text(PHONE)
    expect(row).to_contain_text("本人在社区办公室当面同意")
    expect(row).to_contain_text("admin")
    assert re.search(r"\d{1,2}:\d\d", row.inner_text()), row.inner_text()
    assert _counts(live_server) == (1, 1, 2)  # family.create + family.link
    check_axe(page, "profile with a family account")
    # the same phone again: refused in words, not a second link
    page.fill("#family-name", "王志明")
    page.fill("#family-phone", PHONE)
    page.check("#family-consent")
    page.fill("#family-consent_note", "再次同意")
    page.get_by_role("button", name="开通并关联账号").click()
    expect(page.locator("#family-phone-error")).to_be_visible()
    assert _counts(live_server)[1] == 1

    # the family member signs in on a phone: greeted by their own name, ordering for the elder
    fam = family_sign_in(browser, live_server, FIRST)
    try:
        fam.wait_for_url(re.compile(r"/elder$"))
        expect(fam.locator("#greeting")).to_have_text("王志明，您好")
        expect(fam.locator("#acting-for")).to_have_text("您正在为送餐长者0订餐")
        small = tap_target_findings(fam)
        assert not small, "\n".join(small)
        check_axe(fam, "family home")
        # and orders for the elder in three taps
        fam.locator(".order-choice", has_text="明天").click()
        fam.locator(".set-choice", has_text="软食套餐").click()
        fam.locator("#place").click()
        expect(fam.locator("h1")).to_have_text("已下单")
    finally:
        fam.context.close()

    # staff reset the password: the old one stops working, the new one works
    family_id = live_server.run(_family_id)
    page.goto(f"/elders/{elder}")
    page.fill(f"#reset-{family_id}", "short1")
    page.locator(f"form[action$='/family/{family_id}/password'] button").click()
    expect(page.locator(f"#reset-error-{family_id}")).to_be_visible()
    page.fill(f"#reset-{family_id}", SECOND)
    page.locator(f"form[action$='/family/{family_id}/password'] button").click()
    expect(page.locator("section[aria-labelledby=family-h] [role=status]")).to_contain_text("新密码已设置")
    assert _counts(live_server)[2] == 3  # + family.password_reset
    old = family_sign_in(browser, live_server, FIRST)
    try:
        expect(old.locator("#family-error")).to_be_visible()
        small = tap_target_findings(old)
        assert not small, "\n".join(small)
        check_axe(old, "family sign-in with an error")
    finally:
        old.context.close()
    new = family_sign_in(browser, live_server, SECOND)
    try:
        new.wait_for_url(re.compile(r"/elder$"))
        expect(new.locator("#greeting")).to_have_text("王志明，您好")
    finally:
        new.context.close()


async def _family_id() -> int:
    from canteen.orders.tables import FamilyAccount

    row = await FamilyAccount.select(FamilyAccount.id).where(FamilyAccount.phone == PHONE).first()
    assert row is not None
    return int(row["id"])


def test_an_official_of_another_district_sees_no_family_form(page: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    staff_sign_in(page, "official_y")
    response = page.goto(f"/elders/{d.elders[0]}")
    assert response is not None and response.status == 404
    assert page.locator("#family-form").count() == 0
