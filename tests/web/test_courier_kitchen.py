"""Couriers (390×844) and kitchens (1024×768 and 360×740) in headless Chromium (issue #16).

The courier opens today's round, sees every time in Shanghai time and every status in words,
the cash to collect, a map link and a phone link for each stop, delivers with the card number,
records a refusal with big radio choices and an urgent welfare check that reaches the
official's alert list (times local there too); tomorrow's stop says when it can be closed and
refuses an early delivery in words. The kitchen reads the plan, labels and packing lists in
words on a tablet and on a phone. axe-core finds no serious or critical violation anywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import PASSWORD, make_world
from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Internal codes a person must never read: snake_case tokens (low_salt, not_home,
# out_for_delivery, urgent_welfare …) and ISO timestamps with an offset or a Z.
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
ISO_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|[+-]\d{2}:\d{2}\b|\d{2}:\d{2}:\d{2}Z")
CODE_WORDS = {"pending", "delivered", "refused", "failed", "planned", "done", "attention", "urgent", "fine"}


@dataclass
class Rounds:
    district: int
    kitchen: int
    today: dt.date
    tomorrow: dt.date
    today_round: int
    tomorrow_round: int
    cards: dict[int, str]  # elder id → card number (typed at the door)


async def _set_up() -> Rounds:
    """A satellite point cooked for by the central kitchen; four elders with cards and
    diets order delivery today and tomorrow (cash and balance); the official plans one
    round a day for the point's courier."""
    from canteen.accounts.tables import StaffUser
    from canteen.delivery.services import plan_rounds
    from canteen.registry.card_services import issue_card
    from canteen.registry.tables import Elder
    from canteen.settings import get_settings
    from tests.factories import add_user
    from tests.integration.delivery.data import (
        add_located_elder,
        add_menu,
        add_order,
        publish_demo_policy,
        staff,
    )

    w = await make_world()
    today = dt.datetime.now(dt.UTC).astimezone(get_settings().tz).date()
    tomorrow = today + dt.timedelta(days=1)
    await publish_demo_policy(w.district_x)
    admin = await staff("admin")
    official = await staff("official", district=w.district_x)
    courier = await add_user("courier_b", [("courier", None, w.site_b)])
    await StaffUser.update({StaffUser.display_name: "孙小兵"}).where(StaffUser.id == courier)
    cards: dict[int, str] = {}
    for day in (today, tomorrow):
        await add_menu(w.kitchen_x, day)
    for i in range(4):
        e = await add_located_elder(w.district_x, w.community_x, 700 + i)
        await Elder.update(
            {
                Elder.diet: [["low_salt", "soft"], ["low_sugar"], [], ["low_salt"]][i],
                Elder.address: f"大关路{10 + i}号",
                # One elder without a phone of their own: no empty phone link may appear.
                **({Elder.phone: "", Elder.emergency_phone: ""} if i == 2 else {}),
            }
        ).where(Elder.id == e)
        cards[e] = (await issue_card(admin, e, reason="new")).number
        for day in (today, tomorrow):
            await add_order(
                elder=e, district=w.district_x, site=w.site_b, day=day, payment="cash" if i % 2 else "balance"
            )
    ids = []
    for day in (today, tomorrow):
        out = await plan_rounds(official, w.site_b, day, "lunch", [courier], window_minutes=600)
        ids.append(out.rounds[0].id)
    return Rounds(
        district=w.district_x,
        kitchen=w.kitchen_x,
        today=today,
        tomorrow=tomorrow,
        today_round=ids[0],
        tomorrow_round=ids[1],
        cards=cards,
    )


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))


def check_page(page: Any, label: str) -> str:
    """No raw code, no ISO time, no serious axe violation; the visible text for more checks.

    On a Chinese page any lowercase status word (pending, delivered …) is a raw code too."""
    text = page.locator("main").inner_text()
    codes = RAW_CODE.findall(text)
    if page.evaluate("document.documentElement.lang") == "zh-CN":
        codes += [w for w in re.findall(r"\b[a-z]+\b", text) if w in CODE_WORDS]
    assert not codes, f"raw codes on {label}: {codes}"
    assert not ISO_STAMP.findall(text), f"ISO or UTC times on {label}: {ISO_STAMP.findall(text)}"
    found = axe_violations(page)
    print(f"\naxe on {label}: {len(found)} violation(s)\n{describe(found)}")
    bad = serious(found)
    assert not bad, f"serious/critical axe violations on {label}:\n{describe(bad)}"
    return str(text)


