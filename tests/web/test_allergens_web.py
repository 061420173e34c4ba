"""Issue #17 in headless Chromium: a shrimp-allergic elder sees the set with 白灼虾 last, marked
in words and not orderable; the cashier page refuses it in words and serves it only after F3 and
a typed reason (audited); the kitchen labels show the allergens and the texture in words."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import LiveServer
from tests.web.test_cashier import _set_up as counter_set_up
from tests.web.test_cashier import check_axe, sign_in
from tests.web.test_elder_ordering import check_page, phone  # noqa: F401 - the phone fixture
from tests.web.test_elder_ordering import sign_in as elder_sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


async def _shrimp_menu(site_id: int, district_id: int, day: Any, elder_id: int, first_name: str) -> None:
    """The site's menu for ``day``: ``first_name`` with 白灼虾 first, 青菜套餐 second; the elder is
    allergic to crustaceans and eats minced food (IDDSI 5)."""
    from canteen.accounts.services import load_principal
    from canteen.accounts.tables import StaffUser
    from canteen.menus.schemas import DishCreate, MealSetIn
    from canteen.menus.services import create_dish, set_menu
    from canteen.registry.tables import Elder

    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "admin").first()
    assert row is not None
    admin = await load_principal(row["id"])
    assert admin is not None
    shrimp = await create_dish(
        admin, DishCreate(district_id=district_id, name="白灼虾", allergens=["crustacean"])
    )
    greens = await create_dish(admin, DishCreate(district_id=district_id, name="青菜泥", texture_level=4))
    await set_menu(
        admin,
        site_id,
        day,
        "lunch",
        [
            MealSetIn(name=first_name, list_price_fen=1500, dish_ids=[shrimp.id]),
            MealSetIn(name="青菜套餐", list_price_fen=1200, dish_ids=[greens.id]),
        ],
    )
    await Elder.update({Elder.allergens: ["crustacean"], Elder.texture_level: 5}).where(Elder.id == elder_id)


async def _elder_world() -> Any:
    from canteen.registry.tables import Elder
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    d = await delivery_world(await make_world(), n_elders=1)
    row = await Elder.select(Elder.district).where(Elder.id == d.elders[0]).first()
    assert row is not None
    await _shrimp_menu(d.site, int(row["district"]), d.tomorrow, d.elders[0], "白灼虾套餐")
    return d


def test_the_elder_sees_the_allergen_set_last_and_cannot_order_it(
    phone: Any,  # noqa: F811
    live_server: LiveServer,
) -> None:
    d = live_server.run(_elder_world)
    elder = d.elders[0]
    elder_sign_in(phone, d.numbers[elder])
    phone.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch")
    choices = phone.locator(".set-choice")
    expect(choices).to_have_count(2)
    expect(choices.nth(0)).to_contain_text("青菜套餐")
    last = phone.locator("li.allergen-conflict")
    expect(last).to_contain_text("白灼虾套餐")
    expect(last).to_contain_text("含有您过敏的食物：虾蟹等甲壳类")
    expect(last).to_contain_text("请打电话给社区工作人员")
    # Not a link: nothing to tap that would order it.
    expect(last.locator("a")).to_have_count(0)
    check_page(phone, "choose, allergen last")
    # Typing the confirm address of the set by hand is refused in words, nothing is ordered.
    set_id = live_server.run(lambda: _set_id(d.site, d.tomorrow, "白灼虾套餐"))
    phone.goto(f"/elder/{elder}/order/{d.tomorrow.isoformat()}/lunch/{set_id}")
    expect(phone.locator("main")).to_contain_text("虾蟹等甲壳类")


async def _set_id(site_id: int, day: Any, name: str) -> int:
    from canteen.menus.services import menu_for

    menu = await menu_for(site_id, day, "lunch")
    assert menu is not None
    return next(s.id for s in menu.sets if s.name == name)


async def _counter_world() -> Any:
    from canteen.core.clock import utcnow
    from canteen.registry.tables import Elder
    from canteen.settings import get_settings

    c = await counter_set_up()
    row = await Elder.select(Elder.district).where(Elder.id == c.elder_id).first()
    assert row is not None
    today = utcnow().astimezone(get_settings().tz).date()
    # The same first set name as the counter's own test: updated in place with the shrimp.
    await _shrimp_menu(c.site_id, int(row["district"]), today, c.elder_id, "红烧肉套餐")
    return c


async def _overrides() -> list[dict[str, Any]]:
    from canteen.core.tables import AuditEntry

    return list(
        await AuditEntry.select(AuditEntry.after)
        .where(AuditEntry.action == "meal.allergen_override")
        .output(load_json=True)
    )


def test_the_cashier_sees_the_refusal_in_words_and_overrides_with_a_reason(
    page: Any, live_server: LiveServer
) -> None:
    c = live_server.run(_counter_world)
    sign_in(page, "cashier_a")
    page.goto(f"/counter/{c.site_id}")
    scan = page.locator("#scan")
    expect(scan).to_be_focused()
    page.keyboard.type(c.token)
    page.keyboard.press("Enter")
    refused = page.locator('#result .panel-refused[data-code="allergen_conflict"]')
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("该套餐含有长者过敏的食物：虾蟹等甲壳类")
    expect(refused.locator("#advice")).to_contain_text("F3")
    expect(scan).to_be_focused()
    check_axe(page, "the allergen refusal", "#result")
    # Enter on the empty scan field does not serve it.
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(page.locator("#tally-meals")).to_have_text("0")
    # F3 goes to the reason; a one-letter reason is refused in words, a real one serves.
    page.keyboard.press("F3")
    expect(page.locator("#override-reason")).to_be_focused()
    page.keyboard.type("家属确认")
    page.keyboard.press("Enter")
    ok = page.locator("#result .panel-ok")
    expect(ok).to_be_visible()
    expect(page.locator("#tally-meals")).to_have_text("1")
    rows = live_server.run(_overrides)
    assert len(rows) == 1 and rows[0]["after"]["reason"] == "家属确认"
    assert rows[0]["after"]["allergens"] == ["crustacean"]
    assert not page.js_errors, page.js_errors


async def _labelled() -> Any:
    """The elder world with a staff-overridden order of the shrimp set for tomorrow."""
    import uuid

    from canteen.accounts.services import load_principal
    from canteen.accounts.tables import StaffUser
    from canteen.orders.services import place_order

    d = await _elder_world()
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "admin").first()
    assert row is not None
    admin = await load_principal(row["id"])
    assert admin is not None
    await place_order(
        admin,
        elder_id=d.elders[0],
        site_id=d.site,
        day=d.tomorrow,
        slot="lunch",
        meal_set_id=await _set_id(d.site, d.tomorrow, "青菜套餐"),
        payment="cash",
        idempotency_key=uuid.uuid4().hex,
    )
    return d


def test_kitchen_labels_show_allergens_and_texture_in_words(page: Any, live_server: LiveServer) -> None:
    d = live_server.run(_labelled)
    sign_in(page, "admin")
    page.goto(f"/kitchen/{d.site}/labels?date={d.tomorrow.isoformat()}&slot=lunch")
    label = page.locator("article.label").first
    expect(label.locator(".label-allergy")).to_contain_text("虾蟹等甲壳类")
    expect(label.locator(".label-texture")).to_contain_text("5级 细碎湿软")
    assert re.search(r"青菜套餐", label.inner_text())
