"""Old free allergen words on dishes become group codes (the rest kept as the dish's note).

A separate migration because Piccolo runs a migration's raw steps before its column changes.
"""

import json
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Varchar
from piccolo.table import Table

ID = "2026-12-01T19:41:51:000000"
VERSION = "1.38.0"
DESCRIPTION = "Old allergen words mapped to allergen group codes"


class _Dish(Table, tablename="dish"):
    # The columns this migration reads and writes, as they are at this point in history.
    id = Integer(primary_key=True)
    allergens = JSON(default="[]")
    allergen_note = Varchar(length=200, default="")


class _MealSet(Table, tablename="meal_set"):
    id = Integer(primary_key=True)
    dish_ids = JSON(default="[]")
    allergens = JSON(default="[]")


def _loads(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):
        value = json.loads(value or "[]")
    return list(value or [])


async def _words_to_codes() -> None:
    # Dish.allergens held free words (花生, 虾, 蛋 …): known words become group codes, the
    # rest is kept word for word in allergen_note. Then each set gets the union of its dishes'.
    from canteen.core.categories import allergens_from_words, sorted_allergens

    by_dish: dict[int, list[str]] = {}
    for row in await _Dish.select(_Dish.id, _Dish.allergens, _Dish.allergen_note):
        codes, unknown = allergens_from_words(_loads(row["allergens"]))
        note = "、".join([w for w in [row["allergen_note"] or ""] if w] + unknown)[:200]
        by_dish[int(row["id"])] = codes
        await _Dish.update({_Dish.allergens: codes, _Dish.allergen_note: note}).where(_Dish.id == row["id"])
    for row in await _MealSet.select(_MealSet.id, _MealSet.dish_ids):
        union = sorted_allergens(a for d in _loads(row["dish_ids"]) for a in by_dish.get(int(d), []))
        if union:
            await _MealSet.update({_MealSet.allergens: union}).where(_MealSet.id == row["id"])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="menus", description=DESCRIPTION)
    manager.add_raw(_words_to_codes)
    return manager
