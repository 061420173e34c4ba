"""The counter in headless Chromium at 1024×768: a cashier signs in, scans a real card as a USB
scanner would (the code typed + Enter), sees the price split, confirms with Enter, sees the
tally count it, and is refused (with advice) when the same card comes back; axe-core finds no
serious or critical violation on the page or on the result panel."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import PASSWORD, make_world
from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "cashier.png"


@dataclass
class Counter:
    site_id: int
    site_name: str
    elder_id: int
    token: str
    number: str
    set_b: int
    # A second elder (``_set_up(second_fen=…)``): 李建国, 低保 too, with that balance.
    elder2_id: int = 0
    token2: str = ""
    number2: str = ""


async def _set_up(second_fen: int | None = None, slots: list[dict[str, str]] | None = None) -> Counter:
    """Demo-like data: a canteen serving lunch all day (so the test never depends on the clock),
    the demo policy published, a menu with two sets, a 低保 elder of 83 with a card and 50 yuan.
    ``second_fen`` adds a second elder with that balance; ``slots`` replaces the serving hours."""
    from canteen.accounts.roles import Grant, Principal
    from canteen.core.clock import utcnow
    from canteen.menus.schemas import MealSetIn
    from canteen.menus.services import set_menu
    from canteen.payments.ledger import top_up_cash
    from canteen.regions.tables import Site
    from canteen.registry.card_services import issue_card
    from canteen.registry.national_id import make_national_id
    from canteen.registry.schemas import CategoryIn, ElderCreate
    from canteen.registry.services import register_elder
    from canteen.settings import get_settings
    from canteen.subsidies.demo import demo_policy
    from canteen.subsidies.services import create_policy, publish_policy

    w = await make_world()
    admin = Principal(
        user_id=w.users["admin"], username="admin", display_name="admin", grants=(Grant("admin"),)
    )
    await Site.update({Site.slots: slots or ALL_DAY}).where(Site.id == w.site_a)
    today = utcnow().astimezone(get_settings().tz).date()
    policy = await create_policy(
        admin, w.district_x, demo_policy(district_id=w.district_x, effective_from=dt.date(2025, 1, 1))
    )
    await publish_policy(admin, policy.id)
    menu = await set_menu(
        admin,
        w.site_a,
        today,
        "lunch",
        [
            MealSetIn(name="红烧肉套餐", list_price_fen=1500, portions_available=100),
            MealSetIn(name="清蒸鱼软食套餐", list_price_fen=1200, portions_available=50),
        ],
    )
    elder = await register_elder(
        admin,
        ElderCreate(
            name="王秀英",
            national_id=make_national_id("330105", dt.date(1943, 5, 12), 128),
            community_id=w.community_x,
            living_situation="alone",
            categories=[CategoryIn(code="dibao", valid_from=dt.date(2024, 1, 1))],
        ),
    )
    card = await issue_card(admin, elder.id, reason="first")
    await top_up_cash(admin, w.site_a, elder.id, 5000, idempotency_key="web-test-topup-0001")
    out = Counter(
        site_id=w.site_a,
        site_name="卖鱼桥幸福食堂",
        elder_id=elder.id,
        token=card.token,
        number=card.number,
        set_b=menu.sets[1].id,
    )
    if second_fen is not None:
        other = await register_elder(
            admin,
            ElderCreate(
                name="李建国",
                national_id=make_national_id("330105", dt.date(1940, 9, 3), 215),
                community_id=w.community_x,
                living_situation="with_spouse",
                categories=[CategoryIn(code="dibao", valid_from=dt.date(2024, 1, 1))],
            ),
        )
        card2 = await issue_card(admin, other.id, reason="first")
        if second_fen:
            await top_up_cash(admin, w.site_a, other.id, second_fen, idempotency_key="web-test-topup-0002")
        out.elder2_id, out.token2, out.number2 = other.id, card2.token, card2.number
    return out


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))


def check_axe(page: Any, label: str, context: str = "document") -> None:
    found = axe_violations(page, context)
    print(f"\naxe on {label}: {len(found)} violation(s)\n{describe(found)}")
    bad = serious(found)
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"


def test_scan_confirm_and_refuse_a_second_meal(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)

    sign_in(page, "cashier_a")
    # The home page offers the counter; a cashier of one site goes straight in.
    page.get_by_role("link", name="收银台").click()
    page.wait_for_url(f"**/counter/{data.site_id}")
    expect(page.locator("h1")).to_have_text(data.site_name)
    scan = page.locator("#scan")
    expect(scan).to_be_focused()
    check_axe(page, "the counter page")

    # A click somewhere on the page gives the focus back to the scan field.
    page.locator(".counter-head h1").click()
    expect(scan).to_be_focused()

    # A USB scanner types the token and Enter into whatever has focus.
    page.keyboard.type(data.token)
    page.keyboard.press("Enter")
    panel = page.locator("#result .panel-preview")
    expect(panel).to_be_visible()
    expect(panel.locator(".name")).to_have_text("王秀英")
    # 低保 pays a fixed 3 yuan of the 15-yuan set: 15.00 − 12.00 = 3.00.
    expect(panel.locator("#copay")).to_have_text("¥3.00")
    expect(panel).to_contain_text("¥15.00")
    expect(panel).to_contain_text("¥12.00")
    # Discretion: the category is only inside the collapsed details, never on the open panel.
    expect(panel.locator("details.why")).not_to_have_attribute("open", "")
    assert "低保" not in " ".join(panel.locator(":scope > :not(details)").all_inner_texts())
    expect(scan).to_be_focused()
    check_axe(page, "the confirm panel", "#result")

    # Enter on the empty field confirms.
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_be_visible()
    expect(ok).to_contain_text("¥3.00")
    expect(ok).to_contain_text("¥47.00")  # 50 yuan topped up − 3 yuan co-pay
    expect(ok.get_by_role("link", name="打印小票")).to_be_visible()
    expect(page.locator("#tally-meals")).to_have_text("1")
    expect(page.locator("#tally-subsidised")).to_have_text("1")
    expect(scan).to_be_focused()
    check_axe(page, "the success panel", "#result")

    # A double Enter cannot serve twice: the panel is spent, the tally stays at one.
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(page.locator("#tally-meals")).to_have_text("1")

    # The elder rates the meal with one tap on a face; focus goes back to the scan field.
    ok.get_by_role("button", name="😊 满意").click()
    expect(ok).to_contain_text("谢谢！评价已记录。")
    expect(scan).to_be_focused()

    # The same card again: refused, with where and when and what to do next.
    page.keyboard.type(data.token)
    page.keyboard.press("Enter")
    refused = page.locator('#result .panel-refused[data-code="already_served"]')
    expect(refused).to_be_visible()
    expect(refused.locator("#already")).to_contain_text(data.site_name)
    expect(refused.locator("#advice")).to_contain_text("原价")
    expect(refused.locator("form.pending")).to_have_count(1)
    expect(scan).to_be_focused()
    check_axe(page, "the refusal panel", "#result")

    # Esc cancels: the panel goes, nothing was sold.
    page.keyboard.press("Escape")
    expect(page.locator("#result .panel")).to_have_count(0)
    expect(page.locator("#tally-meals")).to_have_text("1")

    assert not page.js_errors, page.js_errors


def test_receipt_and_english(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    page.keyboard.type(data.token)
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-preview")).to_be_visible()
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_be_visible()
    meal_id = ok.get_attribute("data-meal-id")

    page.goto(f"/counter/receipt/{meal_id}")
    receipt = page.locator(".receipt")
    expect(receipt).to_contain_text(data.site_name)
    expect(receipt).to_contain_text("¥3.00")
    expect(receipt).to_contain_text("¥47.00")
    assert "低保" not in receipt.inner_text()
    check_axe(page, "the receipt")

    # English through the language switch; the counter still works by keyboard.
    page.goto(f"/counter/{data.site_id}")
    page.get_by_role("link", name="English").click()
    page.wait_for_url(f"**/counter/{data.site_id}")
    expect(page.locator("label[for=scan]")).to_contain_text("Scan the card")
    page.keyboard.type(data.token)
    page.keyboard.press("Enter")
    refused = page.locator('#result .panel-refused[data-code="already_served"]')
    expect(refused).to_be_visible()
    expect(refused.locator("#advice")).to_contain_text("full price")
    check_axe(page, "the English refusal panel", "#result")
    assert not page.js_errors, page.js_errors


def test_manual_path_void_walk_in_and_top_up(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    tally = page.locator("#tally-meals")

    # The card fails: look the elder up by name, give a reason, serve by hand.
    page.keyboard.press("F6")
    expect(page.locator("#lookup-q")).to_be_focused()
    page.keyboard.type("王秀英")
    page.keyboard.press("Enter")
    page.locator("button[data-pick]").first.click()
    expect(page.locator("#manual-reason")).to_be_focused()
    page.keyboard.press("Enter")  # no reason yet: refused next to the field, in words
    expect(page.locator("#manual-error")).to_be_visible()
    page.keyboard.type("卡忘在家里")
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-preview #copay")).to_have_text("¥3.00")
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok")).to_be_visible()
    expect(tally).to_have_text("1")

    # Void the last meal (reason required): the tally drops back.
    page.keyboard.press("F8")
    expect(page.locator("#void-reason")).to_be_focused()
    page.keyboard.type("录错了")
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok[data-voided]")).to_be_visible()
    expect(tally).to_have_text("0")

    # A walk-in sale: F4, then Enter sells the chosen set for cash at full price.
    page.keyboard.press("F4")
    expect(page.locator("#result .panel-preview")).to_contain_text("¥15.00")
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok")).to_be_visible()
    expect(tally).to_have_text("1")

    # A cash top-up for the last elder shown (F7): the amount in yuan.
    page.keyboard.type(data.number)
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-preview")).to_be_visible()
    page.keyboard.press("F7")
    expect(page.locator("#topup-amount")).to_be_focused()
    page.keyboard.type("20.5")
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_contain_text("¥20.50")
    expect(ok).to_contain_text("¥70.50")
    expect(ok.locator('a[href^="/receipts/topups/"]')).to_have_count(1)
    check_axe(page, "the top-up result", "#result")
    assert not page.js_errors, page.js_errors


# --------------------------------------------------------------------------- issue 16: whose, and in words

SHOTS = Path(os.environ.get("CANTEEN_TEST_SHOTS_DIR") or Path(tempfile.gettempdir()) / "canteen-shots")
TZ = ZoneInfo("Asia/Shanghai")


def shot(page: Any, name: str) -> None:
    """A 1024×768 screenshot for a person to look at (not compared by the test)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"cashier-{name}.png"))


