"""A library of complete policies in the styles real city documents use, each with its table
of elders × dates × sets → co-pay and what each payer pays, worked out by hand (the comment on
each row says how). The same tables are checked through ``quote()`` (tests/unit/subsidies) and
through real HTTP quotes and check-ins (tests/integration/subsidies/test_policy_library.py).

Every elder was born on 1 January, so their age on any day of the year is the age named.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from canteen.core.categories import Category
from canteen.subsidies.rules import effective_policy
from canteen.subsidies.schemas import FundingShare, MealTypeValue, Policy, Portability, Tier, Usage

DISTRICT = 1
DAY = dt.date(2026, 6, 16)

# key → (age, categories); None: a walk-in (not a member).
ELDERS: dict[str, tuple[int, tuple[str, ...]] | None] = {
    "plain65": (65, ()),
    "age75": (75, ()),
    "age85": (85, ()),
    "dibao75": (75, (Category.DIBAO.value,)),
    "dibao85": (85, (Category.DIBAO.value,)),
    "tekun85": (85, (Category.TEKUN.value,)),
    "disabled82": (82, (Category.DISABLED.value,)),
    "walk_in": None,
}


@dataclass(frozen=True)
class Row:
    """One line of a policy's table: who eats what, having used ``usage`` → what they pay."""

    elder: str
    copay: int
    funding: dict[str, int]
    slot: str = "lunch"
    meal_type: str = "standard"
    price: int = 1500
    usage: Usage = field(default_factory=Usage)
    day: dt.date = DAY
    note: str = ""
    # Where the meal is eaten: at home (the home street), in another street of the home
    # district, or in another district of the city (补贴跟着人走).
    where: str = "home"

    @property
    def subsidy(self) -> int:
        return self.price - self.copay


@dataclass(frozen=True)
class Operating:
    """An operating subsidy the district pays the point (``accounting.kpis.RULE_KINDS``)."""

    kind: str
    amount_fen: int
    source: str


@dataclass(frozen=True)
class Fixture:
    key: str
    policy: Policy
    rows: list[Row]
    # Paid to the point besides the meal subsidies; and the claim period the statements use.
    operating: tuple[Operating, ...] = ()
    period: str = "month"  # month | quarter
    city_base: Policy | None = None  # the city's base policy under the district's (a top-up)

    def effective(self) -> Policy:
        """The policy the rules price with: the district's, with the city's base folded in."""
        if self.city_base is None:
            return self.policy
        found = effective_policy(self.city_base, self.policy, DISTRICT)
        assert found is not None
        return found

    def operating_fen(self, source: str, diner_days: int, subsidised_meals: int) -> int:
        """What the statement for ``source`` owes the point in operating subsidies, by hand."""
        fen = 0
        for o in self.operating:
            if o.source == source and o.kind == "per_diner_day":
                fen += o.amount_fen * diner_days
            elif o.source == source and o.kind == "per_meal":
                fen += o.amount_fen * subsidised_meals
        return fen


def _tier(code: str, kind: str, value: int = 0, **kw: object) -> Tier:
    return Tier(code=code, name_zh=code, name_en=code, kind=kind, value=value, **kw)  # type: ignore[arg-type]


def _policy(name: str, **kw: object) -> Policy:
    return Policy(name=name, version=1, district_id=DISTRICT, effective_from=dt.date(2026, 1, 1), **kw)  # type: ignore[arg-type]


# 1. A split of fixed amounts with a remainder: "市级每餐2元、区级每餐2元，其余由街道承担";
#    the 80+ tier has its own split (city half, district 1 yuan, the street the rest).
FIXED_SPLIT = Fixture(
    "fixed_split",
    _policy(
        "固定金额分担",
        funding=[
            FundingShare(source="city", fixed_fen=200),
            FundingShare(source="district", fixed_fen=200),
            FundingShare(source="street", rest=True),
        ],
        tiers=[
            _tier("dibao", "fixed_copay", 300, categories=[Category.DIBAO.value]),
            _tier(
                "age80",
                "amount_off",
                800,
                min_age=80,
                funding=[
                    FundingShare(source="city", percent=50),
                    FundingShare(source="district", fixed_fen=100),
                    FundingShare(source="street", rest=True),
                ],
            ),
            _tier("senior60", "amount_off", 500, min_age=60),
        ],
    ),
    [
        Row("plain65", 1000, {"city": 200, "district": 200, "street": 100}, note="5 off: 2 + 2 + rest 1"),
        Row("dibao75", 300, {"city": 200, "district": 200, "street": 800}, note="12 off: 2 + 2 + rest 8"),
        Row("dibao75", 300, {"city": 200, "district": 200, "street": 1100}, price=1800, note="15 off"),
        Row(
            "plain65",
            0,
            {"city": 200, "district": 100},
            slot="breakfast",
            price=300,
            note="a 3-yuan set: 3 off; the city's 2 first, the district's 1, nothing left",
        ),
        Row(
            "age85",
            700,
            {"city": 400, "district": 100, "street": 300},
            note="age80 (8 off, own split): district 1 fixed, city 50 % = 4, street the rest 3",
        ),
        Row("walk_in", 1500, {}),
    ],
)

