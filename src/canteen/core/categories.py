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


# --- allergens and texture (issue #17) ------------------------------------------------------
# The major allergen groups (the internationally listed ones that matter in Chinese kitchens:
# GB 7718-2025's list plus sesame and molluscs). A person, a dish and a meal set carry these
# codes; the free text beside them (Elder.allergies, Dish.allergen_note) says the rest.


class Allergen(StrEnum):
    """Allergen groups an elder may be allergic to and a dish may contain."""

    PEANUT = "peanut"
    TREE_NUT = "tree_nut"
    MILK = "milk"
    EGG = "egg"
    FISH = "fish"
    CRUSTACEAN = "crustacean"
    MOLLUSC = "mollusc"
    SOY = "soy"
    WHEAT = "wheat"
    SESAME = "sesame"


ALLERGEN_LABELS: Mapping[str, Label] = {
    Allergen.PEANUT: Label("花生", "Peanut"),
    Allergen.TREE_NUT: Label("坚果", "Tree nuts"),
    Allergen.MILK: Label("乳制品", "Milk / dairy"),
    Allergen.EGG: Label("蛋类", "Egg"),
    Allergen.FISH: Label("鱼类", "Fish"),
    Allergen.CRUSTACEAN: Label("虾蟹等甲壳类", "Crustaceans (shrimp, crab)"),
    Allergen.MOLLUSC: Label("贝类软体类", "Molluscs (shellfish, squid)"),
    Allergen.SOY: Label("大豆", "Soy"),
    Allergen.WHEAT: Label("小麦（麸质）", "Wheat (gluten)"),
    Allergen.SESAME: Label("芝麻", "Sesame"),
}
ALLERGENS: frozenset[str] = frozenset(a.value for a in Allergen)
ALLERGEN_ORDER: tuple[str, ...] = tuple(a.value for a in Allergen)

# Free words found in old ``Dish.allergens`` rows (and typed by kitchens) and the group each
# names: the migration maps these, and keeps any other word as the dish's free note.
ALLERGEN_WORDS: Mapping[str, str] = {
    "花生": "peanut",
    "坚果": "tree_nut",
    "核桃": "tree_nut",
    "杏仁": "tree_nut",
    "腰果": "tree_nut",
    "乳制品": "milk",
    "牛奶": "milk",
    "奶": "milk",
    "乳": "milk",
    "蛋": "egg",
    "鸡蛋": "egg",
    "蛋类": "egg",
    "鱼": "fish",
    "鱼类": "fish",
    "虾": "crustacean",
    "蟹": "crustacean",
    "虾蟹": "crustacean",
    "甲壳类": "crustacean",
    "贝": "mollusc",
    "贝类": "mollusc",
    "蛤蜊": "mollusc",
    "鱿鱼": "mollusc",
    "大豆": "soy",
    "黄豆": "soy",
    "豆": "soy",
    "小麦": "wheat",
    "麸质": "wheat",
    "面粉": "wheat",
    "芝麻": "sesame",
}


def allergen_label(code: str, lang: str = "zh-CN") -> str:
    """Label of an allergen group: ``allergen_label("crustacean") == "虾蟹等甲壳类"``."""
    return _label(ALLERGEN_LABELS, code, lang)


def allergen_labels(codes: Iterable[str], lang: str = "zh-CN") -> str:
    """Allergen codes in words, in the vocabulary's order, joined for reading; "" for none."""
    sep = ", " if lang.startswith("en") else "、"
    return sep.join(allergen_label(c, lang) for c in sorted_allergens(codes))


def sorted_allergens(codes: Iterable[str]) -> list[str]:
    """Known allergen codes, deduplicated, in the vocabulary's order (unknown ones dropped)."""
    wanted = {str(c) for c in codes}
    return [a for a in ALLERGEN_ORDER if a in wanted]


def allergens_from_words(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split free allergen words into (group codes, words that name no group).

    A word that already is a code counts as one, so running it twice changes nothing.
    """
    codes: set[str] = set()
    unknown: list[str] = []
    for raw in words:
        w = str(raw).strip()
        if not w:
            continue
        code = w if w in ALLERGENS else ALLERGEN_WORDS.get(w)
        if code is None:
            unknown.append(w)
        else:
            codes.add(code)
    return sorted_allergens(codes), unknown


# IDDSI texture levels (International Dysphagia Diet Standardisation Initiative), 0 … 7. An
# elder's ``texture_level`` is the coarsest food they may have (None = regular, 7); a dish's is
# how coarse it is (None = regular). Lower is thinner / softer.
TEXTURE_LEVELS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
TEXTURE_REGULAR = 7
TEXTURE_LABELS: Mapping[int, Label] = {
    0: Label("0级 稀薄", "Level 0 Thin"),
    1: Label("1级 轻微稠", "Level 1 Slightly thick"),
    2: Label("2级 稍稠", "Level 2 Mildly thick"),
    3: Label("3级 中度稠/流质", "Level 3 Moderately thick / Liquidised"),
    4: Label("4级 高度稠/糊状", "Level 4 Extremely thick / Pureed"),
    5: Label("5级 细碎湿软", "Level 5 Minced & moist"),
    6: Label("6级 软质小块", "Level 6 Soft & bite-sized"),
    7: Label("7级 常规", "Level 7 Regular"),
}


def texture_level_label(level: int | None, lang: str = "zh-CN") -> str:
    """An IDDSI level in words; None reads as regular (level 7)."""
    found = TEXTURE_LABELS.get(TEXTURE_REGULAR if level is None else int(level))
    if found is None:
        return str(level)
    return found.en if lang.startswith("en") else found.zh
