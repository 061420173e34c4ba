"""The shared vocabulary: elder categories, diet tags, meal slots, meal types and service modes.

Every domain speaks these codes (the registry stores them, policies match on
them, reports group by them), so they live in one place with their zh-CN and
en labels. Codes are plain lowercase ASCII strings and never change once
released; labels may be reworded freely.

高龄 (advanced age) is deliberately *not* a category: it is derived from the
birth date on the meal date, so that an elder turning 90 is never "missing a
category" in the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Literal, NamedTuple


class Label(NamedTuple):
    """A display label in both interface languages."""

    zh: str
    en: str


class Category(StrEnum):
    """Elder categories targeted by meal subsidies (精准分类)."""

    TEKUN = "tekun"
    DIBAO = "dibao"
    LOW_INCOME = "low_income"
    DISABLED = "disabled"
    SEMI_DISABLED = "semi_disabled"
    SEVERE_DISABILITY = "severe_disability"
    LIVING_ALONE = "living_alone"
    EMPTY_NEST = "empty_nest"
    FAMILY_PLANNING_SPECIAL = "family_planning_special"
    VETERAN = "veteran"


class DietTag(StrEnum):
    """Diet needs the kitchen and the counter must respect."""

    LOW_SALT = "low_salt"
    LOW_SUGAR = "low_sugar"
    SOFT = "soft"
    NO_PORK = "no_pork"
    VEGETARIAN = "vegetarian"


class Slot(StrEnum):
    """Meal services of the day, in serving order."""

    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    DINNER = "dinner"


class Mode(StrEnum):
    """How the meal reaches the elder."""

    DINE_IN = "dine_in"
    DELIVERY = "delivery"


CATEGORY_LABELS: Mapping[str, Label] = {
    Category.TEKUN: Label("特困", "Extreme poverty (tekun)"),
    Category.DIBAO: Label("低保", "Minimum living allowance (dibao)"),
    Category.LOW_INCOME: Label("低收入", "Low income"),
    Category.DISABLED: Label("失能", "Disabled"),
    Category.SEMI_DISABLED: Label("半失能", "Semi-disabled"),
    Category.SEVERE_DISABILITY: Label("重残", "Severe disability"),
    Category.LIVING_ALONE: Label("独居", "Living alone"),
    Category.EMPTY_NEST: Label("空巢", "Empty nest"),
    Category.FAMILY_PLANNING_SPECIAL: Label("计划生育特殊家庭", "Family-planning special family"),
    Category.VETERAN: Label("退役军人/优抚对象", "Veteran / entitled group"),
}

DIET_LABELS: Mapping[str, Label] = {
    DietTag.LOW_SALT: Label("低盐", "Low salt"),
    DietTag.LOW_SUGAR: Label("低糖（糖尿病）", "Low sugar (diabetic)"),
    DietTag.SOFT: Label("软食/碎食", "Soft / minced"),
    DietTag.NO_PORK: Label("不含猪肉", "No pork"),
    DietTag.VEGETARIAN: Label("素食", "Vegetarian"),
}

SLOT_LABELS: Mapping[str, Label] = {
    Slot.BREAKFAST: Label("早餐", "Breakfast"),
    Slot.LUNCH: Label("午餐", "Lunch"),
    Slot.DINNER: Label("晚餐", "Dinner"),
}

MODE_LABELS: Mapping[str, Label] = {
    Mode.DINE_IN: Label("堂食", "Dine-in"),
    Mode.DELIVERY: Label("送餐", "Delivery"),
}

# Frozen sets of plain codes for fast membership tests on hot paths
# (a StrEnum member hashes and compares equal to its string value).
CATEGORIES: frozenset[str] = frozenset(c.value for c in Category)
DIET_TAGS: frozenset[str] = frozenset(d.value for d in DietTag)
SLOTS: frozenset[str] = frozenset(s.value for s in Slot)
MODES: frozenset[str] = frozenset(m.value for m in Mode)

# Categories that make an elder eligible for delivery without a case worker's
# decision. Age 90+ also qualifies; that rule needs the birth date and the
# date, so the registry applies it with DELIVERY_ELIGIBLE_MIN_AGE.
DELIVERY_ELIGIBLE_CATEGORIES: frozenset[str] = frozenset(
    {Category.DISABLED.value, Category.SEMI_DISABLED.value, Category.SEVERE_DISABILITY.value}
)
DELIVERY_ELIGIBLE_MIN_AGE = 90


def _label(labels: Mapping[str, Label], code: str, lang: str) -> str:
    # Unknown codes render as themselves rather than failing a page: a code
    # retired from the vocabulary may still sit in old rows.
    found = labels.get(code)
    if found is None:
        return code
    return found.en if lang.startswith("en") else found.zh


def category_label(code: str, lang: str = "zh-CN") -> str:
    """Label of an elder category code, e.g. ``category_label("dibao") == "低保"``."""
    return _label(CATEGORY_LABELS, code, lang)


def diet_label(code: str, lang: str = "zh-CN") -> str:
    """Label of a diet tag code, e.g. ``diet_label("soft", "en") == "Soft / minced"``."""
    return _label(DIET_LABELS, code, lang)


# Tags that say how the food is cut or cooked (texture) rather than what is in it: a label
# prints them on their own line so the packer sees "软食" apart from "低盐".
TEXTURE_TAGS: frozenset[str] = frozenset({DietTag.SOFT.value})
REGULAR_TEXTURE = Label("普通", "Regular")


def diet_labels(codes: Iterable[str], lang: str = "zh-CN", *, texture: bool | None = None) -> str:
    """Diet tag codes in words, joined for reading: ``"低盐、低糖（糖尿病）"`` / ``"Low salt, …"``.

    ``texture=False`` leaves out the texture tags, ``texture=True`` keeps only them, ``None``
    keeps all. No tags give an empty string (the caller says "standard" in its own words).
    """
    picked = [str(c) for c in codes if texture is None or (str(c) in TEXTURE_TAGS) is texture]
    sep = ", " if lang.startswith("en") else "、"
    return sep.join(diet_label(c, lang) for c in picked)


def texture_label(codes: Iterable[str], lang: str = "zh-CN") -> str:
    """The texture a meal must have, in words: ``"软食/碎食"``, or ``"普通"`` when none is asked."""
    words = diet_labels(codes, lang, texture=True)
    if words:
        return words
    return REGULAR_TEXTURE.en if lang.startswith("en") else REGULAR_TEXTURE.zh


def slot_label(code: str, lang: str = "zh-CN") -> str:
    """Label of a slot code, e.g. ``slot_label("lunch") == "午餐"``."""
    return _label(SLOT_LABELS, code, lang)


def mode_label(code: str, lang: str = "zh-CN") -> str:
    """Label of a service mode code, e.g. ``mode_label("delivery") == "送餐"``."""
    return _label(MODE_LABELS, code, lang)


def is_category(code: str) -> bool:
    """True if ``code`` is a known elder category."""
    return code in CATEGORIES


# A meal set's type (menus.MealSet.meal_type): a subsidy tier can give a different subsidy per type
# and be limited to some types. Each district chooses which of these its points serve
# (district.meal_types; every type when it chose none); "standard" is always among them.
MealType = Literal["standard", "therapeutic", "soft", "diabetic", "low_salt", "pureed"]
MEAL_TYPES: tuple[str, ...] = ("standard", "therapeutic", "soft", "diabetic", "low_salt", "pureed")
DEFAULT_MEAL_TYPE = "standard"
MEAL_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "standard": ("普通餐", "standard"),
    "therapeutic": ("治疗餐", "therapeutic (diet)"),
    "soft": ("软食", "soft food"),
    "diabetic": ("糖尿病餐", "diabetic"),
    "low_salt": ("低盐餐", "low salt"),
    "pureed": ("流食/糊状餐", "pureed"),
}


def district_meal_types(chosen: Iterable[str] | None) -> list[str]:
    """A district's meal types in the vocabulary's order: its choice (standard always in it), or
    every type when it chose none."""
    picked = {str(t) for t in (chosen or [])}
    if not picked:
        return list(MEAL_TYPES)
    return [t for t in MEAL_TYPES if t in picked or t == DEFAULT_MEAL_TYPE]