def _clock_now() -> set[str]:
    """The Shanghai wall clock now and a minute ago (a test may straddle the minute)."""
    now = dt.datetime.now(TZ)
    return {now.strftime("%H:%M"), (now - dt.timedelta(minutes=1)).strftime("%H:%M")}


def scan_card(page: Any, text: str) -> Any:
    """Scan as a USB scanner does; returns the panel the scan brought (not the one before it)."""
    page.evaluate("() => document.querySelectorAll('#result .panel').forEach(p => p.dataset.stale = '1')")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    panel = page.locator("#result .panel:not([data-stale])")
    expect(panel).to_be_visible()
    return panel


def test_f2_cash_is_for_one_elder_only(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(lambda: _set_up(second_fen=5000))
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    toggle = page.locator("#payment-toggle")
    pending = page.locator("#result form.pending input[name=payment]")

    # 王秀英 pays cash (F2 on her price), and is served in cash.
    scan_card(page, data.token)
    expect(pending).to_have_value("balance")
    page.keyboard.press("F2")
    expect(page.locator("#result .panel-preview")).to_contain_text("现金")
    expect(pending).to_have_value("cash")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_contain_text("请收现金 ¥3.00")
    # Served: the choice is gone; the next elder starts from the balance.
    expect(toggle).to_have_attribute("aria-pressed", "false")
    scan_card(page, data.token2)
    expect(page.locator("#result .panel-preview .name")).to_have_text("李建国")
    expect(pending).to_have_value("balance")
    expect(page.locator("#result .panel-preview")).to_contain_text("扣后 ¥47.00")

    # F2 on a price that is then abandoned for another scan: the new elder is on the balance.
    page.keyboard.press("F2")
    expect(pending).to_have_value("cash")
    scan_card(page, data.token)  # a QR scan (a typed number's first digit would pick a set here)
    expect(page.locator("#result .panel-refused[data-code=already_served]")).to_be_visible()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Escape")

    # F2 with nothing on screen arms cash for exactly the next scan; Esc clears it.
    page.keyboard.press("F2")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("F2")
    scan_card(page, data.token2)
    expect(pending).to_have_value("cash")
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok")).to_contain_text("请收现金 ¥3.00")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#tally-meals")).to_have_text("2")
    assert not page.js_errors, page.js_errors


