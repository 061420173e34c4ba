"""Menu Structs: bounded inputs and the views services return."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from canteen.core.schemas import Id, Input, Name
from canteen.subsidies.schemas import MealType

DietTagCode = Literal["low_salt", "low_sugar", "soft", "no_pork", "vegetarian"]
SlotCode = Literal["breakfast", "lunch", "dinner"]
SetName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
AllergenCode = Literal[
    "peanut", "tree_nut", "milk", "egg", "fish", "crustacean", "mollusc", "soy", "wheat", "sesame"
]
Allergens = Annotated[list[AllergenCode], msgspec.Meta(max_length=10)]
AllergenNote = Annotated[str, msgspec.Meta(max_length=200)]
# IDDSI 0-7; None = regular (see canteen.menus.rules).
TextureLevel = Annotated[int, msgspec.Meta(ge=0, le=7)]
# A meal set costs at most 1,000 yuan: anything above is a typing slip.
PriceFen = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Portions = Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class DishCreate(Input):
    district_id: Id
    name: Name
    diet_tags: Annotated[list[DietTagCode], msgspec.Meta(max_length=5)] = []
    allergens: Allergens = []
    allergen_note: AllergenNote = ""
    texture_level: TextureLevel | None = None


class DishUpdate(Input):
    name: Name | None = None
    diet_tags: Annotated[list[DietTagCode], msgspec.Meta(max_length=5)] | None = None
    allergens: Allergens | None = None
    allergen_note: AllergenNote | None = None
    # Send -1 to clear the level back to regular (None means "leave as is").
    texture_level: Annotated[int, msgspec.Meta(ge=-1, le=7)] | None = None
    active: bool | None = None


class DishView(msgspec.Struct):
    id: int
    district_id: int
    name: str
    diet_tags: list[str]
    allergens: list[str]
    active: bool
    allergen_note: str = ""
    texture_level: int | None = None


class DishList(msgspec.Struct):
    items: list[DishView]


class MealSetIn(Input):
    name: SetName
    list_price_fen: PriceFen
    dish_ids: Annotated[list[Id], msgspec.Meta(max_length=20)] = []
    portions_available: Portions | None = None
    # What kind of set it is, for the subsidy policy (a tier may subsidise a type differently).
    # Left out: a set already on the menu (by name) keeps its type, a new one is "standard".
    meal_type: MealType | None = None


class MenuIn(Input):
    sets: Annotated[list[MealSetIn], msgspec.Meta(min_length=1, max_length=12)]
    cutoff_at: dt.datetime | None = None


class CopyWeekIn(Input):
    from_monday: dt.date
    to_monday: dt.date


class MealSetView(msgspec.Struct):
    id: int
    name: str
    list_price_fen: int
    dish_ids: list[int]
    dish_names: list[str]
    diet_tags: list[str]
    portions_available: int | None
    portions_sold: int
    sort_order: int
    meal_type: str = "standard"
    allergens: list[str] = []  # union of the dishes' groups (canteen.menus.rules)
    texture_level: int | None = None  # the coarsest dish's IDDSI level; None = regular


class MenuView(msgspec.Struct):
    id: int
    site_id: int  # the site that cooks (a satellite's kitchen)
    service_date: dt.date
    slot: str
    cutoff_at: dt.datetime
    published: bool
    sets: list[MealSetView]


class MenuList(msgspec.Struct):
    items: list[MenuView]


class CopyWeekResult(msgspec.Struct):
    copied: int
    skipped: int
