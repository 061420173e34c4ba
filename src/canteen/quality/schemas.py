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


class RunSummary(msgspec.Struct):
    """What a run of the claim checks found (the job's result carries it)."""

    findings: int
    new_flags: int
    by_kind: dict[str, int]
    open: int


FlagId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]


class ReviewIn(Input):
    """One decision with one reason for many flags (at most 5,000) of one district."""

    flag_ids: Annotated[list[FlagId], msgspec.Meta(min_length=1, max_length=5000)]
    decision: Literal["cleared", "upheld"]
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=500)]


class ReviewOut(msgspec.Struct):
    decided: int
    decision: str
    flag_ids: list[int]


class ThresholdsIn(Input):
    """A district's claim-check thresholds; a field left out keeps its value."""

    fast_scan_count: Annotated[int, msgspec.Meta(ge=2, le=500)] | None = None
    fast_scan_seconds: Annotated[int, msgspec.Meta(ge=5, le=3600)] | None = None
    two_points_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] | None = None
    identical_days: Annotated[int, msgspec.Meta(ge=3, le=31)] | None = None


class ThresholdsView(msgspec.Struct, kw_only=True):
    district_id: int
    fast_scan_count: int
    fast_scan_seconds: int
    two_points_minutes: int
    identical_days: int


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


# ---------------------------------------------------------------------- survey and complaints

Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
QuarterStr = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-Q[1-4]$", max_length=7)]
ElderId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
ComplaintCategory = Literal["food", "hygiene", "service", "delivery", "price", "other"]
ComplaintStatus = Literal["open", "in_progress", "replied", "closed"]


class SurveyIn(Input):
    """One survey answer (a paper form entered by staff): 1–5 per dimension."""

    taste: Score
    quantity: Score
    hygiene: Score
    service: Score
    price: Score
    comment: Annotated[str, msgspec.Meta(max_length=300)] = ""
    elder_id: ElderId | None = None
    quarter: QuarterStr | None = None


class SurveyAnswerView(msgspec.Struct, kw_only=True):
    id: int
    site_id: int
    quarter: str
    elder_id: int | None
    scores: dict[str, int]
    comment: str
    source: str
    at: str


class DimensionResult(msgspec.Struct, kw_only=True):
    dimension: str
    mean: float | None
    satisfied_share: float | None


class SurveyResults(msgspec.Struct, kw_only=True):
    site_id: int
    quarter: str
    n: int
    mean: float | None
    satisfied_share: float | None
    dimensions: list[DimensionResult]
    faces_n: int
    faces_happy_share: float | None
    faces_unhappy_share: float | None


class SurveyResultList(msgspec.Struct, kw_only=True):
    items: list[SurveyResults]


class ComplaintIn(Input):
    category: ComplaintCategory
    text: Annotated[str, msgspec.Meta(min_length=2, max_length=500)]
    elder_id: ElderId | None = None


class ReplyIn(Input):
    text: Annotated[str, msgspec.Meta(min_length=2, max_length=500)]


class StatusIn(Input):
    status: ComplaintStatus


class ReplyView(msgspec.Struct, kw_only=True):
    id: int
    text: str
    author_role: str
    at: str


class ComplaintView(msgspec.Struct, kw_only=True):
    id: int
    site_id: int
    site_name: str
    district_id: int
    elder_id: int | None
    category: str
    text: str
    status: str
    filed_by_kind: str
    filed_at: str
    first_reply_at: str | None
    closed_at: str | None
    age_days: int
    replies: list[ReplyView]


class ComplaintList(msgspec.Struct, kw_only=True):
    items: list[ComplaintView]
