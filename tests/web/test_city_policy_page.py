"""The city base on the policy pages, in headless Chromium: the city official of 杭州市 finds the
city's section on /policies, opens the editor (the same one the districts use), changes the
90+ amount and watches the preview, saves the draft and publishes it. Then the official of
拱墅区 opens the district editor and sees the city base in force above the form and the
combined preview (base part + top-up part per payer). axe-core finds nothing serious."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import PASSWORD
from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture
def wide(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A 1440×900 page like the district editor's test (the editor is a wide form). Script
    errors are recorded; the console's CSP notes are not (htmx adds its indicator style)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()


async def _world() -> tuple[int, int]:
    from tests.factories import make_world

    w = await make_world()
    return w.city, w.district_x


def _sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))


def _payer(page: Any, sample: str, source: str) -> Any:
    return page.locator(f"#preview tr[data-sample='{sample}'] td[data-payer='{source}']")


def _audit(page: Any) -> None:
    found = axe_violations(page)
    assert not serious(found), describe(serious(found))


def test_a_city_official_builds_previews_and_publishes_the_city_base(
    wide: Any, live_server: LiveServer
) -> None:
    page = wide
    city, district = live_server.run(_world)
    _sign_in(page, "city_official_h")

    page.goto("/policies")
    section = page.locator(f"#city-{city}")
    expect(section).to_contain_text("杭州市")
    expect(section).to_contain_text("本市尚未制定基础补贴政策。")
    section.get_by_role("link", name="编写市级基础补贴新版本").click()
    page.wait_for_url(re.compile(rf"/cities/{city}/policies/new$"))
    expect(page.locator("h1")).to_have_text("编辑市级基础补贴政策")
    # The template: 3 yuan at 90+, 2 yuan at 80-89, all of it the city's.
    expect(_payer(page, "age91", "city")).to_have_text("¥3.00")
    expect(_payer(page, "disabled", "city")).to_have_text("¥2.00")
    _audit(page)

    # 4 yuan at 90+: the live preview follows.
    page.fill("#tier-0-value", "4")
    page.locator("#tier-0-value").blur()
    expect(_payer(page, "age91", "city")).to_have_text("¥4.00")
    assert not page.js_errors

    page.get_by_role("button", name="保存为草稿").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    expect(page.locator("h1")).to_contain_text("草稿")
    expect(_payer(page, "age91", "city")).to_have_text("¥4.00")
    page.get_by_role("button", name="发布").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    expect(page.locator("h1")).to_contain_text("已发布")
    _audit(page)

    # The district official: the base in force above the editor, the combined preview below.
    page.context.clear_cookies()
    _sign_in(page, "official_x")
    page.goto("/policies")
    expect(page.locator(f"#city-{city}")).to_contain_text("已发布")
    page.goto(f"/districts/{district}/policies/new")
    expect(page.locator("#city-base")).to_contain_text("杭州市老年助餐基础补贴（演示）")
    # The 91-year-old: base 4 (city) + the demo district's 8 yuan off (city 60 %, district 40 %).
    row = page.locator("#preview tr[data-sample='age91']")
    expect(row.locator("td[data-part='base']")).to_have_text("¥4.00")
    expect(row.locator("td[data-part='topup']")).to_have_text("¥8.00")
    expect(_payer(page, "age91", "city")).to_contain_text("¥8.80")
    expect(_payer(page, "age91", "city")).to_contain_text("基础¥4.00＋叠加¥4.80")
    expect(_payer(page, "age91", "district")).to_contain_text("¥3.20")
    _audit(page)
    assert not page.js_errors