def _hhmm(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%H:%M")


def test_courier_local_times_words_cash_map_and_no_early_delivery(
    browser: Any, live_server: LiveServer
) -> None:
    from canteen.delivery.services import manifest

    data = live_server.run(_set_up)
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, "courier_b")

    page.goto("/courier")
    text = check_page(page, "my rounds")
    assert "今日" in text and "明天" in text and "午餐" in text

    async def stops_of(rid: int) -> Any:
        from tests.integration.delivery.data import staff

        return await manifest(await staff("admin"), rid)

    m = live_server.run(lambda: stops_of(data.today_round))
    page.goto(f"/courier/rounds/{data.today_round}")
    text = check_page(page, "today's manifest")
    for s in m.stops:
        assert s.eta is not None
        # The ETA in Shanghai time, never the UTC clock (8 hours apart, so never equal).
        assert f"预计到达 {_hhmm(s.eta)}" in text
        assert f"预计到达 {s.eta.astimezone(dt.UTC).strftime('%H:%M')}" not in text
    # Every stop has a map search link, a maps-app link on its page, and a phone link with text.
    assert page.locator(".manifest a[href^='https://uri.amap.com/']").count() == len(m.stops)
    for link in page.locator("a[href^='tel:']").all():
        assert link.inner_text().strip(), "an empty phone link"
    assert "低盐、软食/碎食" in text  # diets in words
    # In English too: statuses, slots and diets in words, times local.
    page.goto(f"/lang/en?next=/courier/rounds/{data.today_round}")
    text = check_page(page, "today's manifest in English")
    assert "Low salt, Soft / minced" in text and "To deliver" in text and "Lunch" in text
    first_eta = m.stops[0].eta
    assert first_eta is not None and f"ETA {_hhmm(first_eta)}" in text
    page.goto(f"/lang/zh-CN?next=/courier/rounds/{data.today_round}")

    cash_stop = next(s for s in m.stops if s.to_collect_fen)
    page.goto(f"/courier/stops/{cash_stop.id}")
    text = check_page(page, "a cash stop")
    amount = f"¥{cash_stop.to_collect_fen / 100:.2f}"
    expect(page.locator(".stop-cash")).to_contain_text(amount)
    expect(page.locator("a[href^='geo:']")).to_have_count(1)
    expect(page.locator("a[href^='https://uri.amap.com/']")).to_have_count(1)
    page.fill("#card", data.cards[cash_stop.elder_id])
    page.locator("#deliver-form button[type=submit]").click()
    page.wait_for_url(f"**/courier/stops/{cash_stop.id}")
    text = check_page(page, "a delivered stop")
    done = live_server.run(lambda: stops_of(data.today_round))
    delivered = next(s for s in done.stops if s.id == cash_stop.id)
    assert delivered.status == "delivered" and delivered.delivered_at is not None
    assert f"送达时间 {_hhmm(delivered.delivered_at)}" in text
    assert "已送达" in text

    # Not delivered: the outcome choices are big radios with text, each at least 48 px high.
    other = next(s for s in m.stops if s.id != cash_stop.id)
    page.goto(f"/courier/stops/{other.id}")
    choices = page.locator("fieldset.choices label.choice")
    expect(choices).to_have_count(3)
    for box in (c.bounding_box() for c in choices.all()):
        assert box is not None and box["height"] >= 48 and box["width"] >= 200
    # "Urgent" stands apart from "needs attention": a separate, bordered block below it.
    calm = page.get_by_role("button", name="需要关注").bounding_box()
    urgent = page.get_by_role("button", name=re.compile("^紧急")).bounding_box()
    assert calm is not None and urgent is not None and urgent["y"] - (calm["y"] + calm["height"]) >= 24
    page.get_by_text("拒收", exact=True).click()
    page.fill("#reason", "老人说今天不想吃")
    page.get_by_role("button", name="保存：未送达").click()
    page.wait_for_url(f"**/courier/stops/{other.id}")
    expect(page.locator("main")).to_contain_text("未送达：拒收")
    check_page(page, "a refused stop")
    page.fill("#note", "老人摔倒，意识清醒")
    page.get_by_role("button", name=re.compile("^紧急")).click()
    page.wait_for_url(f"**/courier/stops/{other.id}")
    expect(page.locator("main")).to_contain_text("已记录")

    page.goto(f"/courier/rounds/{data.today_round}")
    check_page(page, "the manifest with a delivered and a refused stop")  # contrast of closed stops

    # Tomorrow's stop: it says when it can be closed and offers no delivery form …
    t = live_server.run(lambda: stops_of(data.tomorrow_round))
    early = t.stops[0]
    page.goto(f"/courier/stops/{early.id}")
    text = check_page(page, "tomorrow's stop")
    expect(page.locator("#too-early")).to_contain_text(f"{data.tomorrow.month}月{data.tomorrow.day}日")
    expect(page.locator("#deliver-form")).to_have_count(0)
    # … and a delivery posted anyway (an old tab, a replayed form) is refused in words.
    page.evaluate(
        """([action, card]) => {
            const f = document.createElement('form');
            f.method = 'post'; f.action = action;
            const token = document.querySelector('input[name=_csrf_token]').cloneNode();
            const c = document.createElement('input'); c.name = 'card'; c.value = card;
            f.append(token, c); document.body.append(f); f.submit();
        }""",
        [f"/courier/stops/{early.id}/deliver", data.cards[early.elder_id]],
    )
    page.wait_for_load_state()
    refusal = page.locator("#stop-error")
    expect(refusal).to_have_attribute("data-code", "delivery_too_early")
    expect(refusal).to_contain_text("到送餐当天才能登记")
    check_page(page, "the early-delivery refusal")
    after = live_server.run(lambda: stops_of(data.tomorrow_round))
    assert {s.status for s in after.stops} == {"pending"}
    assert not errors, errors
    context.close()

    # The official's alert list: the urgent check in words, raised at a Shanghai time.
    office = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="zh-CN"
    )
    op = office.new_page()
    sign_in(op, "official_x")
    op.goto(f"/official/districts/{data.district}/alerts")
    text = check_page(op, "the official's alerts")
    assert "紧急探视" in text and "未处理" in text and "老人摔倒" in text
    shown = re.findall(r"(\d{4})年(\d{1,2})月(\d{1,2})日 (\d{2}:\d{2})", text)
    assert shown, text
    now_local = dt.datetime.now(SHANGHAI)
    y, mo, d, hm = shown[0]
    raised = dt.datetime(int(y), int(mo), int(d), *map(int, hm.split(":")), tzinfo=SHANGHAI)
    assert abs((now_local - raised).total_seconds()) < 180, (raised, now_local)
    office.close()


