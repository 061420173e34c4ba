"""Survey and complaints in headless Chromium: an elder on a 360×740 phone answers the quarterly
survey (five faces per line, every face ≥ 60 px) and files a complaint; the operator replies on
the staff page at 1024×768; the elder sees the reply. axe-core finds no serious/critical
violation on any page."""

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
    bad = serious(found)
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"


def _no_horizontal_scroll(pg: Any) -> None:
    assert pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def _smallest_face(pg: Any) -> tuple[float, float]:
    return tuple(
        pg.evaluate(
            """() => { const r = [...document.querySelectorAll('.face')].map(e => e.getBoundingClientRect());
                return [Math.min(...r.map(x => x.width)), Math.min(...r.map(x => x.height))]; }"""
        )
    )


def test_elder_answers_and_complains_operator_replies(browser: Any, live_server: LiveServer) -> None:
    from tests.factories import PASSWORD
    from tests.integration.orders.setup import PIN

    d = live_server.run(_set_up)
    elder = d.elders[0]
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}, locale="zh-CN"
    )
    phone.set_default_timeout(10_000)
    pg = phone.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto("/elder/sign-in")
    pg.fill("#card_number", d.numbers[elder])
    pg.fill("#pin", PIN)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(re.compile(r"/elder(\?.*)?$"))

    # The survey: one short page, five faces per line.
    pg.locator("#go-survey").click()
    expect(pg.locator("h1")).to_have_text("您满意吗？")
    check_axe(pg, "survey")
    _no_horizontal_scroll(pg)
    width, height = _smallest_face(pg)
    assert width >= 60 and height >= 60, (width, height)
    # Sending with a line missing names it.
    for dim, face in (("taste", "很满意"), ("quantity", "满意"), ("hygiene", "很满意"), ("service", "一般")):
        pg.locator(f"#dim-{dim} .face", has_text=face).first.click()
    pg.locator("#send-survey").click()
    expect(pg.locator("#err-price")).to_contain_text("价格")
    check_axe(pg, "survey with an error")
    pg.locator("#dim-price .face", has_text="满意").last.click()
    pg.fill("#comment", "菜很新鲜")
    pg.locator("#send-survey").click()
    expect(pg.locator("#survey-done")).to_be_visible()
    check_axe(pg, "survey thanks")

    # The larger-text switch keeps the faces big and the page inside the screen.
    pg.goto(f"/elder/{elder}/survey")
    expect(pg.locator("#answered")).to_be_visible()
    pg.locator("#text-size").click()
    expect(pg.locator("body")).to_have_class(re.compile(r"\blarge\b"))
    width, height = _smallest_face(pg)
    assert width >= 60 and height >= 60
    _no_horizontal_scroll(pg)
    check_axe(pg, "survey, larger text")
    pg.locator("#text-size").click()

    # A complaint.
    pg.goto(f"/elder/{elder}/complaints")
    check_axe(pg, "my complaints (none)")
    pg.locator("#new-complaint").click()
    expect(pg.locator("h1")).to_have_text("我要投诉")
    check_axe(pg, "new complaint")
    _no_horizontal_scroll(pg)
    pg.locator("label.category", has_text="送餐").click()
    pg.fill("#text", "今天送来的饭是凉的。")
    pg.locator("#send-complaint").click()
    expect(pg.locator("#complaint-filed")).to_be_visible()
    expect(pg.locator(".complaint-status")).to_have_text("待处理")
    check_axe(pg, "my complaints")
    for sel in ("#new-complaint", "#text-size"):
        assert pg.eval_on_selector(sel, "el => el.getBoundingClientRect().height") >= 60

    # The operator replies on the staff page.
    desk = browser.new_context(
        base_url=live_server.url, viewport={"width": 1024, "height": 768}, locale="zh-CN"
    )
    desk.set_default_timeout(10_000)
    st = desk.new_page()
    st.goto("/login")
    st.fill("#username", "operator_a")
    st.fill("#password", PASSWORD)
    st.press("#password", "Enter")
    st.wait_for_url(re.compile(r"/$"))
    st.get_by_role("link", name="投诉").first.click()
    expect(st.locator("#complaints")).to_contain_text("今天送来的饭是凉的")
    check_axe(st, "staff complaints")
    st.locator("#complaints a").first.click()
    expect(st.locator("#status")).to_have_text("待处理")
    check_axe(st, "staff complaint")
    st.fill("#reply-text", "已给送餐箱加了保温层，明天起饭是热的。")
    st.locator("#send-reply").click()
    expect(st.locator("#status")).to_have_text("已答复")
    desk.close()

    # The elder sees the reply.
    pg.reload()
    expect(pg.locator(".reply-text")).to_have_text("已给送餐箱加了保温层，明天起饭是热的。")
    expect(pg.locator(".complaint-status")).to_have_text("已答复")
    check_axe(pg, "my complaints with a reply")
    _no_horizontal_scroll(pg)
    assert not errors, errors
    phone.close()
