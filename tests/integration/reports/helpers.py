"""Shared set-up for the report tests: principals, meals written as the counter would store them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from itertools import count
from typing import Any

from canteen.accounts.roles import Grant, Principal
from canteen.meals.rollups import apply_meal_id
from canteen.meals.tables import Meal

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
_KEYS = count(1)


def admin(world: Any) -> Principal:
    return Principal(
        user_id=world.users["admin"], username="admin", display_name="admin", grants=(Grant("admin"),)
    )


def official(world: Any, district: int | None = None) -> Principal:
    return Principal(
        user_id=world.users["official_x"],
        username="official_x",
        display_name="official_x",
        grants=(Grant("official", district_id=district or world.district_x),),
    )


def local(day: dt.date, hhmm: str) -> dt.datetime:
    h, m = hhmm.split(":")
    return dt.datetime(day.year, day.month, day.day, int(h), int(m), tzinfo=SHANGHAI).astimezone(dt.UTC)


async def add_meal(
    world: Any,
    *,
    site: int,
    elder: int | None,
    day: dt.date,
    at: str = "11:30",
    slot: str = "lunch",
    subsidised: bool = True,
    subsidy_fen: int = 500,
    list_price_fen: int = 1500,
    cashier: int | None = None,
    voided: bool = False,
    tier_code: str | None = "dibao",
    district: int | None = None,
    seconds: int = 0,
) -> int:
    served = local(day, at) + dt.timedelta(seconds=seconds)
    rows = await Meal.insert(
        Meal(
            district=district or world.district_x,
            site=site,
            elder=elder,
            service_date=day,
            slot=slot,
            mode="dine_in",
            served_at=served,
            list_price_fen=list_price_fen,
            subsidy_fen=subsidy_fen if subsidised else 0,
            copay_fen=list_price_fen - (subsidy_fen if subsidised else 0),
            funding=[{"source": "city", "fen": subsidy_fen}] if subsidised else [],
            payment="cash",
            subsidised=subsidised,
            tier_code=tier_code if subsidised else None,
            categories=["dibao"] if subsidised else [],
            operator=world.operator_x,
            cashier_id=cashier,
            idempotency_key=f"test-{next(_KEYS)}",
            voided_at=served + dt.timedelta(minutes=1) if voided else None,
        )
    ).returning(Meal.id)
    meal_id = int(rows[0]["id"])
    if not voided:
        # As meals.record does in the meal's own write: reports read the rollups, not the meals.
        await apply_meal_id(meal_id, +1)
    return meal_id
