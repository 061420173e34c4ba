"""What the counter takes and gives back."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from canteen.core.errors import DomainError, register
from canteen.core.schemas import Id, Input

register("one_item_per_meal", 422)

Payment = Literal["balance", "cash"]
SlotName = Literal["breakfast", "lunch", "dinner"]
CardText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=2, max_length=200)]
OverrideReason = Annotated[str, msgspec.Meta(max_length=200)]
# The meal set chosen at the counter. A check-in serves exactly ONE meal set: the list is bounded
# as input (at most MAX_ITEMS ids, else validation_failed) and more than one id is refused with
# ``one_item_per_meal``; an id not on the site's menu for the slot is refused by
# ``canteen.menus.services.meal_set_for`` (``not_found``). No or an empty list: the menu's first set.
MAX_ITEMS = 5
Items = Annotated[list[Id], msgspec.Meta(max_length=MAX_ITEMS)]


def _one_item(items: list[int] | None) -> None:
    if items is not None and len(items) > 1:
        raise DomainError("one_item_per_meal", {"field": "items", "max_items": 1, "given": len(items)})


class CheckinIn(Input):
    site_id: Id
    card: CardText
    slot: SlotName | None = None
    items: Items | None = None  # one meal set id; default: the menu's first set
    payment: Payment = "balance"
    full_price_ok: bool = False
    # Serve a set holding one of the elder's allergens anyway, saying why (>= 2 characters;
    # audited as meal.allergen_override). Without it such a set is refused (allergen_conflict).
    allergen_override_reason: OverrideReason | None = None

    def __post_init__(self) -> None:
        _one_item(self.items)


class ManualCheckinIn(Input):
    """When a card fails (worn, forgotten): the elder chosen by lookup, with a reason."""

    site_id: Id
    elder_id: Id
    reason: Reason
    slot: SlotName | None = None
    items: Items | None = None
    payment: Payment = "balance"
    full_price_ok: bool = False
    # Serve a set holding one of the elder's allergens anyway, saying why (>= 2 characters;
    # audited as meal.allergen_override). Without it such a set is refused (allergen_conflict).
    allergen_override_reason: OverrideReason | None = None

    def __post_init__(self) -> None:
        _one_item(self.items)


class WalkInIn(Input):
    site_id: Id
    slot: SlotName | None = None
    items: Items | None = None

    def __post_init__(self) -> None:
        _one_item(self.items)


class VoidIn(Input):
    reason: Reason


class ElderOnTicket(msgspec.Struct):
    id: int
    display_name: str
    masked_id: str
    categories: list[str]


class FundingPartOut(msgspec.Struct):
    source: str
    fen: int
    # The district whose funder owes the part: the elder's home district (补贴跟着人走).
    district_id: int | None = None


class CheckinOut(msgspec.Struct):
    meal_id: int
    elder: ElderOnTicket | None
    tier: str | None
    reason: str
    reason_zh: str
    reason_en: str
    list_price_fen: int
    subsidy_fen: int
    copay_fen: int
    funding: list[FundingPartOut]
    payment: str
    balance_after_fen: int | None
    slot: str
    service_date: str
    site_id: int
    meal_set: str


class PreviewOut(msgspec.Struct):
    """A quote for the cashier's confirm panel; nothing is written."""

    elder: ElderOnTicket
    tier: str | None
    reason: str
    list_price_fen: int
    subsidy_fen: int
    copay_fen: int
    funding: list[FundingPartOut]
    balance_fen: int
    balance_after_fen: int | None
    slot: str
    meal_set: str
    already_served: dict[str, str | int] | None = None
    # The elder's allergen groups the set holds: check_in refuses it without a staff override.
    allergen_conflicts: list[str] = []
    allergen_message: str = ""


class VoidOut(msgspec.Struct):
    meal_id: int
    voided_at: str
    reversed_txn: str


class Tally(msgspec.Struct):
    site_id: int
    service_date: str
    meals: int
    subsidised: int
    walk_ins: int
    voided: int
    list_fen: int
    subsidy_fen: int
    copay_fen: int
    cash_fen: int
    balance_fen: int
    by_slot: dict[str, int]


class SiteToday(msgspec.Struct):
    site_id: int
    name: str
    point_type: str | None
    meals: int
    subsidised: int
    by_slot: dict[str, int]


class DistrictToday(msgspec.Struct):
    district_id: int
    service_date: str
    meals: int
    items: list[SiteToday]