@pytest.mark.parametrize("viewport", [(1024, 768), (360, 740)], ids=["tablet", "phone"])
def test_kitchen_plan_labels_and_packing_in_words(
    browser: Any, live_server: LiveServer, viewport: tuple[int, int]
) -> None:
    data = live_server.run(_set_up)
    width, height = viewport
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, "kitchen_k")
    page.goto("/kitchen")
    page.wait_for_url(re.compile(rf"/kitchen/{data.kitchen}/plan"))
    text = check_page(page, f"the plan at {width}px")
    day = data.tomorrow
    assert f"{day.year}年{day.month}月{day.day}日" in text and "午餐" in text
    assert "截止时间" in text and "09:00" in text  # 01:00 UTC, said in Shanghai time
    assert "低盐" in text and "低糖（糖尿病）" in text
    # The round leaving from the satellite point is listed (no "no rounds yet" beside it).
    assert "尚未规划送餐路线" not in text
    expect(page.locator(f"a[href$='#round-{data.tomorrow_round}']")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the side
    for cell in page.locator("table.stack tbody th[scope=row]").all():
        box = cell.bounding_box()
        # A meal set's name reads on one or two lines, never one character per line.
        assert box is not None and box["width"] >= 120 and box["height"] < 70, box

    page.goto(f"/kitchen/{data.kitchen}/labels?date={day.isoformat()}&slot=lunch")
    text = check_page(page, f"the labels at {width}px")
    labels = page.locator("article.label")
    expect(labels).to_have_count(4)
    for lb in labels.all():
        words = lb.inner_text()
        assert f"{day.month}月{day.day}日" in words and "午餐" in words
        assert re.search(r"路线 \d+ · 第 \d 站", words), words
        assert "质地" in words and "饮食要求" in words
    assert "软食/碎食" in text
    allergy = page.locator(".label-allergy").first
    expect(allergy).to_contain_text("过敏")
    body = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    big = float(allergy.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert big >= 1.4 * body, (big, body)

    page.goto(f"/kitchen/{data.kitchen}/packing?date={day.isoformat()}&slot=lunch")
    text = check_page(page, f"the packing lists at {width}px")
    assert "送餐员" in text and "4 站" in text
    context.close()