# 2. One subsidised meal a day whichever slot; the 60+ tier at lunch only; and an operating
#    subsidy of 1 yuan per elder served per day (distinct diners, not meals), paid by the district.
PER_DAY = Fixture(
    "per_day",
    _policy(
        "每日一餐",
        per_day_limit=1,
        funding=[FundingShare(source="city", percent=60), FundingShare(source="district", percent=40)],
        tiers=[
            _tier("age80", "amount_off", 600, min_age=80),
            _tier("senior60", "amount_off", 300, min_age=60, slots=["lunch"]),
        ],
    ),
    [
        Row("plain65", 1200, {"city": 180, "district": 120}, note="lunch: 3 off, 60/40"),
        Row("plain65", 1500, {}, slot="dinner", note="the 60+ tier is lunch only"),
        Row("plain65", 500, {}, slot="breakfast", price=500, note="lunch only"),
        Row("age85", 900, {"city": 360, "district": 240}, slot="dinner", note="6 off at any slot"),
        Row(
            "age85",
            1500,
            {},
            slot="dinner",
            usage=Usage(day_meals_today=1),
            note="had a subsidised lunch: dinner at full price",
        ),
    ],
    operating=(Operating("per_diner_day", 100, "district"),),
)

# 3. Age bands that stack with category top-ups, capped per meal, and a monthly money cap
#    whose crossing meal is sold at full price.
AGE_STACK = Fixture(
    "age_stack",
    _policy(
        "高龄叠加",
        combination="stack",
        stack_cap_fen=1000,
        monthly_cap_fen=20000,
        cap_crossing="full_price",
        funding=[FundingShare(source="city", percent=50), FundingShare(source="district", percent=50)],
        tiers=[
            _tier("age70", "amount_off", 300, min_age=70, max_age=79),
            _tier(
                "age80",
                "amount_off",
                500,
                min_age=80,
                funding=[
                    FundingShare(source="city", percent=60),
                    FundingShare(source="district", percent=40),
                ],
            ),
            _tier(
                "dibao_topup",
                "amount_off",
                400,
                categories=[Category.DIBAO.value],
                funding=[
                    FundingShare(source="city", fixed_fen=100),
                    FundingShare(source="district", rest=True),
                ],
            ),
            _tier(
                "tekun_topup",
                "amount_off",
                800,
                categories=[Category.TEKUN.value],
                funding=[FundingShare(source="district", percent=100)],
            ),
        ],
    ),
    [
        Row("age75", 1200, {"city": 150, "district": 150}, note="age70: 3 off, 50/50"),
        Row(
            "dibao75",
            800,
            {"city": 250, "district": 450},
            note="age70 3 (1.5 + 1.5) + dibao 4 (city 1, district rest 3) = 7",
        ),
        Row(
            "dibao85",
            600,
            {"city": 400, "district": 500},
            note="age80 5 (3 + 2) + dibao 4 (1 + 3) = 9",
        ),
        Row(
            "tekun85",
            500,
            {"city": 231, "district": 769},
            note="5 + 8 = 13 capped at 10: age80's 5 → 3.85 (city 2.31, district 1.54), tekun's 8 → 6.15",
        ),
        Row(
            "dibao85",
            1500,
            {},
            usage=Usage(month_subsidy_fen=19500),
            note="5 yuan left under the cap, less than 9: full price",
        ),
        Row(
            "dibao85",
            600,
            {"city": 400, "district": 500},
            usage=Usage(month_subsidy_fen=19100),
            note="9 left: the whole 9",
        ),
        Row("plain65", 1500, {}, note="no tier"),
    ],
)

