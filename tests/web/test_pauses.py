"""Service pause (报停) in headless Chromium on a 360×740 phone: the elder signs in, pauses meal
delivery from today in three taps (暂停送餐/用餐 → a reason → 确认暂停), sees the confirmation and
"已暂停送餐至…" on the home page, finds ordering a paused day refused in words, ends the pause
(提前恢复) and the home page says nothing any more. axe-core finds no serious violation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_elder_ordering import _no_horizontal_scroll, check_axe, phone  # noqa: F401 - fixture

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _set_up() -> Any:
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    return await delivery_world(await make_world(), n_elders=1)


def _sign_in(pg: Any, d: Any) -> None:
    from tests.integration.orders.setup import PIN

    pg.goto("/elder/sign-in")
    pg.fill("#card_number", d.numbers[d.elders[0]])
    pg.fill("#pin", PIN)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(re.compile(r"/elder$"))


def _height(pg: Any, selector: str) -> float:
    return float(pg.eval_on_selector(selector, "el => el.getBoundingClientRect().height"))


def test_elder_pauses_delivery_in_three_taps_and_ends_it_early(phone: Any, live_server: LiveServer) -> None:  # noqa: F811
    from babel.dates import format_skeleton

    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    _sign_in(pg, d)
    expect(pg.locator("#paused-banner")).to_have_count(0)
    assert _height(pg, "#pause-link") >= 60
    pg.click("#pause-link")  # tap 1
    pg.wait_for_url(f"**/elder/{elder}/pause")
    expect(pg.locator("h1")).to_have_text("暂停送餐/用餐")
    check_axe(pg, "pause form")
    _no_horizontal_scroll(pg)
    assert _height(pg, "#confirm-pause") >= 60
    assert _height(pg, "label.choice") >= 60
    # Sent without a reason: refused next to the field, in words, nothing written.
    pg.click("#confirm-pause")
    expect(pg.locator("#reason-error")).to_contain_text("请选择暂停的原因")
    check_axe(pg, "pause form with an error")
    pg.get_by_label("住院").check()  # tap 2 (delivery, today and the next two days are filled in)
    pg.click("#confirm-pause")  # tap 3
    expect(pg.locator("#pause-done")).to_be_visible()
    last = d.today + dt.timedelta(days=2)
    resumes = format_skeleton("MMMd", last + dt.timedelta(days=1), locale="zh_Hans_CN")
    expect(pg.locator("#pause-done")).to_contain_text(f"{resumes}起自动恢复")
    check_axe(pg, "pause confirmed")
    pg.click("a.back")
    pg.wait_for_url(re.compile(r"/elder\?elder="))
    until = format_skeleton("MMMd", last, locale="zh_Hans_CN")
    expect(pg.locator("#paused-banner")).to_contain_text(f"已暂停送餐至{until}")
    check_axe(pg, "home while paused")
    # Ordering tomorrow's lunch is refused and says how to end the pause.
    pg.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch/{d.sets_tomorrow['套餐A']}")
    pg.get_by_role("button", name="确认下单").click()
    expect(pg.locator("body")).to_contain_text("提前恢复")
    check_axe(pg, "order refused while paused")
    # End it early: the home page shows no pause any more.
    pg.goto(f"/elder/{elder}/pause")
    assert _height(pg, "button.end-pause") >= 60
    pg.get_by_role("button", name="提前恢复").click()
    expect(pg.locator("#pause-ended")).to_be_visible()
    check_axe(pg, "pause ended")
    pg.goto("/elder")
    expect(pg.locator("#paused-banner")).to_have_count(0)
    assert not pg.js_errors, pg.js_errors