def test_top_up_says_whose_balance_and_refuses_without_an_elder(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")

    # Serve 王秀英, then a walk-in: F7 must not top up 王秀英 (she is no longer on screen).
    scan_card(page, data.token)
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok")).to_be_visible()
    page.keyboard.press("F4")
    expect(page.locator("#result .panel-preview")).to_contain_text("散客")
    page.keyboard.press("Enter")
    expect(page.locator("#result .panel-ok")).to_contain_text("散客")
    page.keyboard.press("F7")
    refusal = page.locator("#topup-no-elder")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("屏幕上没有长者")
    expect(page.locator("#topup-amount")).to_have_count(0)
    expect(page.locator("#tool-topup")).not_to_contain_text("王秀英")
    expect(page.locator("#tool-topup [data-tool=lookup]")).to_be_focused()
    check_axe(page, "the top-up refusal", "#tool-topup")
    shot(page, "topup-nobody")
    page.keyboard.press("Escape")

    # With her card scanned, F7 names her: name, masked card, masked ID, balance now.
    scan_card(page, data.number)  # already served: the refusal is still about her
    page.keyboard.press("F7")
    whose = page.locator("#topup-whose")
    expect(whose).to_be_visible()
    expect(whose.locator(".name")).to_have_text("王秀英")
    masked_card = f"***-**{data.number.replace('-', '')[5:7]}-{data.number.replace('-', '')[7:]}"
    expect(whose).to_contain_text(masked_card)
    assert data.number not in whose.inner_text()
    expect(whose).to_contain_text("当前余额 ¥47.00")
    expect(page.locator("#topup-form button[type=submit]")).to_contain_text("王秀英")
    expect(page.locator("#topup-amount")).to_be_focused()
    check_axe(page, "the top-up form", "#tool-topup")
    shot(page, "topup-whose")
    page.keyboard.type("30")
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok.locator(".name")).to_have_text("王秀英")
    expect(ok).to_contain_text("¥77.00")
    assert not page.js_errors, page.js_errors


