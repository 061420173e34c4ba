"""msgspec Structs in and out of the delivery services."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from canteen.core.schemas import Input

Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
Slot = Annotated[str, msgspec.Meta(min_length=1, max_length=12)]
Note = Annotated[str, msgspec.Meta(max_length=500)]


# --- kitchen ---------------------------------------------------------------------------


class PlanLine(msgspec.Struct, kw_only=True):
    """Portions of one meal set in one diet variant for one destination."""

    destination_id: int
    destination_name: str
    meal_set_name: str
    diet_variant: list[str]  # the elders' diet tags; [] = standard
    dine_in_expected: int
    delivery: int
    total: int
    # The portions' IDDSI texture level (None = regular) and the allergen groups the elders
    # avoid (canteen.core.categories codes): cooked and packed apart from the others.
    texture_level: int | None = None
    allergens: list[str] = []


class Destination(msgspec.Struct, kw_only=True):
    site_id: int
    name: str
    dine_in_expected: int
    delivery: int
    total: int


class LateChange(msgspec.Struct, kw_only=True):
    order_id: int
    elder_name: str
    destination_name: str
    meal_set_name: str
    status: str
    changed_at: dt.datetime


class SetTotal(msgspec.Struct, kw_only=True):
    meal_set_name: str
    diet_variant: list[str]
    total: int
    texture_level: int | None = None
    allergens: list[str] = []


class ProductionPlan(msgspec.Struct, kw_only=True):
    kitchen_id: int
    kitchen_name: str
    service_date: dt.date
    slot: str
    cutoff_at: dt.datetime | None
    locked: bool
    lines: list[PlanLine]
    destinations: list[Destination]
    by_set: list[SetTotal]
    dine_in_expected: int
    delivery: int
    total: int
    late_changes: list[LateChange]


class Label(msgspec.Struct, kw_only=True):
    order_id: int
    elder_name: str
    address: str
    phone: str
    destination_name: str
    meal_set_name: str
    diet: list[str]
    diet_note: str
    allergies: str
    allergens: list[str] = []  # the elder's allergen group codes (canteen.core.categories)
    texture_level: int | None = None  # the elder's IDDSI level; None = regular
    round_id: int | None = None
    sequence: int | None = None
    service_date: dt.date | None = None
    slot: str = ""


class PackingRound(msgspec.Struct, kw_only=True):
    round_id: int
    courier_name: str
    site_name: str
    stops: int
    sets: list[SetTotal]
    labels: list[Label]


# --- rounds ------------------------------------------------------------------------------


class RoundPlanIn(Input, kw_only=True):
    service_date: dt.date
    slot: Slot
    couriers: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=100)]
    capacity: Annotated[int, msgspec.Meta(ge=1, le=200)] = 40
    window_minutes: Annotated[int, msgspec.Meta(ge=10, le=600)] = 240


class RoundSummary(msgspec.Struct, kw_only=True):
    id: int
    site_id: int
    site_name: str
    courier_id: int
    courier_name: str
    service_date: dt.date
    slot: str
    status: str
    planned_distance_m: int
    stops: int
    delivered: int


class RoundPlanOut(msgspec.Struct, kw_only=True):
    rounds: list[RoundSummary]
    unassigned_order_ids: list[int]
    planned_distance_m: int
    baseline_distance_m: int  # nearest-neighbour order with the same couriers and capacity


class RoundList(msgspec.Struct, kw_only=True):
    items: list[RoundSummary]


class StopView(msgspec.Struct, kw_only=True):
    id: int
    round_id: int
    sequence: int
    order_id: int
    elder_id: int
    elder_name: str
    phone: str
    address: str
    lat: float | None
    lon: float | None
    meal_set_name: str
    diet: list[str]
    allergies: str
    payment: str
    to_collect_fen: int  # cash on delivery
    eta: dt.datetime | None
    leg_m: int
    status: str
    delivered_at: dt.datetime | None
    card_scanned: bool
    reason: str
    emergency_name: str
    emergency_phone: str
    welfare_level: str | None = None
    service_date: dt.date | None = None  # the round's service day and slot
    slot: str = ""


class Manifest(msgspec.Struct, kw_only=True):
    round: RoundSummary
    start_name: str
    start_address: str
    stops: list[StopView]


class DeliverIn(Input, kw_only=True):
    card: Annotated[str, msgspec.Meta(min_length=1, max_length=400)]


class FailIn(Input, kw_only=True):
    outcome: Literal["not_home", "refused", "failed"]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class WelfareIn(Input, kw_only=True):
    level: Literal["fine", "attention", "urgent"]
    note: Note = ""


class WelfareOut(msgspec.Struct, kw_only=True):
    id: int
    stop_id: int
    level: str
    alert_id: int | None


# --- alerts ------------------------------------------------------------------------------


class AlertView(msgspec.Struct, kw_only=True):
    id: int
    district_id: int
    community_id: int | None
    community_name: str
    elder_id: int
    elder_name: str
    address: str
    phone: str
    kind: str
    service_date: dt.date
    slot: str
    detail: dict[str, object]
    raised_at: dt.datetime
    status: str
    acknowledged_by: int | None
    acknowledged_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution_note: str


class CommunityAlerts(msgspec.Struct, kw_only=True):
    community_id: int | None
    community_name: str
    open: int
    items: list[AlertView]


class AlertList(msgspec.Struct, kw_only=True):
    district_id: int
    open: int
    items: list[AlertView]
    communities: list[CommunityAlerts]


class AcknowledgeIn(Input, kw_only=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    close: bool = False


class MissedMealIn(Input, kw_only=True):
    service_date: dt.date
    slot: Slot


class MissedMealOut(msgspec.Struct, kw_only=True):
    raised: list[int]  # alert ids
    checked: int  # elders at risk who eat regularly
