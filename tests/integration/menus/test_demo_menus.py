"""The demo menus load, and loading twice changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

from canteen.demo.district import load_district
from canteen.demo.menus import load_menus
from canteen.menus import services
from canteen.menus.tables import DailyMenu, Dish, MealSet


def test_demo_menus_are_idempotent() -> None:
    today = dt.date(2026, 11, 23)

    async def go() -> tuple[int, int, int]:
        district = await load_district()
        await load_menus(district, today=today)
        await load_menus(district, today=today)
        satellite = district.site_ids["左家新村助餐点"]
        menu = await services.menu_for(satellite, today, "lunch")
        assert menu is not None and menu.sets[0].name.startswith("套餐A")
        assert all(1200 <= s.list_price_fen <= 1800 for s in menu.sets)
        return await Dish.count(), await DailyMenu.count(), await MealSet.count()

    dishes, menus, sets = asyncio.run(go())
    assert dishes == 17 and menus > 0 and sets == 3 * menus
