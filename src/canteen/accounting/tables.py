"""Site costs, operating subsidy rules, budgets, daily rollups and settlements.

Composite unique keys are raw indexes in a later migration (SQLite cannot take
Piccolo's ``ADD CONSTRAINT``).
"""

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Operator, Site


class SiteMonthCost(Table, tablename="site_month_cost"):
    """An operator's costs (and other income) for one point and month; unique (site, month)."""

    id: Serial
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    month = Varchar(length=7)  # YYYY-MM
    food_fen = Integer(default=0)  # food, or the kitchen's transfer price × meals for satellites
    labour_fen = Integer(default=0)
    rent_fen = Integer(default=0)
    utilities_fen = Integer(default=0)
    depreciation_fen = Integer(default=0)
    delivery_fen = Integer(default=0)
    other_fen = Integer(default=0)
    other_income_fen = Integer(default=0)
    residential_utilities = Boolean(default=False)
    entered_by = Integer(null=True, default=None)
    updated_at = Timestamptz()


class OperatingSubsidyRule(Table, tablename="operating_subsidy_rule"):
    """Operating support: per meal served, per open point and month, or construction spread over years."""

    id: Serial
    district = ForeignKey(District, index=True)
    site = Integer(null=True, default=None)  # None: every point of the district
    kind = Varchar(length=30)  # see canteen.accounting.kpis.RULE_KINDS
    amount_fen = Integer()
    years = Integer(default=1)  # construction_spread: amount / (years × 12) per month
    effective_from = Varchar(length=7)  # YYYY-MM
    effective_until = Varchar(length=7, null=True, default=None)
    source = Varchar(length=40)
    created_at = Timestamptz()


class FundingBudget(Table, tablename="funding_budget"):
    """A funding source's yearly budget in a district (set by officials); unique (district, year, source)."""

    id: Serial
    district = ForeignKey(District, index=True)
    year = Integer()
    source = Varchar(length=40)
    budget_fen = Integer(default=0)
    updated_at = Timestamptz()


class Settlement(Table, tablename="settlement"):
    """A statement per operator, district and funding source over a period of whole months:
    ``month`` (the first) to ``period_end`` (the last; "" for a one-month statement). ``district``
    is the district whose sites it covers (an operator may run sites in several districts of its
    city). Unique (operator, district, month, source); periods of one operator, district and
    source never overlap (``draft_statement`` refuses)."""

    id: Serial
    operator = ForeignKey(Operator, index=True)
    district = ForeignKey(District, index=True)
    month = Varchar(length=7)
    period_end = Varchar(length=7, default="")
    source = Varchar(length=40)
    state = Varchar(length=10, default="draft")  # draft | submitted | approved | paid
    locked = Boolean(default=False)
    meals = Integer(default=0)
    subsidy_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)
    operating_fen = Integer(default=0)
    adjustment_fen = Integer(default=0)
    total_fen = Integer(default=0)
    payment_reference = Varchar(length=100, default="")
    computed_at = Timestamptz()
    submitted_at = Timestamptz(null=True, default=None)
    submitted_by = Integer(null=True, default=None)
    approved_at = Timestamptz(null=True, default=None)
    approved_by = Integer(null=True, default=None)
    paid_at = Timestamptz(null=True, default=None)
    paid_by = Integer(null=True, default=None)
    note = JSON(default="{}")


class SettlementLine(Table, tablename="settlement_line"):
    """One line: meals of a point × category × tier, an operating subsidy, or a late void's adjustment."""

    id: Serial
    settlement = ForeignKey(Settlement, index=True)
    kind = Varchar(length=12)  # meals | operating | adjustment
    month = Varchar(length=7, default="")  # the month of the period the line belongs to
    site = Integer()
    category = Varchar(length=30, default="")
    tier = Varchar(length=40, default="")
    meals = Integer(default=0)
    subsidy_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)
    operating_fen = Integer(default=0)
    amount_fen = Integer(default=0)  # signed: adjustments are negative for a void
    meal_id = Integer(null=True, default=None, index=True)
    adjusts_month = Varchar(length=7, default="")
    reason = Varchar(length=300, default="")
