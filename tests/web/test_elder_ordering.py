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


# --- issue 16: the page says before the tap; refusals in the elder's words --------------------

CASHIER_WORDS = ("按原价收费", "该长者", "代码")


def sign_in(pg: Any, number: str, pin: str | None = None) -> None:
    from tests.integration.orders.setup import PIN

    pg.goto("/elder/sign-in")
    pg.fill("#card_number", number)
    pg.fill("#pin", pin or PIN)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(re.compile(r"/elder(\?.*)?$"))


def order_tomorrow(pg: Any, set_name: str = "软食套餐") -> None:
    pg.locator(".order-choice", has_text="明天").click()
    pg.locator(".set-choice", has_text=set_name).click()
    pg.locator("#place").click()
    expect(pg.locator("h1")).to_have_text("已下单")


def check_taps(pg: Any, label: str) -> None:
    from tests.web.test_crawl import tap_target_findings

    small = tap_target_findings(pg)
    assert not small, f"tap targets too small on {label}:\n" + "\n".join(small)


def check_page(pg: Any, label: str) -> None:
    """The elder-page rules on what is on screen: axe-core, and the tap-target sizes."""
    check_axe(pg, label)
    check_taps(pg, label)


def no_cashier_words(pg: Any) -> None:
    text = pg.locator("body").inner_text()
    for words in CASHIER_WORDS:
        assert words not in text, (words, text)