def test_void_shows_whose_meal_from_the_server_list(browser: Any, page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    scan_card(page, data.token)
    page.keyboard.press("Enter")
    served = page.locator("#result .panel-ok")
    expect(served).to_be_visible()
    meal_id = served.get_attribute("data-meal-id")
    clock = _clock_now()

    # Another till (a fresh browser: nothing kept in it) sees the same meal in its void list.
    other = browser.new_context(
        base_url=live_server.url, viewport={"width": 1024, "height": 768}, locale="zh-CN"
    )
    try:
        till = other.new_page()
        till.js_errors = []
        till.on("pageerror", lambda exc: till.js_errors.append(str(exc)))
        sign_in(till, "cashier_a")
        till.goto(f"/counter/{data.site_id}")
        till.keyboard.press("F8")
        listed = till.locator(f"#void-list [data-void-pick='{meal_id}']")
        expect(listed).to_be_visible()
        expect(listed).to_contain_text("王秀英")
        expect(listed).to_contain_text("红烧肉套餐")
        expect(listed).to_contain_text("¥3.00")
        assert listed.locator(".when").inner_text() in clock, (listed.inner_text(), clock)
        # The newest meal is shown before anything is voided: whose, when, what, how much.
        whose = till.locator("#void-whose")
        expect(whose.locator(".name")).to_have_text("王秀英")
        expect(whose).to_contain_text("3301")  # the masked ID
        expect(whose).to_contain_text("午餐 · 红烧肉套餐")
        expect(whose).to_contain_text("¥3.00 · 从余额扣款")
        when = whose.locator("dd").nth(1).inner_text()
        assert "年" in when and when[-5:] in clock, when  # a date in words, Shanghai time
        expect(till.locator("#void-form button[type=submit]")).to_contain_text("王秀英")
        expect(till.locator("#void-reason")).to_be_focused()
        check_axe(till, "the void tool", "#tool-void")
        shot(till, "void-whose")

        # A number that is not a meal here: said next to the field, nothing voided.
        till.locator("#void-meal").fill("999999")
        till.locator("#void-meal").press("Enter")
        expect(till.locator("#void-error")).to_contain_text("没有这个餐号")
        expect(till.locator("#void-whose")).to_have_count(0)
        till.locator(f"#void-list [data-void-pick='{meal_id}']").click()
        expect(till.locator("#void-whose .name")).to_have_text("王秀英")

        # No reason: refused next to the field. With one: void, naming whose meal it was.
        till.keyboard.press("Enter")
        expect(till.locator("#void-reason-error")).to_be_visible()
        till.locator("#void-reason").fill("录错了")
        till.keyboard.press("Enter")
        done = till.locator("#result .panel-ok[data-voided]")
        expect(done.locator(".name")).to_have_text("王秀英")
        expect(done).to_contain_text("¥3.00已退回余额")
        expect(till.locator("#tally-meals")).to_have_text("0")
        # Gone from the list on every till.
        till.keyboard.press("F8")
        expect(till.locator("#void-none")).to_be_visible()
        assert not till.js_errors, till.js_errors
    finally:
        other.close()
    assert not page.js_errors, page.js_errors


def test_low_balance_says_what_is_missing_and_offers_cash(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(lambda: _set_up(second_fen=100))  # 李建国 has ¥1.00 for a ¥3.00 co-pay
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    panel = scan_card(page, data.token2)
    short = panel.locator("#short")
    expect(short).to_have_text("余额不足：还差¥2.00，请收现金或先充值（F7）。")
    expect(panel).not_to_contain_text("扣后")
    expect(panel).not_to_contain_text("−¥")
    expect(panel.locator("form.pending button")).to_have_text("收现金 ¥3.00（Enter）")
    expect(panel.locator("form.pending input[name=payment]")).to_have_value("cash")
    expect(page.locator("#payment-toggle")).to_have_attribute("aria-pressed", "true")
    check_axe(page, "the short-balance panel", "#result")
    shot(page, "short-balance")
    # F7 from here tops up the elder on screen.
    page.keyboard.press("F7")
    expect(page.locator("#topup-whose .name")).to_have_text("李建国")
    page.keyboard.press("Escape")
    # Enter takes the cash.
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_contain_text("请收现金 ¥3.00")
    expect(page.locator("#payment-toggle")).to_have_attribute("aria-pressed", "false")
    assert not page.js_errors, page.js_errors


def test_receipt_labels_stay_on_one_line_and_show_the_balance(page: Any, live_server: LiveServer) -> None:
    data = live_server.run(_set_up)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    scan_card(page, data.token)
    page.keyboard.press("Enter")
    meal_id = page.locator("#result .panel-ok").get_attribute("data-meal-id")
    page.goto(f"/counter/receipt/{meal_id}")
    receipt = page.locator(".receipt")
    expect(receipt.locator("dt", has_text="余额")).to_be_visible()
    expect(receipt).to_contain_text("¥47.00")
    expect(receipt).to_contain_text("从余额扣款")
    when = receipt.locator("dd").first.inner_text()
    assert "年" in when and when[-5:] in _clock_now(), when
    shot(page, "receipt")
    for media in ("screen", "print"):
        page.emulate_media(media=media)
        lines = page.evaluate(
            """() => [...document.querySelectorAll('.receipt dt')].map(dt => {
                 const r = document.createRange(); r.selectNodeContents(dt);
                 const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                 return [dt.textContent, tops.size]; })"""
        )
        wrapped = [text for text, n in lines if n != 1]
        assert not wrapped, f"labels wrapped on {media}: {wrapped}"
        # One label and its value per line of the slip, the amounts unbroken.
        rows = page.evaluate(
            """() => { const dl = document.querySelector('.receipt dl').getBoundingClientRect();
                 return [...document.querySelectorAll('.receipt dl > div')].map(d => {
                   const dd = d.querySelector('dd');
                   const r = document.createRange(); r.selectNodeContents(dd);
                   const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                   return [d.textContent.trim(), Math.round(d.getBoundingClientRect().width - dl.width),
                           tops.size, dd.textContent.includes('¥')]; }); }"""
        )
        assert all(gap == 0 for _, gap, _, _ in rows), rows
        assert all(n == 1 for _, _, n, money in rows if money), rows
    page.emulate_media(media="screen")
    check_axe(page, "the receipt")


def _closed_hours() -> tuple[list[dict[str, str]], str]:
    """Serving hours that are surely closed now, and the words the counter should say."""
    now = dt.datetime.now(TZ)
    if now.hour < 20:
        start = f"{now.hour + 2:02d}:00"
        return [{"slot": "lunch", "start": start, "end": f"{now.hour + 3:02d}:00", "cutoff": "00:00"}], (
            f"下次供餐：今天午餐，{start} 开始。"
        )
    early = [{"slot": "lunch", "start": "06:00", "end": "07:00", "cutoff": "00:00"}]
    return early, "下次供餐：明天午餐，06:00 开始。"


def test_out_of_hours_says_closed_and_when_it_opens(page: Any, live_server: LiveServer) -> None:
    hours, words = _closed_hours()
    data = live_server.run(lambda: _set_up(slots=hours))
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{data.site_id}")
    closed = page.locator("#closed")
    expect(closed).to_contain_text("收银台已关闭")
    expect(closed).to_contain_text(words)
    expect(page.locator("body")).not_to_contain_text("还没有发布菜单")
    check_axe(page, "the closed counter")
    shot(page, "closed")
    # A scan anyway: refused with the same words.
    refused = scan_card(page, data.token)
    expect(refused).to_have_attribute("data-code", "slot_closed")
    expect(refused.locator("#next-serving")).to_have_text(words)
    assert not page.js_errors, page.js_errors


@pytest.mark.skipif(
    os.environ.get("CANTEEN_TEST_UPDATE_DOCS") != "1",
    reason="loads the whole demo district (minutes); CANTEEN_TEST_UPDATE_DOCS=1 refreshes the picture",
)
def test_counter_screenshot_from_the_demo(browser: Any) -> None:
    """The README's cashier picture, docs/screenshots/cashier.png: the demo district, its cashier,
    a demo elder's price on the counter at 1024×768."""
    from tests.web.conftest import _in_thread, serving

    found: list[tuple[int, str]] = []

    async def demo() -> None:
        from canteen.core.cache import clear_all
        from canteen.demo.district import load_demo
        from canteen.payments.ledger import balance_of
        from canteen.regions.tables import Site
        from canteen.registry.card_services import card_token
        from canteen.registry.tables import Card, Elder

        await load_demo()
        site = await Site.select(Site.id, Site.district).where(Site.name == "卖鱼桥幸福食堂").first()
        assert site is not None
        # Lunch all day at this one counter, so the picture never depends on the hour it is taken.
        await Site.update({Site.slots: ALL_DAY}).where(Site.id == site["id"])
        clear_all()
        elders = await Elder.select(Elder.id).where(Elder.district == site["district"]).order_by(Elder.id)
        carded = {r["elder"] for r in await Card.select(Card.elder).where(Card.revoked_at.is_null())}
        for e in elders:
            if e["id"] in carded and await balance_of(e["id"]) >= 2000:
                found.append((site["id"], await card_token(e["id"])))
                return
        raise AssertionError("no demo elder with a card and a balance")

    _in_thread(demo)  # before the server starts: the demo is loaded on a loop of its own
    site_id, token = found[0]
    with serving() as server:
        context = browser.new_context(
            base_url=server.url, viewport={"width": 1024, "height": 768}, locale="zh-CN"
        )
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/login")
            page.fill("#username", "cashier")
            page.fill("#password", "demo")
            page.press("#password", "Enter")
            page.wait_for_url(re.compile(r"/$"))
            page.goto(f"/counter/{site_id}")
            panel = scan_card(page, token)
            expect(panel).to_have_attribute("data-outcome", re.compile("preview|refused"))
            DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS_SHOT))
            assert DOCS_SHOT.stat().st_size < 150_000
            check_axe(page, "the demo counter")
            assert not errors, errors
        finally:
            context.close()


def test_tools_of_another_site_are_refused(page: Any, live_server: LiveServer) -> None:
    """The void list and the top-up's name are reads of one site: a cashier of another is refused."""
    data = live_server.run(_set_up)
    sign_in(page, "cashier_b")
    for path in (f"/counter/{data.site_id}/void", f"/counter/{data.site_id}/topup?elder_id={data.elder_id}"):
        r = page.request.get(path)
        assert r.status == 403, (path, r.status)
        assert 'data-code="site_forbidden"' in r.text()
        assert "王秀英" not in r.text()
