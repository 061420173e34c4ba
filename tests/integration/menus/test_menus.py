"""Menus through their services: set, copy a week, satellites share the kitchen's menu, capacity."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from canteen.accounts.roles import Grant
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.menus import services as menus
from canteen.menus.schemas import DishCreate, DishUpdate, MealSetIn
from tests.factories import NOW
from tests.integration.payments.elders import admin, principal

MONDAY = dt.date(2026, 11, 23)


def kitchen_staff(world: Any) -> Any:
    return principal(world, "kitchen_k", [Grant("kitchen", None, world.kitchen_x)])


def _dishes(world: Any, run: Any) -> dict[str, int]:
    actor = admin(world)
    out = {}
    for name, tags in [
        ("红烧肉", []),
        ("番茄炒蛋", ["soft", "no_pork"]),
        ("香菇青菜", ["low_salt", "soft", "no_pork", "vegetarian"]),
        ("清蒸鲈鱼", ["low_salt", "soft", "no_pork"]),
    ]:
        view = run(
            lambda n=name, t=tags: menus.create_dish(
                actor, DishCreate(district_id=world.district_x, name=n, diet_tags=t), now=NOW
            )
        )
        out[name] = view.id
    return out


def _sets(d: dict[str, int], portions: int | None = None) -> list[MealSetIn]:
    return [
        MealSetIn(
            name="套餐A",
            list_price_fen=1500,
            dish_ids=[d["红烧肉"], d["香菇青菜"]],
            portions_available=portions,
        ),
        MealSetIn(name="套餐B", list_price_fen=1200, dish_ids=[d["清蒸鲈鱼"], d["番茄炒蛋"]]),
    ]


def test_set_menu_and_satellite_shares_kitchen_menu(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    menu = run(
        lambda: menus.set_menu(kitchen_staff(world), world.kitchen_x, MONDAY, "lunch", _sets(d), now=NOW)
    )
    assert [s.name for s in menu.sets] == ["套餐A", "套餐B"]
    # Set tags are the intersection of the dishes' tags.
    assert menu.sets[0].diet_tags == [] and menu.sets[1].diet_tags == ["soft", "no_pork"]
    assert menu.sets[1].dish_names == ["清蒸鲈鱼", "番茄炒蛋"]
    # A kitchen has no serving hours: the cut-off comes from its satellite (lunch 09:00 the same day).
    assert menu.cutoff_at == dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
    shared = run(lambda: menus.menu_for(world.site_b, MONDAY, "lunch"))
    assert shared is not None and shared.id == menu.id and shared.site_id == world.kitchen_x
    assert run(lambda: menus.menu_for(world.site_a, MONDAY, "lunch")) is None
    chosen = run(lambda: menus.meal_set_for(world.site_b, MONDAY, "lunch", menu.sets[1].id))
    assert chosen.name == "套餐B"
    assert run(lambda: menus.meal_set_for(world.site_b, MONDAY, "lunch", None)).name == "套餐A"
    with pytest.raises(DomainError) as info:
        run(lambda: menus.meal_set_for(world.site_a, MONDAY, "lunch", None))
    assert info.value.code == "no_menu"
    # A satellite cannot hold a menu of its own; kitchen staff cannot edit a canteen's menu.
    with pytest.raises(DomainError) as info:
        run(lambda: menus.set_menu(admin(world), world.site_b, MONDAY, "lunch", _sets(d), now=NOW))
    assert info.value.code == "menu_not_cooking_site"
    with pytest.raises(DomainError) as info:
        run(lambda: menus.set_menu(kitchen_staff(world), world.site_a, MONDAY, "lunch", _sets(d), now=NOW))
    assert info.value.code in ("forbidden", "not_found")


def test_breakfast_cutoff_is_the_evening_before(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    menu = run(lambda: menus.set_menu(admin(world), world.site_a, MONDAY, "breakfast", _sets(d), now=NOW))
    # Site A: breakfast starts 06:30, cut-off 18:00 → 18:00 Sunday in Shanghai = 10:00 UTC.
    assert menu.cutoff_at == dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def test_edit_menu_keeps_sold_sets(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    menu = run(lambda: menus.set_menu(admin(world), world.site_a, MONDAY, "lunch", _sets(d, 5), now=NOW))
    set_a = menu.sets[0].id

    async def take() -> bool:
        async with write_transaction():
            return await menus.take_portion(set_a)

    assert run(take)
    # Re-pricing keeps the set (and what was sold); dropping a sold set is refused.
    edited = [MealSetIn(name="套餐A", list_price_fen=1600, dish_ids=[d["红烧肉"]], portions_available=5)]
    again = run(lambda: menus.set_menu(admin(world), world.site_a, MONDAY, "lunch", edited, now=NOW))
    assert [(s.id, s.list_price_fen, s.portions_sold) for s in again.sets] == [(set_a, 1600, 1)]
    with pytest.raises(DomainError) as info:
        run(
            lambda: menus.set_menu(
                admin(world),
                world.site_a,
                MONDAY,
                "lunch",
                [MealSetIn(name="套餐C", list_price_fen=1000)],
                now=NOW,
            )
        )
    assert info.value.code == "meal_set_in_use"
    with pytest.raises(DomainError) as info:
        run(
            lambda: menus.set_menu(
                admin(world),
                world.site_a,
                MONDAY,
                "lunch",
                [MealSetIn(name="套餐A", list_price_fen=1000, portions_available=0)],
                now=NOW,
            )
        )
    assert info.value.code == "portions_below_sold"


def test_copy_week(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    for i in range(5):
        day = MONDAY + dt.timedelta(days=i)
        run(lambda day=day: menus.set_menu(admin(world), world.site_a, day, "lunch", _sets(d), now=NOW))
    next_monday = MONDAY + dt.timedelta(days=7)
    run(
        lambda: menus.set_menu(
            admin(world),
            world.site_a,
            next_monday,
            "lunch",
            [MealSetIn(name="节日套餐", list_price_fen=1800)],
            now=NOW,
        )
    )
    result = run(lambda: menus.copy_week(admin(world), world.site_a, MONDAY, next_monday, now=NOW))
    assert (result.copied, result.skipped) == (4, 1)
    week = run(
        lambda: menus.list_menus(admin(world), world.site_a, next_monday, next_monday + dt.timedelta(days=6))
    )
    assert [m.service_date.weekday() for m in week.items] == [0, 1, 2, 3, 4]
    assert [s.name for s in week.items[0].sets] == ["节日套餐"]  # never overwritten
    assert [s.name for s in week.items[1].sets] == ["套餐A", "套餐B"]
    assert week.items[1].sets[0].portions_sold == 0
    with pytest.raises(DomainError) as info:
        run(lambda: menus.copy_week(admin(world), world.site_a, MONDAY + dt.timedelta(days=1), next_monday))
    assert info.value.code == "validation_failed"


def test_dishes(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    actor = admin(world)
    run(lambda: menus.update_dish(actor, d["红烧肉"], DishUpdate(active=False), now=NOW))
    names = [x.name for x in run(lambda: menus.list_dishes(actor, world.district_x)).items]
    assert "红烧肉" not in names and "番茄炒蛋" in names
    cashier = principal(world, "cashier_a", [Grant("cashier", None, world.site_a)])
    with pytest.raises(DomainError) as info:
        run(lambda: menus.create_dish(cashier, DishCreate(district_id=world.district_x, name="白粥")))
    assert info.value.code == "forbidden"


def test_take_portion_concurrently_sells_exactly_the_capacity(world: Any, run: Any) -> None:
    d = _dishes(world, run)
    menu = run(lambda: menus.set_menu(admin(world), world.site_a, MONDAY, "lunch", _sets(d, 5), now=NOW))
    set_a = menu.sets[0].id

    async def take() -> str:
        try:
            async with write_transaction():
                await menus.take_portion(set_a)
            return "ok"
        except DomainError as err:
            return err.code

    async def many() -> list[str]:
        return list(await asyncio.gather(*(take() for _ in range(12))))

    results = run(many)
    assert results.count("ok") == 5 and results.count("sold_out") == 7
    after = run(lambda: menus.menu_for(world.site_a, MONDAY, "lunch"))
    assert after is not None and after.sets[0].portions_sold == 5

    async def release_then_take() -> bool:
        async with write_transaction():
            await menus.release_portion(set_a)
        async with write_transaction():
            return await menus.take_portion(set_a)

    assert run(release_then_take)
    # Unlimited sets never sell out.
    unlimited = menu.sets[1].id

    async def take_unlimited() -> bool:
        async with write_transaction():
            return await menus.take_portion(unlimited)

    assert all(run(take_unlimited) for _ in range(3))
