"""Pure rules about what is in a meal set and whom it suits (allergens and texture).

Decisions written down here:

- **A set's allergens** are the *union* of its dishes' allergen groups: one dish with shrimp
  puts shrimp on the tray.
- **A set's texture** is its *coarsest* dish (the highest IDDSI level; a dish without a level
  counts as regular, 7): the whole tray must be safe to swallow. A set without dishes has no
  level (None), read as regular.
- **Fit**: a set fits an elder's texture level when it is no coarser than that level
  (``set_level <= elder_level``; None on either side means regular, 7). A finer set (pureed for
  a regular eater) still fits: it is safe, only less pleasant.
- **Conflict**: the allergen groups the elder has and the set contains (the intersection),
  in the vocabulary's order. The counter, ordering and standing orders refuse on a conflict
  unless staff override it with a reason; texture never refuses, it only sorts and warns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from canteen.core.categories import TEXTURE_REGULAR, allergen_labels, sorted_allergens
from canteen.core.errors import DomainError, register

register("allergen_conflict", 409)
register("allergen_override_not_allowed", 403)
register("allergen_override_reason_required", 422)

# A staff override's reason: at least this many characters after trimming ("医嘱" passes).
OVERRIDE_REASON_MIN = 2
OVERRIDE_REASON_MAX = 200


def set_allergens(dish_allergens: Sequence[Iterable[str]]) -> list[str]:
    """Allergen groups of a set: the union of its dishes' groups, in the vocabulary's order."""
    return sorted_allergens(a for dish in dish_allergens for a in dish)


def set_texture(dish_levels: Sequence[int | None]) -> int | None:
    """A set's IDDSI level: the coarsest of its dishes (a dish without a level is regular)."""
    if not dish_levels:
        return None
    return max(TEXTURE_REGULAR if lv is None else int(lv) for lv in dish_levels)


def allergen_conflicts(elder_allergens: Iterable[str], set_allergens_: Iterable[str]) -> list[str]:
    """The elder's allergen groups that the set contains, in the vocabulary's order."""
    mine = set(sorted_allergens(elder_allergens))
    if not mine:
        return []
    return [a for a in sorted_allergens(set_allergens_) if a in mine]


def texture_fits(elder_level: int | None, set_level: int | None) -> bool:
    """True when the set is no coarser than the elder may have."""
    e = TEXTURE_REGULAR if elder_level is None else int(elder_level)
    s = TEXTURE_REGULAR if set_level is None else int(set_level)
    return s <= e


class AllergenConflict(DomainError):
    """``allergen_conflict``: the message names the allergens in the reader's words."""

    def __init__(self, conflicts: Sequence[str], detail: dict[str, Any] | None = None):
        super().__init__("allergen_conflict", {**(detail or {}), "allergens": list(conflicts)})

    def message(self, lang: str = "zh-CN") -> str:
        return super().message(lang) + allergen_labels(self.detail.get("allergens") or [], lang)


def check_allergens(
    elder_allergens: Iterable[str],
    set_allergens_: Iterable[str],
    *,
    staff: bool,
    override_reason: str | None,
    detail: dict[str, Any] | None = None,
) -> list[str]:
    """The conflicts a staff override lets through (``[]`` when there are none), or a refusal.

    No conflict: ``[]`` whatever the override says. A conflict without a reason:
    ``allergen_conflict`` (detail names the groups). An override by anyone but staff (an elder,
    a family member, the system): ``allergen_override_not_allowed``. A reason shorter than
    ``OVERRIDE_REASON_MIN``: ``allergen_override_reason_required`` naming the field.
    """
    conflicts = allergen_conflicts(elder_allergens, set_allergens_)
    if not conflicts:
        return []
    reason = (override_reason or "").strip()
    if override_reason is None or (not reason and not staff):
        raise AllergenConflict(conflicts, detail)
    if not staff:
        raise DomainError("allergen_override_not_allowed", {"field": "allergen_override_reason"})
    if len(reason) < OVERRIDE_REASON_MIN:
        raise DomainError(
            "allergen_override_reason_required",
            {"field": "allergen_override_reason", "min_length": OVERRIDE_REASON_MIN, "allergens": conflicts},
        )
    return conflicts