# 4. Therapeutic and soft sets with their own subsidy, a standard-only tier, 22 meals a month.
THERAPEUTIC = Fixture(
    "therapeutic",
    _policy(
        "治疗餐",
        monthly_cap_meals=22,
        funding=[FundingShare(source="city", percent=70), FundingShare(source="district", percent=30)],
        tiers=[
            _tier(
                "diet",
                "amount_off",
                500,
                categories=[Category.DISABLED.value],
                by_meal_type=[
                    MealTypeValue(meal_type="therapeutic", kind="amount_off", value=1000),
                    MealTypeValue(meal_type="soft", kind="fixed_copay", value=200),
                ],
            ),
            _tier("senior60", "amount_off", 300, min_age=60, meal_types=["standard"]),
        ],
    ),
    [
        Row("disabled82", 1000, {"city": 700, "district": 300}, meal_type="therapeutic", price=2000),
        Row("disabled82", 200, {"city": 700, "district": 300}, meal_type="soft", price=1200),
        Row("disabled82", 1000, {"city": 350, "district": 150}, note="standard: diet's 5 beats 3"),
        Row("plain65", 2000, {}, meal_type="therapeutic", price=2000, note="the 60+ tier: standard only"),
        Row("plain65", 1200, {"city": 210, "district": 90}),
        Row(
            "disabled82",
            2000,
            {},
            meal_type="therapeutic",
            price=2000,
            usage=Usage(month_meals=22),
            note="the 23rd meal of the month: full price",
        ),
        Row(
            "disabled82",
            1000,
            {"city": 700, "district": 300},
            meal_type="therapeutic",
            price=2000,
            usage=Usage(month_meals=21),
        ),
    ],
)

# 5. A street-office policy claimed by the quarter: 低保 and 特困 elders of the street eat for
#    2 yuan, the street pays 40 %, charity 1 yuan a meal and the district the rest; the point
#    also gets 0.50 yuan per subsidised meal from the street. Claimed quarterly: one statement
#    per funder for the quarter, its months listed.
QUARTERLY = Fixture(
    "quarterly",
    _policy(
        "街道助餐（按季结算）",
        funding=[
            FundingShare(source="street", percent=40),
            FundingShare(source="charity", fixed_fen=100),
            FundingShare(source="district", rest=True),
        ],
        tiers=[
            _tier("tekun", "fixed_copay", 200, categories=[Category.TEKUN.value]),
            _tier("dibao", "fixed_copay", 200, categories=[Category.DIBAO.value]),
        ],
    ),
    [
        Row(
            "dibao75",
            200,
            {"charity": 100, "street": 520, "district": 680},
            note="13 off: charity's fixed 1 first, street 40 % = 5.20, district the rest 6.80",
        ),
        Row(
            "tekun85",
            200,
            {"charity": 100, "street": 720, "district": 980},
            price=2000,
            note="18 off: 1 + 7.20 + 9.80",
        ),
        Row("age85", 1500, {}, note="no tier for age alone"),
    ],
    operating=(Operating("per_meal", 50, "street"),),
    period="quarter",
)

# 6. A city base with district top-ups, and portability: the city gives 低保 3 yuan and 80+ 2
#    yuan off wherever in the city the elder eats; the district tops up 低保 by 4 yuan (district
#    2 fixed, the home street the rest) and 80+ by 1 yuan (district); the street's share is paid
#    only in the home street, the district's follows the person across the city.
CITY_BASE = Fixture(
    "city_base",
    _policy(
        "区级叠加（市级基础之上）",
        funding=[FundingShare(source="district", percent=100)],
        tiers=[
            _tier(
                "dibao_top",
                "amount_off",
                400,
                categories=[Category.DIBAO.value],
                funding=[
                    FundingShare(source="district", fixed_fen=200),
                    FundingShare(source="street", rest=True),
                ],
            ),
            _tier("age80_top", "amount_off", 100, min_age=80),
        ],
        # The top-up's own payers only; the base's city share follows the base's portability.
        portability=Portability(outside_home_street=["district"], outside_home_district=["district"]),
    ),
    [
        Row(
            "dibao75",
            800,
            {"city": 300, "district": 200, "street": 200},
            note="base 3 (city) + top 4 (2 + 2)",
        ),
        Row("dibao75", 1000, {"city": 300, "district": 200}, where="street", note="no street share away"),
        Row("dibao75", 1000, {"city": 300, "district": 200}, where="district", note="the district's follows"),
        Row("age85", 1200, {"city": 200, "district": 100}, note="base 2 + top 1"),
        Row("age85", 1200, {"city": 200, "district": 100}, where="district", note="both follow the person"),
        Row("plain65", 1500, {}, note="no tier in either part"),
        Row("walk_in", 1500, {}),
    ],
    city_base=Policy(
        name="市级基础补贴",
        version=1,
        city_id=1,
        effective_from=dt.date(2026, 1, 1),
        funding=[FundingShare(source="city", percent=100)],
        tiers=[
            _tier("city_dibao", "amount_off", 300, categories=[Category.DIBAO.value]),
            _tier("city_age80", "amount_off", 200, min_age=80),
        ],
    ),
)

LIBRARY: list[Fixture] = [FIXED_SPLIT, PER_DAY, AGE_STACK, THERAPEUTIC, QUARTERLY, CITY_BASE]


def birth_date(age: int, day: dt.date) -> dt.date:
    """Born on 1 January: ``age`` on every day of ``day``'s year."""
    return dt.date(day.year - age, 1, 1)
