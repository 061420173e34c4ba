"""Rows for delivery tests, inserted straight into the tables (orders come from another
service; these are the rows it stores)."""

from __future__ import annotations

import datetime as dt
import random

from canteen.checkin.tables import Meal
from canteen.menus.tables import DailyMenu, MealSet
from canteen.orders.tables import Order
from canteen.registry.tables import Elder
from tests.factories import NOW
from tests.integration.cards.elders import add_elder

DAY = dt.date(2026, 12, 2)  # a Wednesday after NOW
SETS = ("套餐A", "软食套餐")


async def add_menu(
    site: int, day: dt.date, slot: str = "lunch", cutoff: dt.datetime | None = None
) -> list[int]:
    rows = await DailyMenu.insert(
        DailyMenu(
            site=site,
            service_date=day,
            slot=slot,
            cutoff_at=cutoff or dt.datetime.combine(day, dt.time(1, 0), dt.UTC),  # 09:00 Shanghai
            updated_at=NOW,
        )
    ).returning(DailyMenu.id)
    ids = []
    for i, name in enumerate(SETS):
        r = await MealSet.insert(
            MealSet(menu=rows[0]["id"], name=name, list_price_fen=1500 - 300 * i, sort_order=i)
        ).returning(MealSet.id)
        ids.append(int(r[0]["id"]))
    return ids


async def add_meal(
    *,
    district: int,
    site: int,
    elder: int | None,
    day: dt.date,
    slot: str = "lunch",
    meal_set: int | None = None,
    mode: str = "dine_in",
    voided: bool = False,
) -> int:
    rows = await Meal.insert(
        Meal(
            district=district,
            site=site,
            elder=elder,
            service_date=day,
            slot=slot,
            mode=mode,
            served_at=dt.datetime.combine(day, dt.time(3, 30), dt.UTC),
            meal_set=meal_set,
            list_price_fen=1500,
            copay_fen=1500,
            payment="cash",
            voided_at=NOW if voided else None,
        )
    ).returning(Meal.id)
    return int(rows[0]["id"])


async def add_located_elder(
    district: int, community: int, i: int, rng: random.Random | None = None, **kw: object
) -> int:
    rng = rng or random.Random(i)
    elder = await add_elder(district=district, community=community, name=f"送餐长者{i}", **kw)  # type: ignore[arg-type]
    await Elder.update(
        {
            Elder.lat: 30.318 + rng.uniform(-0.02, 0.02),
            Elder.lon: 120.152 + rng.uniform(-0.02, 0.02),
            Elder.phone: f"1380000{i:04d}",
            Elder.diet: ["low_salt"] if i % 3 == 0 else [],
            Elder.allergies: "花生" if i % 5 == 0 else "",
            Elder.emergency_name: "王小明",
            Elder.emergency_phone: "13900001111",
        }
    ).where(Elder.id == elder)
    return elder


async def add_order(
    *,
    elder: int,
    district: int,
    site: int,
    day: dt.date = DAY,
    slot: str = "lunch",
    meal_set: int = 0,
    meal_set_name: str = SETS[0],
    status: str = "confirmed",
    diet: list[str] | None = None,
    updated_at: dt.datetime = NOW,
    payment: str = "balance",
) -> int:
    rows = await Order.insert(
        Order(
            elder=elder,
            district=district,
            site=site,
            service_date=day,
            slot=slot,
            meal_set=meal_set,
            meal_set_name=meal_set_name,
            diet_tags=diet or [],
            list_price_fen=1500,
            subsidy_fen=500,
            copay_fen=1000,
            total_due_fen=1000,
            payment=payment,
            payment_status="paid" if payment != "cash" else "due_on_delivery",
            status=status,
            placed_by_kind="staff",
            created_at=NOW,
            updated_at=updated_at,
            cancelled_at=updated_at if status == "cancelled" else None,
        )
    ).returning(Order.id)
    return int(rows[0]["id"])
