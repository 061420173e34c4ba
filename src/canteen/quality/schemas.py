"""Ratings and claim flags over JSON."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from canteen.core.schemas import Input


class RatingIn(Input):
    """Three faces: 1 unhappy, 2 neutral, 3 happy."""

    score: Annotated[int, msgspec.Meta(ge=1, le=3)]
    source: Literal["counter", "delivery"] = "counter"


class RatingOut(msgspec.Struct):
    id: int
    meal_id: int
    score: int
    source: str
    at: str


class DecisionIn(Input):
    decision: Literal["cleared", "upheld"]
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=500)]


class RunIn(Input):
    month: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class FlagView(msgspec.Struct):
    id: int
    district_id: int
    month: str
    kind: str
    site_id: int | None
    operator_id: int | None
    elder_id: int | None
    meal_ids: list[int]
    detail: str
    status: str
    reason: str
    decided_by: int | None
    decided_at: str | None


class FlagList(msgspec.Struct):
    items: list[FlagView]
    open: int


class RunOut(msgspec.Struct):
    findings: int
    new_flags: int
    flags: list[FlagView]


class FlagMeal(msgspec.Struct):
    id: int
    site: str
    elder_id: int | None
    service_date: str
    slot: str
    mode: str
    served_at: str
    subsidised: bool
    subsidy_fen: int
    copay_fen: int
    cashier_id: int | None
    voided: bool


class FlagMeals(msgspec.Struct):
    flag: FlagView
    meals: list[FlagMeal]
