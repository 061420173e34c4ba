"""msgspec Structs for subsidy policies, quote inputs and the quote itself.

A ``Policy`` is a versioned document a district publishes; it is stored as
JSON and decoded with ``msgspec.json.decode(raw, type=Policy)``. Decoding
checks shapes and bounds; ``canteen.subsidies.rules.validate_policy`` checks
the rules that span fields (funding sums to 100, known categories, tier codes
referenced by the delivery rule, ...).

All money is integer fen. Percentages are whole percent. Every field added
after the first stored documents has a default, so older documents decode
unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

# A meal set's type is the shared vocabulary's (core.categories), named here like the registry's facts.
from canteen.core.categories import DEFAULT_MEAL_TYPE as DEFAULT_MEAL_TYPE
from canteen.core.categories import MEAL_TYPE_LABELS as MEAL_TYPE_LABELS
from canteen.core.categories import MEAL_TYPES as MEAL_TYPES
from canteen.core.categories import MealType as MealType

# The quote's inputs about the person are the registry's facts (the registry builds them; the
# registry sits below subsidies in .importlinter), named here too so the quote's whole vocabulary
# can be read from this module.
from canteen.registry.schemas import CategoryGrant as CategoryGrant
from canteen.registry.schemas import ElderFacts as ElderFacts

# Bounds: generous for any real canteen, tight enough that nothing absurd
# reaches the rules or the database.
MAX_FEN = 10_000_000  # 100,000 yuan: above any monthly cap or fee we could meet
Fen = Annotated[int, msgspec.Meta(ge=0, le=MAX_FEN)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Age = Annotated[int, msgspec.Meta(ge=0, le=150)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
NameZh = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
NameEn = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Version = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
# A tier value is fen for amount_off / fixed_copay, percent for percent_off,
# and 0 for free; validate_policy checks the per-kind range.
TierValue = Annotated[int, msgspec.Meta(ge=0, le=MAX_FEN)]

# Who pays a share of the subsidy. Settlement produces one statement per
# operator and source, so the set is closed; add a value here to add a payer.
FundingSource = Literal["province", "city", "district", "street", "community", "charity", "operator"]

FUNDING_SOURCE_LABELS: dict[str, tuple[str, str]] = {
    "province": ("省级", "province"),
    "city": ("市级", "city"),
    "district": ("区级", "district"),
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "charity": ("慈善", "charity"),
    "operator": ("运营方", "operator"),
}

TierKind = Literal["amount_off", "percent_off", "fixed_copay", "free"]
DeliveryKind = Literal["amount_off", "percent_off", "free"]
Combination = Literal["best", "stack"]
# The meal that crosses the monthly money cap: gets what is left under the cap, or full price.
CapCrossing = Literal["remainder", "full_price"]


class _Doc(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every Struct here: unknown fields are refused.

    ``kw_only`` is not inherited by msgspec, so each subclass repeats it.
    """


SlotCode = Literal["breakfast", "lunch", "dinner"]


class FundingShare(_Doc, kw_only=True):
    """One payer's share of a subsidy: exactly one of ``percent`` (whole percent of the
    meal's subsidy), ``fixed_fen`` (a fixed amount per meal) or ``rest`` (whatever the
    others leave). A split of percents only sums to 100; a split with a fixed amount has
    exactly one ``rest`` share, and its percents sum to 100 at most. The rounding rule is
    :func:`canteen.subsidies.rules.split_subsidy`. Stored documents written before fixed
    amounts existed (``{"source", "percent"}``) decode unchanged.
    """

    source: FundingSource
    percent: Percent | None = None
    fixed_fen: Fen | None = None
    rest: bool = False


FundingSplit = Annotated[list[FundingShare], msgspec.Meta(min_length=1, max_length=8)]


class MealTypeValue(_Doc, kw_only=True):
    """A tier's subsidy for one meal type, in place of the tier's own ``kind``/``value``."""

    meal_type: MealType
    kind: TierKind
    value: TierValue = 0


