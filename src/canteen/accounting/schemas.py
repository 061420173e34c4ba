"""Result and input Structs of the accounting services (stable: other packages call them).

Money is integer fen; ratios are floats in 0..1 (or None when undefined: no meals, no income).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from canteen.core.periods import MONTH_PATTERN
from canteen.core.schemas import Input

Fen = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000)]
Month = Annotated[str, msgspec.Meta(pattern=MONTH_PATTERN)]
Source = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]

GRADES = ("A", "B", "C", "D", "N")  # N: not graded (no costs entered or no meals)
SETTLEMENT_STATES = ("draft", "submitted", "approved", "paid")


class CostIn(Input):
    """One point's costs for one month (an operator's form or one XLSX row)."""

    site_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    month: Month
    food_fen: Fen = 0
    labour_fen: Fen = 0
    rent_fen: Fen = 0
    utilities_fen: Fen = 0
    depreciation_fen: Fen = 0
    delivery_fen: Fen = 0
    other_fen: Fen = 0
    other_income_fen: Fen = 0
    residential_utilities: bool = False


class CostView(msgspec.Struct, kw_only=True):
    site_id: int
    site_name: str
    month: str
    food_fen: int
    labour_fen: int
    rent_fen: int
    utilities_fen: int
    depreciation_fen: int
    delivery_fen: int
    other_fen: int
    other_income_fen: int
    residential_utilities: bool
    total_fen: int
    updated_at: str


class CostUploadResult(msgspec.Struct, kw_only=True):
    saved: int
    errors: list[str]  # "row 4: site 17 is not yours" — in the caller's language


class CategoryMeals(msgspec.Struct, kw_only=True):
    category: str  # a Category code or "none"
    label: str
    meals: int
    share: float | None


class Reason(msgspec.Struct, kw_only=True):
    zh: str
    en: str


class PointQuality(msgspec.Struct, kw_only=True):
    """A point's satisfaction survey and complaints for the quarter of the report's month."""

    quarter: str  # YYYY-Qn
    survey_n: int
    survey_mean: float | None  # 1–5, mean of each answer's five scores
    dimension_means: dict[str, float | None]  # taste, quantity, hygiene, service, price
    complaints_filed: int
    complaints_open: int  # still open or in progress (not yet answered)
    mean_days_to_reply: float | None


class PointKpis(msgspec.Struct, kw_only=True):
    """One meal point in one month: what it served, earned and spent, and a grade with reasons."""

    site_id: int
    site_name: str
    operator_id: int | None
    point_type: str | None
    month: str
    serving_days: int
    meals: int
    subsidised_meals: int
    meals_per_day: float | None
    capacity: int  # meals_per_slot × slots × serving days
    utilisation: float | None
    subsidised_share: float | None
    by_category: list[CategoryMeals]
    # income
    list_fen: int
    copay_fen: int
    subsidy_fen: int
    delivery_fee_fen: int
    delivery_subsidy_fen: int
    operating_subsidy_fen: int
    other_income_fen: int
    income_fen: int
    public_fen: int  # subsidies + delivery subsidies + operating subsidies
    # costs
    costs_entered: bool
    cost_fen: int
    cost_per_meal_fen: int | None
    income_per_meal_fen: int | None
    margin_fen: int
    margin_per_meal_fen: int | None
    subsidy_dependence: float | None
    break_even_meals_per_day: float | None  # None: unreachable at current prices and costs
    # trend against the previous three months (None when there is no history)
    trend_meals_per_day: float | None  # this month's meals/day minus the 3-month average
    trend_margin_fen: int | None
    grade: str  # A | B | C | D | N
    reasons: list[Reason]
    # the quarter's satisfaction survey and complaints (quality.survey / quality.complaints)
    quality: PointQuality | None = None


class ViabilityReport(msgspec.Struct, kw_only=True):
    district_id: int
    month: str
    points: list[PointKpis]  # ranked: grade, then margin
    grade_counts: dict[str, int]
    meals: int
    public_fen: int
    income_fen: int
    cost_fen: int


class SpendingCell(msgspec.Struct, kw_only=True):
    source: str
    category: str  # a Category code, "none", or "operating" for operating subsidies
    month: str
    fen: int


class SourceSpending(msgspec.Struct, kw_only=True):
    source: str
    budget_fen: int | None
    spent_fen: int
    share_of_budget: float | None
    by_month: list[int]  # 12 entries, January first


class SpendingReport(msgspec.Struct, kw_only=True):
    district_id: int
    year: int
    sources: list[SourceSpending]
    cells: list[SpendingCell]
    total_fen: int


class BudgetIn(Input):
    district_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    source: Source
    budget_fen: Fen


class BudgetView(msgspec.Struct, kw_only=True):
    district_id: int
    year: int
    source: str
    budget_fen: int


class RuleIn(Input):
    district_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    kind: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(per_meal|per_diner_day|monthly_per_open_point|construction_spread)$",
            description="per_meal: per subsidised meal; per_diner_day: per elder served a subsidised "
            "meal, once a day; monthly_per_open_point: per month the point served; "
            "construction_spread: amount_fen spread over `years` × 12 months",
        ),
    ]
    amount_fen: Fen
    source: Source
    effective_from: Month
    effective_until: Month | None = None
    years: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    site_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None


class RuleView(msgspec.Struct, kw_only=True):
    id: int
    district_id: int
    site_id: int | None
    kind: str
    amount_fen: int
    years: int
    effective_from: str
    effective_until: str | None
    source: str


class SettlementLineView(msgspec.Struct, kw_only=True):
    id: int
    kind: str  # meals | operating | adjustment
    month: str  # the month of the period (adjustments: "", they name the month they correct)
    site_id: int
    site_name: str
    category: str
    tier: str
    meals: int
    subsidy_fen: int
    delivery_subsidy_fen: int
    operating_fen: int
    amount_fen: int
    meal_id: int | None
    reason: str


class SettlementView(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    district_id: int  # the district whose sites, rules and meals the statement covers
    district_name: str = ""
    month: str  # the first month of the period
    until: str  # the last month (= month for a one-month statement)
    months: list[str]
    by_month: dict[str, int]  # each month's meal and operating subsidies, fen
    source: str
    state: str
    locked: bool
    meals: int
    subsidy_fen: int
    delivery_subsidy_fen: int
    operating_fen: int
    adjustment_fen: int
    total_fen: int
    payment_reference: str
    computed_at: str
    submitted_at: str | None
    approved_at: str | None
    paid_at: str | None
    lines: list[SettlementLineView]


class SettlementSummary(msgspec.Struct, kw_only=True):
    id: int
    operator_id: int
    operator_name: str
    district_id: int = 0
    district_name: str = ""
    month: str
    until: str
    source: str
    state: str
    total_fen: int


class DraftIn(Input):
    """A statement for ``month`` alone, a ``quarter`` (``month`` is any month of it), or the whole
    months from ``month`` to ``until`` (at most twelve); for the operator's sites in
    ``district_id`` (none: its home district)."""

    operator_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
    month: Month
    source: Source
    period: Literal["month", "quarter", "range"] = "month"
    until: Month | None = None
    district_id: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                le=2_147_483_647,
                description="The district whose sites the statement covers: an operator running "
                "sites in several districts of its city has one statement per district and funder. "
                "Omitted: the operator's home district (where it registered).",
                examples=[2],
            ),
        ]
        | None
    ) = None


class PayIn(Input):
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PointDay(msgspec.Struct, kw_only=True):
    """One meal point on one serving day: the month's viability figures spread over its days.

    Meals, subsidies, co-pays and the per-meal operating subsidies are the day's own; the
    month's fixed operating subsidies, other income and fixed costs are spread evenly over the
    serving days, the variable costs (food, delivery) by the day's share of the meals, so the
    days of a month always add up to the month's figures to the fen."""

    site_id: int
    site_name: str
    day: str  # YYYY-MM-DD, service zone
    meals: int
    subsidised_meals: int
    diners: int  # distinct elders served a subsidised meal
    income_fen: int
    operating_subsidy_fen: int
    cost_fen: int | None  # None until the operator enters the month's costs
    margin_fen: int | None


class ViabilityDays(msgspec.Struct, kw_only=True):
    district_id: int
    month: str
    days: list[PointDay]  # by point, then day
