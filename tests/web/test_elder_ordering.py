"""The elders' ordering page in headless Chromium on a 360×740 phone: an eligible elder signs in
with card number + PIN, orders tomorrow's lunch in three taps from home, sees it in "my orders";
axe-core finds no serious/critical violation on each page; the larger-text switch gives ≥ 24 px."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _set_up() -> Any:
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    return await delivery_world(await make_world(), n_elders=1)


def check_axe(pg: Any, label: str) -> None:
    found = axe_violations(pg)
    print(f"\naxe on {label}: {len(found)} violation(s)\n{describe(found)}")
    bad = serious(found)
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Any:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.js_errors = errors
    yield pg
    context.close()


def _font_px(pg: Any, selector: str) -> float:
    return float(pg.eval_on_selector(selector, "el => parseFloat(getComputedStyle(el).fontSize)"))


def _no_horizontal_scroll(pg: Any) -> None:
    assert pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_elder_orders_tomorrows_lunch_in_three_taps(phone: Any, live_server: LiveServer) -> None:
    from tests.integration.orders.setup import PIN

    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    pg.goto("/elder")
    pg.wait_for_url("**/elder/sign-in")
    check_axe(pg, "sign in")
    _no_horizontal_scroll(pg)
    # a wrong PIN is refused in words, next to the form
    pg.fill("#card_number", d.numbers[elder])
    pg.fill("#pin", "9999")
    pg.get_by_role("button", name="登录").click()
    expect(pg.locator("#signin-error")).to_be_visible()
    check_axe(pg, "sign in with an error")
    pg.fill("#pin", PIN)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(re.compile(r"/elder$"))
    expect(pg.locator("h1")).to_contain_text("送餐长者0")
    check_axe(pg, "home")
    _no_horizontal_scroll(pg)
    assert _font_px(pg, "main p, main li a") >= 18
    height = pg.eval_on_selector(".order-choice", "el => el.getBoundingClientRect().height")
    assert height >= 48

    # tap 1: tomorrow's lunch
    pg.locator(".order-choice", has_text="明天").click()
    expect(pg.locator("h1")).to_have_text("选择套餐")
    check_axe(pg, "choose a meal")
    # tap 2: the set
    pg.locator(".set-choice", has_text="软食套餐").click()
    expect(pg.locator("h1")).to_have_text("确认订单")
    expect(pg.locator("#to-pay")).to_contain_text("¥")
    expect(pg.locator(".price-split")).to_contain_text("补贴")
    check_axe(pg, "confirm")
    _no_horizontal_scroll(pg)
    # tap 3: confirm
    pg.locator("#place").click()
    expect(pg.locator("h1")).to_have_text("已下单")
    check_axe(pg, "placed")

    pg.get_by_role("link", name="我的订单").click()
    expect(pg.locator(".order-item")).to_have_count(1)
    expect(pg.locator(".order-item")).to_contain_text("软食套餐")
    expect(pg.locator(".order-status")).to_have_text("已下单")
    check_axe(pg, "my orders")

    # larger text, kept in a cookie across pages
    pg.locator("#text-size").click()
    expect(pg.locator("body")).to_have_class(re.compile(r"\blarge\b"))
    assert _font_px(pg, ".order-when") >= 24
    pg.goto("/elder")
    assert _font_px(pg, "main h2 + ul li a, main p") >= 24
    check_axe(pg, "home, larger text")
    _no_horizontal_scroll(pg)
    assert not pg.js_errors, pg.js_errors