class Tier(_Doc, kw_only=True):
    """A subsidy tier.

    An elder matches when they are a member, hold *any* of ``categories`` valid
    on the meal date (an empty list matches every member) and their age on the
    meal date lies in ``[min_age, max_age]`` (both inclusive, each optional).

    ``value`` means: fen off for ``amount_off``; percent off for
    ``percent_off``; the fen the elder still pays for ``fixed_copay``; nothing
    for ``free`` (must be 0).

    ``slots`` limits the tier to those meal services (empty: every slot);
    ``meal_types`` to those meal types (empty: every type); ``by_meal_type``
    gives another kind/value for a type. ``funding`` is the tier's own split
    (None: the policy's ``funding``).
    """

    code: Code
    name_zh: NameZh
    name_en: NameEn
    categories: Annotated[list[Code], msgspec.Meta(max_length=16)] = []
    min_age: Age | None = None
    max_age: Age | None = None
    kind: TierKind
    value: TierValue = 0
    slots: Annotated[list[SlotCode], msgspec.Meta(max_length=3)] = []
    meal_types: Annotated[list[MealType], msgspec.Meta(max_length=8)] = []
    by_meal_type: Annotated[list[MealTypeValue], msgspec.Meta(max_length=8)] = []
    funding: FundingSplit | None = None


class DeliveryReduction(_Doc, kw_only=True):
    """How the delivery fee is reduced for elders matching the tier ``tier_code``."""

    tier_code: Code
    kind: DeliveryKind
    value: TierValue = 0


class DeliveryRule(_Doc, kw_only=True):
    """The delivery fee and its reductions.

    The reduction is chosen among the tiers the elder matches, independently
    of which tier won the meal subsidy (a 85-year-old 低保 elder gets the 低保
    meal price *and* the 80+ delivery reduction); the largest one applies.
    The delivery subsidy is funded by the policy's funding sources.
    """

    fee_fen: Fen
    reductions: Annotated[list[DeliveryReduction], msgspec.Meta(max_length=32)] = []


class Portability(_Doc, kw_only=True):
    """Which funding sources still pay when the elder eats away from home.

    ``None`` means every source keeps paying ("subsidy follows the person").
    A list names the sources that keep paying; the others' share is simply
    not paid, so the elder's subsidy shrinks by that share (the elder, not
    another payer, bears it: no source ever pays more than its own share).
    Outside the home district is also outside the home street, so both lists
    apply there: going further from home never adds a payer.
    """

    outside_home_street: Annotated[list[FundingSource], msgspec.Meta(max_length=8)] | None = None
    outside_home_district: Annotated[list[FundingSource], msgspec.Meta(max_length=8)] | None = None


class CityBase(_Doc, kw_only=True):
    """How an effective policy was folded from a city base and a district top-up (runtime
    only: set by :func:`canteen.subsidies.rules.effective_policy`, never stored, refused on
    input). ``policy`` is the city's version in force; ``own`` tells whether the district has
    a policy of its own (the top-up: the effective policy's tiers and funding); the delivery
    rule is the district's when it has one, else the base's (``delivery_from_base``)."""

    policy: Policy
    own: bool = True
    delivery_from_base: bool = False


