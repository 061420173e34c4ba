"""The policy editor in headless Chromium at 1440×900: an official sets every field issue #11
added — a split of fixed amounts with a payer taking the rest, the per-day and monthly meal
limits, the money cap's crossing rule, a tier limited to a meal service and a meal type with its
own amount per type and its own payers — and watches the live preview show what each payer pays,
then saves the draft and finds each setting stored. axe-core finds nothing serious."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from tests.factories import PASSWORD
from tests.web.conftest import LiveServer, axe_violations, describe, serious

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture
def wide(browser: Any, live_server: LiveServer) -> Iterator[Any]:
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


async def _world() -> int:
    from tests.factories import make_world

    w = await make_world()
    return w.district_x


async def _stored() -> Any:
    from canteen.subsidies.schemas import Policy
    from canteen.subsidies.tables import SubsidyPolicy

    row = await SubsidyPolicy.select(SubsidyPolicy.document, SubsidyPolicy.status).first()
    raw = row["document"]
    doc = (
        msgspec.json.decode(raw, type=Policy)
        if isinstance(raw, str | bytes)
        else msgspec.convert(raw, Policy)
    )
    return doc, row["status"]


def _payer(page: Any, sample: str, source: str) -> Any:
    return page.locator(f"#preview tr[data-sample='{sample}'] td[data-payer='{source}']")


def _set(page: Any, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.locator(selector).blur()


def test_an_official_builds_a_policy_with_every_new_setting(wide: Any, live_server: LiveServer) -> None:
    page = wide
    district = live_server.run(_world)
    page.goto("/login")
    page.fill("#username", "official_x")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/$"))

    page.goto(f"/districts/{district}/policies/new")
    expect(page.locator("h1")).to_have_text("编辑补贴政策")
    # The demo template: city 60 % / district 40 %; the 91-year-old gets 8 yuan off.
    expect(_payer(page, "age91", "city")).to_have_text("¥4.80")

    # City 2 yuan and district 2 yuan a meal, the street the rest.
    page.select_option("#funding-city-how", "fixed")
    _set(page, "#funding-city", "2")
    page.select_option("#funding-district-how", "fixed")
    _set(page, "#funding-district", "2")
    page.select_option("#funding-street-how", "rest")
    expect(_payer(page, "age91", "street")).to_have_text("¥4.00")  # 8 = 2 + 2 + the rest 4
    expect(_payer(page, "age91", "city")).to_have_text("¥2.00")
    expect(_payer(page, "plain65", "city")).to_have_text("¥2.00")  # 2 off: the city's 2 first
    expect(_payer(page, "plain65", "street")).to_have_text("¥0.00")

    # Limits: one subsidised meal a day, 22 a month, a 200-yuan monthly cap crossed at full price.
    _set(page, "#per_day_limit", "1")
    _set(page, "#monthly_cap_meals", "22")
    _set(page, "#monthly_cap", "200")
    page.select_option("#cap_crossing", "full_price")

    # A new tier: therapeutic sets at lunch, 10 yuan off (6 for soft food), paid by the city alone.
    _set(page, "#tier-6-code", "therapy")
    _set(page, "#tier-6-name_zh", "治疗餐补贴")
    _set(page, "#tier-6-name_en", "Therapeutic meals")
    page.select_option("#tier-6-kind", "amount_off")
    _set(page, "#tier-6-value", "10")
    tier = page.locator("fieldset.card", has=page.locator("#tier-6-code"))
    tier.locator("input[name='tier-6-slot'][value='lunch']").check()
    tier.locator("input[name='tier-6-mtype'][value='therapeutic']").check()
    tier.locator("input[name='tier-6-mtype'][value='soft']").check()
    tier.locator("details > summary").click()
    _set(page, "#tier-6-type-soft", "6")
    page.check("#tier-6-own")
    page.select_option("#tier-6-funding-city-how", "percent")
    _set(page, "#tier-6-funding-city", "100")

    # The preview for a therapeutic set: the 91-year-old's best tier is now the therapy one,
    # 10 yuan, all of it the city's; a standard set stays with the policy's split.
    page.select_option("#preview_meal_type", "therapeutic")
    expect(_payer(page, "age91", "city")).to_have_text("¥10.00")
    expect(page.locator("#preview tr[data-sample='age91']")).to_contain_text("治疗餐补贴")
    page.select_option("#preview_meal_type", "soft")
    # A soft set: age90's 8 beats the tier's 6 for soft food, so the policy's split again.
    expect(_payer(page, "age91", "city")).to_have_text("¥2.00")
    expect(_payer(page, "age91", "street")).to_have_text("¥4.00")
    assert not page.js_errors

    found = axe_violations(page)
    assert not serious(found), describe(serious(found))

    page.get_by_role("button", name="保存为草稿").click()
    page.wait_for_url(re.compile(r"/policies/\d+$"))
    expect(page.locator("#policy-funding")).to_contain_text("其余部分")
    expect(page.locator("#policy-limits")).to_contain_text("22")

    doc, status = live_server.run(_stored)
    assert status == "draft"
    assert [(s.source, s.percent, s.fixed_fen, s.rest) for s in doc.funding] == [
        ("city", None, 200, False),
        ("district", None, 200, False),
        ("street", None, None, True),
    ]
    assert (doc.per_day_limit, doc.monthly_cap_meals, doc.monthly_cap_fen, doc.cap_crossing) == (
        1,
        22,
        20000,
        "full_price",
    )
    therapy = next(t for t in doc.tiers if t.code == "therapy")
    assert therapy.slots == ["lunch"] and therapy.meal_types == ["therapeutic", "soft"]
    assert [(v.meal_type, v.kind, v.value) for v in therapy.by_meal_type] == [("soft", "amount_off", 600)]
    assert therapy.funding is not None and [(s.source, s.percent) for s in therapy.funding] == [("city", 100)]
