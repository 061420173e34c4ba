"""The pure allergen and texture rules: conflicts are the intersection, fit is "no coarser"."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.core.categories import (
    ALLERGEN_ORDER,
    ALLERGENS,
    allergen_labels,
    allergens_from_words,
    texture_level_label,
)
from canteen.menus.rules import allergen_conflicts, set_allergens, set_texture, texture_fits

codes = st.lists(st.sampled_from(sorted(ALLERGENS)), max_size=12)
levels = st.one_of(st.none(), st.integers(min_value=0, max_value=7))
# The pure rules are cheap; a busy shared box must not fail them on generation speed.
relaxed = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(codes, codes)
def test_conflicts_are_the_intersection_in_vocabulary_order(elder: list[str], dishes: list[str]) -> None:
    got = allergen_conflicts(elder, dishes)
    assert set(got) == set(elder) & set(dishes)
    assert got == [a for a in ALLERGEN_ORDER if a in got]


@relaxed
@given(codes)
def test_no_conflict_without_allergens(dishes: list[str]) -> None:
    assert allergen_conflicts([], dishes) == []
    assert allergen_conflicts(dishes, []) == []


@relaxed
@given(st.lists(codes, max_size=5))
def test_set_allergens_are_the_union(dish_lists: list[list[str]]) -> None:
    assert set(set_allergens(dish_lists)) == {a for d in dish_lists for a in d}


@relaxed
@given(st.lists(levels, min_size=1, max_size=6), levels)
def test_a_set_fits_only_when_every_dish_fits(dish_levels: list[int | None], elder: int | None) -> None:
    assert texture_fits(elder, set_texture(dish_levels)) == all(texture_fits(elder, d) for d in dish_levels)


def test_texture_examples() -> None:
    assert texture_fits(None, None)
    assert texture_fits(5, 4)
    assert not texture_fits(5, 6)
    assert not texture_fits(4, None)  # a regular dish is too coarse for a pureed diet
    assert set_texture([]) is None
    assert texture_level_label(None) == "7级 常规"
    assert texture_level_label(4, "en") == "Level 4 Extremely thick / Pureed"


def test_old_words_map_to_groups_and_keep_the_rest() -> None:
    assert allergens_from_words(["虾", "花生", "味精", "crustacean"]) == (["peanut", "crustacean"], ["味精"])
    assert allergen_labels(["crustacean"]) == "虾蟹等甲壳类"
    assert allergen_labels(["egg", "peanut"], "en") == "Peanut, Egg"