class Policy(_Doc, kw_only=True):
    """A district's (or a city's) subsidy policy, one version of it.

    A city's document has ``city_id`` and no ``district_id``; a district's has
    ``district_id``. The effective policy of a district on a day (the district's
    own, folded with the city base in force: see
    :func:`canteen.subsidies.rules.effective_policy`) always names the district in
    ``district_id``, and carries the base in ``city_base`` (runtime only).

    ``combination`` ``"best"`` gives the single matching tier with the largest
    subsidy (ties go to the tier listed first); ``"stack"`` adds all matching
    tiers up to ``stack_cap_fen`` per meal. ``per_slot_daily_limit``
    subsidised meals per elder per slot per day count across all points of the
    district. ``per_day_limit`` subsidised meals per elder per day across
    slots (None: no such limit). ``monthly_cap_fen`` caps the *meal* subsidy
    per elder per calendar month (delivery subsidies are budgeted apart and not
    capped); the meal that crosses it gets what is left when ``cap_crossing``
    is ``"remainder"``, else full price. ``monthly_cap_meals`` subsidised meals
    per elder per calendar month; the next one is at full price.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    version: Version
    district_id: Id | None = None
    city_id: Id | None = None
    effective_from: date
    effective_until: date | None = None
    combination: Combination = "best"
    stack_cap_fen: Fen | None = None
    per_slot_daily_limit: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    per_day_limit: Annotated[int, msgspec.Meta(ge=1, le=10)] | None = None
    monthly_cap_fen: Fen | None = None
    cap_crossing: CapCrossing = "remainder"
    monthly_cap_meals: Annotated[int, msgspec.Meta(ge=1, le=200)] | None = None
    funding: FundingSplit
    tiers: Annotated[list[Tier], msgspec.Meta(max_length=32)] = []
    delivery: DeliveryRule | None = None
    portability: Portability = msgspec.field(default_factory=Portability)
    # Runtime only (never stored; the store and the API drop it on input).
    city_base: CityBase | None = None


class Usage(_Doc, kw_only=True):
    """What the elder has already used, counted by the caller before quoting.

    ``slot_meals_today``: subsidised meals already taken in this slot today,
    across all points of the district (a meal is subsidised when its quote had
    ``subsidy_fen > 0``). ``month_subsidy_fen``: meal subsidy fen already
    received this calendar month (delivery subsidies excluded).
    ``day_meals_today``: subsidised meals already taken today in any slot
    (for ``per_day_limit``). ``month_meals``: subsidised meals already taken
    this calendar month (for ``monthly_cap_meals``).
    """

    slot_meals_today: Count = 0
    month_subsidy_fen: Fen = 0
    day_meals_today: Count = 0
    month_meals: Count = 0


class FundingPart(_Doc, kw_only=True):
    """One payer's fen in a quote."""

    source: FundingSource
    fen: Fen


class Quote(_Doc, kw_only=True):
    """The price split for one meal for one elder, and why.

    ``copay_fen = list_price_fen - subsidy_fen`` and ``delivery_copay_fen =
    delivery_fee_fen - delivery_subsidy_fen``; ``total_due_fen`` is their sum.
    ``funding`` parts sum exactly to ``subsidy_fen`` (empty when it is 0), and
    ``delivery_funding`` to ``delivery_subsidy_fen``. ``tier_code`` is the
    applied tier (the largest contributor when stacking; all applied tiers are
    in ``tier_codes``), ``None`` when no tier applied.
    """

    list_price_fen: Fen
    subsidy_fen: Fen
    copay_fen: Fen
    funding: list[FundingPart]
    delivery_fee_fen: Fen
    delivery_subsidy_fen: Fen
    delivery_copay_fen: Fen
    delivery_funding: list[FundingPart]
    total_due_fen: Annotated[int, msgspec.Meta(ge=0, le=2 * MAX_FEN)]
    tier_code: Code | None
    tier_codes: Annotated[list[Code], msgspec.Meta(max_length=32)]
    tier_name_zh: NameZh | None
    tier_name_en: NameEn | None
    reason_zh: Reason
    reason_en: Reason
    policy_version: Version
    # The district whose policy priced the meal and whose funders owe its subsidy: the elder's
    # home district wherever in the city they eat (``rules.deciding_district``). None for a
    # list-price quote with no policy.
    policy_district_id: Id | None = None
    # With a city base (see rules.effective_policy): the city's version, the base part of the
    # subsidy and what each payer pays of it (``funding`` is the whole: base + top-up).
    # ``policy_version`` is the district's version, or the city's when the district has none.
    city_policy_version: Version | None = None
    base_subsidy_fen: Fen | None = None
    base_funding: list[FundingPart] = []