def test_home_shows_what_is_ordered_and_never_offers_it_twice(phone: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    expect(pg.locator("#balance")).to_have_text("¥50.00")
    expect(pg.locator(".ordered-item")).to_have_count(0)
    check_taps(pg, "home")
    order_tomorrow(pg)
    # after ordering: when it comes, what it cost and the balance after, whom to call
    expect(pg.locator("#arrives")).to_have_text("00:00–23:59 送到")
    paid = pg.locator("#paid").inner_text()
    assert "从余额扣" in paid
    after = pg.locator("#balance-after-amount").inner_text()
    paid_fen = round(float(pg.locator("#paid-amount").inner_text().strip("¥")) * 100)
    assert after == f"¥{(5000 - paid_fen) / 100:.2f}", after
    expect(pg.locator("#call-point")).to_have_attribute("href", re.compile(r"^tel:\S+"))
    check_taps(pg, "placed")
    check_axe(pg, "placed, with window and balance")

    pg.get_by_role("link", name="首页").click()
    item = pg.locator(".ordered-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("明天")
    expect(item).to_contain_text("午餐")
    expect(item).to_contain_text("软食套餐")
    expect(item).to_contain_text("00:00–23:59 送到")
    expect(item).to_contain_text("从余额扣")
    expect(pg.locator("#balance")).to_have_text(after)
    # tomorrow's lunch is not offered again; "same as last time" is today's, and it can be ordered
    expect(pg.locator(".order-choice", has_text="明天")).to_have_count(0)
    pg.locator(".repeat-order").click()
    expect(pg.locator("h1")).to_have_text("确认订单")
    expect(pg.locator(".lead")).to_contain_text("今日")
    expect(pg.locator("#place-error")).to_have_count(0)
    no_cashier_words(pg)
    # a page left open (or typed) for the meal already ordered: the elder's words, a big way home
    pg.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch")
    expect(pg.locator("#problem")).to_contain_text("已经订好了")
    expect(pg.locator("#go-home")).to_be_visible()
    no_cashier_words(pg)
    check_taps(pg, "already ordered")
    assert not pg.js_errors, pg.js_errors


async def _not_eligible() -> Any:
    import datetime as dt

    from canteen.registry.tables import Elder

    d = await _set_up()
    # 66 years old, no category, no grant: not eligible for delivery
    await Elder.update({Elder.birth_date: dt.date(1960, 3, 1)}).where(Elder.id == d.elders[0])
    return d


def test_elder_without_delivery_learns_it_on_home_with_whom_to_call(
    phone: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_not_eligible)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    notice = pg.locator("#not-eligible")
    expect(notice).to_contain_text("还没有开通送餐")
    expect(notice.get_by_role("link", name=re.compile("拨打"))).to_have_attribute("href", re.compile("^tel:"))
    expect(pg.locator(".order-choice")).to_have_count(0)
    expect(pg.locator(".repeat-order")).to_have_count(0)
    check_page(pg, "home, not eligible")
    pg.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch")
    expect(pg.locator("#problem")).to_contain_text("还没有开通送餐")
    expect(pg.locator("#go-home")).to_be_visible()


async def _no_balance() -> Any:
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    return await delivery_world(await make_world(), n_elders=1, balance_fen=0)


def test_no_balance_offers_cash_and_never_loses_the_order(phone: Any, live_server: LiveServer) -> None:
    d = live_server.run(_no_balance)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    pg.locator(".order-choice", has_text="明天").click()
    pg.locator(".set-choice", has_text="套餐A").click()
    expect(pg.locator("#pay-balance")).to_be_disabled()
    expect(pg.locator("#pay-cash")).to_be_checked()
    expect(pg.locator("#balance-why")).to_contain_text("余额不够")
    check_page(pg, "confirm, no balance")
    # the balance chosen anyway (a page open while the balance was spent elsewhere): refused in
    # words on the same page, cash chosen, the order one tap away
    pg.evaluate(
        "() => { const b = document.getElementById('pay-balance'); b.disabled = false; b.checked = true; }"
    )
    pg.locator("#place").click()
    expect(pg.locator("#place-error")).to_contain_text("送到时付现金")
    expect(pg.locator("h1")).to_have_text("确认订单")
    expect(pg.locator("#pay-cash")).to_be_checked()
    pg.locator("#place").click()
    expect(pg.locator("h1")).to_have_text("已下单")
    expect(pg.locator("#cash-ready")).to_contain_text("现金")


def test_wrong_pin_counts_the_tries_left_then_says_until_when(phone: Any, live_server: LiveServer) -> None:
    from canteen.registry.pin_lockout import PIN_MAX_FAILURES

    d = live_server.run(_set_up)
    pg = phone
    pg.goto("/elder/sign-in")
    seen = []
    for _ in range(PIN_MAX_FAILURES):
        pg.fill("#card_number", d.numbers[d.elders[0]])
        pg.fill("#pin", "9999")
        pg.get_by_role("button", name="登录").click()
        seen.append(pg.locator("#signin-error").inner_text())
    for left, text in zip(range(PIN_MAX_FAILURES - 1, 0, -1), seen, strict=False):
        assert f"还可以再试{left}次" in text, seen
    locked = seen[-1]
    assert "锁定" in locked and re.search(
        # The lockout may end after midnight in the service zone: then the day is named too.
        r"请在 (\d{1,2}月\d{1,2}日 )?\d{1,2}:\d\d 后再试",
        locked,
    ), locked
    assert not re.search(r"\d{4}-\d\d-\d\dT|\+\d\d:\d\d|UTC", locked), locked
    # styled: a coloured box, not bare text
    bg = pg.eval_on_selector("#signin-error", "el => getComputedStyle(el).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent"), bg
    check_page(pg, "sign in, locked")


def test_cancel_asks_first_and_says_the_refund_in_words(phone: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    order_tomorrow(pg)
    paid = pg.locator("#paid-amount").inner_text()
    pg.get_by_role("link", name="我的订单").click()
    pg.locator(".cancel-order").click()
    expect(pg.locator("h1")).to_have_text("要取消这份订单吗？")
    expect(pg.locator("#refund-words")).to_have_text(f"{paid} 将退回您的余额。")
    check_page(pg, "cancel confirmation")
    pg.get_by_role("link", name="不取消，保留订单").click()
    expect(pg.locator(".order-status")).to_have_text("已下单")
    pg.locator(".cancel-order").click()
    pg.locator("#confirm-cancel").click()
    expect(pg.locator("#cancelled")).to_have_text(f"订单已取消。{paid} 已退回余额。")
    expect(pg.locator(".order-status")).to_have_text("已取消")
    pg.get_by_role("link", name="首页").click()
    expect(pg.locator("#balance")).to_have_text("¥50.00")


def test_a_failed_delivery_is_said_in_words(phone: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    order_tomorrow(pg)

    async def not_home() -> None:
        from canteen.accounts.services import load_principal
        from canteen.accounts.tables import StaffUser
        from canteen.orders import services
        from canteen.orders.tables import Order

        admin_id = await StaffUser.select(StaffUser.id).where(StaffUser.username == "admin").first()
        admin = await load_principal(admin_id["id"])
        order = await Order.select(Order.id).where(Order.elder == elder).first()
        for status in ("confirmed", "cooking", "out_for_delivery"):
            await services.set_status(admin, order["id"], status)
        await services.set_status(
            admin, order["id"], "not_delivered", reason="敲门无人应答", outcome="not_home"
        )

    live_server.run(not_home)
    pg.goto(f"/elder/{elder}/orders")
    expect(pg.locator(".order-status")).to_have_text("未送达：不在家（敲门无人应答）")
    assert "not_home" not in pg.locator("body").inner_text()


async def _diet_menu() -> Any:
    import datetime as dt

    from canteen.accounts.services import load_principal
    from canteen.accounts.tables import StaffUser
    from canteen.menus.schemas import DishCreate, MealSetIn
    from canteen.menus.services import create_dish, set_menu
    from canteen.registry.tables import Elder

    d = await _set_up()
    await Elder.update({Elder.diet: ["low_sugar"]}).where(Elder.id == d.elders[0])
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "admin").first()
    admin = await load_principal(row["id"])
    site = await Elder.select(Elder.district).where(Elder.id == d.elders[0]).first()
    fish = await create_dish(
        admin, DishCreate(district_id=site["district"], name="清蒸鲈鱼", diet_tags=["low_sugar", "low_salt"])
    )
    pork = await create_dish(admin, DishCreate(district_id=site["district"], name="红烧肉", diet_tags=[]))
    day = d.tomorrow + dt.timedelta(days=1)
    await set_menu(
        admin,
        d.site,
        day,
        "lunch",
        [
            MealSetIn(name="红烧肉套餐", list_price_fen=1800, dish_ids=[pork.id]),
            MealSetIn(name="低糖鱼套餐", list_price_fen=1600, dish_ids=[fish.id]),
        ],
    )
    return d, day


def test_a_low_sugar_elder_sees_fitting_sets_first(phone: Any, live_server: LiveServer) -> None:
    d, day = live_server.run(_diet_menu)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    pg.goto(f"/elder/{elder}/order/{day.isoformat()}/lunch")
    expect(pg.locator("#diet-hint")).to_contain_text("低糖")
    choices = pg.locator(".set-choice")
    expect(choices.nth(0)).to_contain_text("低糖鱼套餐")
    expect(choices.nth(0)).to_contain_text("适合您的饮食要求")
    expect(choices.nth(1)).to_contain_text("红烧肉套餐")
    expect(choices.nth(1)).to_contain_text("不适合您的饮食要求")
    check_page(pg, "choose, low sugar")


def test_confirm_is_above_the_fold_in_both_text_sizes(phone: Any, live_server: LiveServer) -> None:
    d = live_server.run(_set_up)
    elder = d.elders[0]
    pg = phone
    sign_in(pg, d.numbers[elder])
    pg.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch/{d.sets_tomorrow['软食套餐']}")
    for size in ("normal", "large"):
        bottom = pg.eval_on_selector("#place", "el => el.getBoundingClientRect().bottom")
        assert bottom <= 740, f"确认下单 ends at {bottom} px in {size} text"
        check_taps(pg, f"confirm, {size} text")
        if size == "normal":
            pg.locator("#text-size").click()
            expect(pg.locator("body")).to_have_class(re.compile(r"\blarge\b"))
            assert _font_px(pg, "main p") >= 24
    # English words are longer: still above the fold in larger text
    pg.goto(f"/lang/en?next={pg.url.split(live_server.url, 1)[1]}")
    expect(pg.locator("#place")).to_have_text("Confirm order")
    bottom = pg.eval_on_selector("#place", "el => el.getBoundingClientRect().bottom")
    assert bottom <= 740, f"Confirm order ends at {bottom} px in larger English text"


def test_camera_button_says_why_when_it_cannot_scan(phone: Any, live_server: LiveServer) -> None:
    live_server.run(_set_up)
    pg = phone
    pg.goto("/elder/sign-in")
    button = pg.locator("#scan-card")
    expect(button).to_be_visible()
    button.click()
    status = pg.locator("#scan-status")
    # headless Chromium has no camera: the page says so and how to go on (type the number)
    expect(status).to_contain_text("输入助餐卡上的号码")
    expect(pg.locator("#scan-video")).to_be_hidden()
    assert not pg.js_errors, pg.js_errors


def test_an_expired_page_says_so_and_leads_back_to_the_elder_sign_in(
    phone: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_set_up)
    pg = phone
    pg.goto("/elder/sign-in")
    pg.fill("#card_number", d.numbers[d.elders[0]])
    pg.fill("#pin", "2580")
    # the form's token no longer matches (a page kept open past its session)
    pg.evaluate("() => { document.querySelector('input[name=_csrf_token]').value = 'expired'; }")
    pg.get_by_role("button", name="登录").click()
    expect(pg.locator("h1")).to_have_text("页面已过期")
    expect(pg.locator("#problem")).to_contain_text("重新登录")
    expect(pg.locator("#sign-in-again")).to_have_attribute("href", "/elder/sign-in")
    body = pg.locator("body").inner_text()
    assert "csrf" not in body.lower() and "代码" not in body, body
    assert pg.locator("a[href^='/login']").count() == 0
    check_page(pg, "expired")
    pg.locator("#sign-in-again").click()
    expect(pg.locator("h1")).to_have_text("登录订餐")


async def _ate_at_the_counter() -> Any:
    from canteen.accounts.services import load_principal
    from canteen.accounts.tables import StaffUser
    from canteen.checkin.services import check_in

    d = await _set_up()
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "cashier_a").first()
    cashier = await load_principal(row["id"])
    await check_in(cashier, site_id=d.site, elder_id=d.elders[0], manual_reason="卡忘在家里", payment="cash")
    return d


def test_a_lunch_eaten_at_the_counter_is_not_offered_for_delivery(
    phone: Any, live_server: LiveServer
) -> None:
    d = live_server.run(_ate_at_the_counter)
    pg = phone
    sign_in(pg, d.numbers[d.elders[0]])
    expect(pg.locator(".eaten")).to_contain_text("今日")
    expect(pg.locator(".eaten")).to_contain_text("已在食堂吃过")
    expect(pg.locator(".order-choice", has_text="今日")).to_have_count(0)
    expect(pg.locator(".order-choice", has_text="明天")).to_have_count(1)
    check_page(pg, "home, lunch eaten at the counter")
