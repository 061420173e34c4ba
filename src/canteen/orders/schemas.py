"""Request and response shapes of delivery orders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from canteen.core.schemas import Id, Input

Slot = Literal["breakfast", "lunch", "dinner"]
PaymentMethod = Literal["balance", "cash", "card"]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6)]


class OrderIn(Input):
    elder_id: Id
    site_id: Id
    service_date: dt.date
    slot: Slot
    meal_set_id: Id
    payment: PaymentMethod = "balance"
    # Staff only: order a set containing one of the elder's allergens anyway, saying why
    # (at least 2 characters; audited as order.allergen_override). See canteen.menus.rules.
    allergen_override_reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class CancelIn(Input):
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class StatusIn(Input):
    status: Literal["confirmed", "cooking", "out_for_delivery", "delivered", "not_delivered"]
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class StandingOrderIn(Input):
    elder_id: Id
    site_id: Id
    slot: Slot = "lunch"
    weekdays: Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)] = msgspec.field(
        default_factory=lambda: [0, 1, 2, 3, 4]
    )
    meal_set_name: Annotated[str, msgspec.Meta(max_length=50)] = ""
    payment: Literal["balance", "cash"] = "balance"
    until: dt.date | None = None


class CardPaymentIn(Input):
    payment_method: Annotated[str, msgspec.Meta(min_length=3, max_length=100)] | None = None
    confirm: bool = False


class OrderOut(msgspec.Struct, kw_only=True):
    id: int
    elder_id: int
    site_id: int
    service_date: dt.date
    slot: str
    meal_set_id: int
    meal_set_name: str
    diet_tags: list[str]
    list_price_fen: int
    subsidy_fen: int
    copay_fen: int
    delivery_fee_fen: int
    delivery_subsidy_fen: int
    total_due_fen: int
    payment: str
    payment_status: str
    status: str
    not_delivered_reason: str
    placed_by_kind: str
    standing_order_id: int | None
    meal_id: int | None
    created_at: dt.datetime
    cancelled_at: dt.datetime | None


class OrderList(msgspec.Struct):
    items: list[OrderOut]


class StandingOrderOut(msgspec.Struct, kw_only=True):
    id: int
    elder_id: int
    site_id: int
    slot: str
    weekdays: list[int]
    meal_set_name: str
    payment: str
    active: bool
    until: dt.date | None


class StandingOrderList(msgspec.Struct):
    items: list[StandingOrderOut]


class CardPaymentOut(msgspec.Struct, kw_only=True):
    order_id: int | None
    provider: str
    provider_id: str
    client_secret: str | None
    status: str
    amount_fen: int


class ConfirmResult(msgspec.Struct):
    orders: int


class FamilyAccountIn(Input):
    phone: Annotated[str, msgspec.Meta(pattern=r"^1[3-9]\d{9}$")]
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class FamilyLinkIn(Input):
    elder_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    consent_note: Annotated[str, msgspec.Meta(min_length=2, max_length=300)]


class FamilyLinkOut(msgspec.Struct, kw_only=True):
    family_id: int
    name: str
    phone: str
    active: bool
    consent_note: str
    linked_by: str  # the staff member who recorded the consent ("" when not known)
    linked_at: dt.datetime


class DeliveryWindow(msgspec.Struct):
    start: str  # "10:30", the service zone's clock
    end: str


class SlotDay(msgspec.Struct):
    day: dt.date
    slot: str


class ElderOverview(msgspec.Struct, kw_only=True):
    elder_id: int
    name: str
    balance_fen: int
    delivery_eligible: bool
    upcoming: list[OrderOut]  # from today on, not cancelled, in serving order
    windows: dict[str, DeliveryWindow]  # order id → when it comes
    eaten: list[SlotDay]  # meals from today on already eaten at a counter (no delivery for those)
    site_name: str
    site_phone: str  # the delivering point's phone, else the community hotline


class CreatedId(msgspec.Struct):
    id: int


class CardTopupIn(Input):
    amount_fen: Annotated[int, msgspec.Meta(ge=100, le=200_000)]
    payment_method: Annotated[str, msgspec.Meta(min_length=3, max_length=100)] | None = None
    confirm: bool = False


class CardTopupOut(msgspec.Struct, kw_only=True):
    elder_id: int
    provider: str
    provider_id: str
    client_secret: str | None
    status: str
    amount_fen: int
