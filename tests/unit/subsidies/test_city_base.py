"""A city base with district top-ups (rules.effective_policy + quote): the combination table
(elders × settings → co-pay and what each payer pays, worked out by hand in each row's note),
the merged limits and delivery rule, and properties of any base + top-up (hypothesis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.core.categories import CATEGORIES, SLOTS, Category
from canteen.subsidies.demo import city_base_policy, demo_policy
from canteen.subsidies.rules import effective_policy, quote, validate_policy
from canteen.subsidies.schemas import (
    MEAL_TYPES,
    CategoryGrant,
    DeliveryReduction,
    DeliveryRule,
    ElderFacts,
    FundingShare,
    Policy,
    Portability,
    Quote,
    Tier,
    Usage,
)
from tests.unit.subsidies.test_splits_and_limits import policies

DAY = dt.date(2026, 6, 16)
GONGSHU = 5  # the district (拱墅区)
HOME_STREET = 51

ELDERS: dict[str, tuple[int, tuple[str, ...]] | None] = {
    "plain65": (65, ()),
    "age85": (85, ()),
    "dibao75": (75, (Category.DIBAO.value,)),
    "dibao85": (85, (Category.DIBAO.value,)),
    "walk_in": None,
}


def facts(key: str) -> ElderFacts:
    spec = ELDERS[key]
    if spec is None:
        return ElderFacts(member=False)
    age, cats = spec
    return ElderFacts(
        member=True,
        birth_date=dt.date(DAY.year - age, 1, 1),
        categories=[CategoryGrant(code=c, valid_from=dt.date(2020, 1, 1)) for c in cats],
        home_street_id=HOME_STREET,
        home_district_id=GONGSHU,
    )


def hangzhou_base(**kw: object) -> Policy:
    """杭州市: every member aged 80+ gets 3 yuan off, paid 100 % by the city."""
    fields: dict[str, object] = {
        "name": "杭州市基础补贴",
        "version": 3,
        "city_id": 1,
        "effective_from": dt.date(2026, 1, 1),
        "funding": [FundingShare(source="city", percent=100)],
        "tiers": [
            Tier(code="age80", name_zh="80岁以上", name_en="80+", min_age=80, kind="amount_off", value=300)
        ],
    }
    fields.update(kw)
    return Policy(**fields)  # type: ignore[arg-type]


def gongshu_topup(**kw: object) -> Policy:
    """拱墅区: 低保 +4 yuan (district 2 yuan fixed, the street the rest), 80+ +1 yuan (district)."""
    fields: dict[str, object] = {
        "name": "拱墅区叠加补贴",
        "version": 2,
        "district_id": GONGSHU,
        "effective_from": dt.date(2026, 1, 1),
        "funding": [FundingShare(source="district", percent=100)],
        "tiers": [
            Tier(code="dibao", name_zh="低保", name_en="Dibao", categories=[Category.DIBAO.value],
                 kind="amount_off", value=400,
                 funding=[FundingShare(source="district", fixed_fen=200),
                          FundingShare(source="street", rest=True)]),
            Tier(code="age80", name_zh="80岁以上", name_en="80+", min_age=80, kind="amount_off", value=100),
        ],
    }  # fmt: skip
    fields.update(kw)
    return Policy(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Row:
    elder: str
    copay: int
    funding: dict[str, int]
    base: dict[str, int]
    topup: dict[str, object] = field(default_factory=dict)  # changes to the top-up
    base_kw: dict[str, object] = field(default_factory=dict)  # changes to the base
    price: int = 1500
    usage: Usage = field(default_factory=Usage)
    site_district: int = GONGSHU
    note: str = ""


ROWS = [
    Row("dibao85", 800, {"city": 300, "district": 200, "street": 200}, {"city": 300},
        note="base 3 (city); top-up best of 低保 4 / 80+ 1 = 4: district 2 fixed, street the rest 2"),
    Row("dibao75", 1100, {"district": 200, "street": 200}, {}, note="no base tier; top-up 低保 4"),
    Row("age85", 1100, {"city": 300, "district": 100}, {"city": 300}, note="base 3 + top-up 80+ 1"),
    Row("plain65", 1500, {}, {}, note="nothing matches"),
    Row("walk_in", 1500, {}, {}, note="a walk-in pays the list price"),
    Row("dibao85", 700, {"city": 300, "district": 300, "street": 200}, {"city": 300},
        topup={"combination": "stack"}, note="stacked top-up: 低保 4 (2+2) + 80+ 1 (district) = 5"),
    Row("dibao85", 0, {"city": 300, "district": 200}, {"city": 300}, price=500,
        note="5-yuan set: base 3, the top-up clipped first to the 2 left (the district's fixed 2)"),
    Row("age85", 0, {"city": 200}, {"city": 200}, price=200, note="2-yuan set: the base alone covers it"),
    Row("dibao85", 300, {"city": 300, "district": 900}, {"city": 300},
        topup={"tiers": [Tier(code="dibao", name_zh="低保", name_en="Dibao",
                              categories=[Category.DIBAO.value], kind="fixed_copay", value=300)]},
        note="a fixed co-pay top-up sets the final co-pay: 3 yuan (base 3, the district the other 9)"),
    Row("dibao85", 1000, {"city": 300, "district": 100, "street": 100}, {"city": 300},
        topup={"monthly_cap_fen": 10_000}, usage=Usage(month_subsidy_fen=9_500),
        note="5 yuan left under the monthly cap: base 3, top-up clipped to 2 in proportion (1 + 1)"),
    Row("dibao85", 800, {"city": 300, "district": 200, "street": 200}, {"city": 300},
        base_kw={"monthly_cap_fen": 20_000}, topup={"monthly_cap_fen": 10_000},
        usage=Usage(month_subsidy_fen=9_000), note="the stricter cap (100 yuan) leaves 10: nothing clipped"),
    Row("dibao85", 1500, {}, {}, base_kw={"per_day_limit": 1}, usage=Usage(day_meals_today=1),
        note="the base's per-day limit holds although the district sets none: list price"),
    Row("dibao85", 1500, {}, {}, topup={"monthly_cap_meals": 10}, base_kw={"monthly_cap_meals": 22},
        usage=Usage(month_meals=10), note="the district's stricter monthly meal count: list price"),
    Row("dibao85", 1000, {"city": 300, "district": 200}, {"city": 300}, site_district=6,
        topup={"portability": Portability(outside_home_district=["district"])},
        note="eating in another district: the base follows the person, the street's part stays home"),
    Row("dibao85", 1300, {"district": 200}, {}, site_district=6,
        base_kw={"portability": Portability(outside_home_district=[])},
        topup={"portability": Portability(outside_home_district=["district"])},
        note="the base's own portability: the city pays only at home"),
]  # fmt: skip


def priced(row: Row, *, mode: str = "dine_in") -> Quote:
    eff = effective_policy(hangzhou_base(**row.base_kw), gongshu_topup(**row.topup), GONGSHU)
    assert eff is not None
    home = row.site_district == GONGSHU
    return quote(elder=facts(row.elder), list_price_fen=row.price, slot="lunch", day=DAY, mode=mode,
                 policy=eff, usage=row.usage, site_street_id=HOME_STREET if home else 61,
                 site_district_id=row.site_district if facts(row.elder).member else GONGSHU)  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{r.elder}" for i, r in enumerate(ROWS)])
def test_combination_table(row: Row) -> None:
    q = priced(row)
    assert q.copay_fen == row.copay, row.note
    assert {p.source: p.fen for p in q.funding} == row.funding, row.note
    assert {p.source: p.fen for p in q.base_funding} == row.base, row.note
    assert q.base_subsidy_fen == sum(row.base.values())
    assert q.subsidy_fen == row.price - row.copay
    assert q.policy_version == 2 and q.city_policy_version == 3
    assert q.policy_district_id == GONGSHU  # the base's funders are owed by the district's meals too


def test_the_reason_names_both_parts() -> None:
    q = priced(ROWS[0])
    assert q.reason_zh.startswith("市级基础补贴：") and "区级叠加补贴：" in q.reason_zh
    assert q.reason_en.startswith("City base: ") and "district top-up: " in q.reason_en
    assert q.tier_code == "dibao" and q.tier_codes == ["age80", "dibao"]


def test_effective_policy_merges_limits_and_names_the_district() -> None:
    base = hangzhou_base(per_day_limit=2, monthly_cap_meals=22, monthly_cap_fen=None)
    top = gongshu_topup(per_slot_daily_limit=2, per_day_limit=None, monthly_cap_meals=30,
                        monthly_cap_fen=12_000, cap_crossing="full_price")  # fmt: skip
    eff = effective_policy(base, top, GONGSHU)
    assert eff is not None and eff.city_base is not None
    assert eff.district_id == GONGSHU and eff.version == 2
    assert (eff.per_slot_daily_limit, eff.per_day_limit, eff.monthly_cap_meals) == (1, 2, 22)
    assert (eff.monthly_cap_fen, eff.cap_crossing) == (12_000, "full_price")
    assert eff.tiers == top.tiers and eff.funding == top.funding
    # No base: the district's own policy itself; no own policy: the base named as the district's.
    assert effective_policy(None, top, GONGSHU) is top
    alone = effective_policy(base, None, GONGSHU)
    assert alone is not None and alone.district_id == GONGSHU and alone.tiers == []
    assert alone.per_day_limit == 2 and alone.version == 3
    assert effective_policy(None, None, GONGSHU) is None


def test_a_district_without_its_own_policy_is_priced_by_the_base_alone() -> None:
    eff = effective_policy(hangzhou_base(), None, GONGSHU)
    assert eff is not None
    q = quote(elder=facts("dibao85"), list_price_fen=1500, slot="lunch", day=DAY, mode="dine_in",
              policy=eff, usage=Usage(), site_street_id=HOME_STREET, site_district_id=GONGSHU)  # fmt: skip
    assert (q.copay_fen, q.base_subsidy_fen) == (1200, 300)
    assert [(p.source, p.fen) for p in q.funding] == [("city", 300)]
    assert q.policy_version == q.city_policy_version == 3


def test_delivery_rule_is_the_districts_else_the_bases() -> None:
    base_rule = DeliveryRule(fee_fen=500, reductions=[DeliveryReduction(tier_code="age80", kind="free")])
    top_rule = DeliveryRule(
        fee_fen=400, reductions=[DeliveryReduction(tier_code="dibao", kind="amount_off", value=100)]
    )
    # The district has none: the base's (matched on the base's tiers, paid by the city).
    q = priced(Row("age85", 0, {}, {}, base_kw={"delivery": base_rule}), mode="delivery")
    assert (q.delivery_fee_fen, q.delivery_subsidy_fen) == (500, 500)
    assert [(p.source, p.fen) for p in q.delivery_funding] == [("city", 500)]
    # The district has one: the district's.
    q = priced(Row("dibao85", 0, {}, {}, base_kw={"delivery": base_rule}, topup={"delivery": top_rule}),
               mode="delivery")  # fmt: skip
    assert (q.delivery_fee_fen, q.delivery_subsidy_fen) == (400, 100)
    assert [(p.source, p.fen) for p in q.delivery_funding] == [("district", 100)]
    assert q.total_due_fen == q.copay_fen + 300


def test_the_demo_district_tops_up_the_demo_city_base() -> None:
    eff = effective_policy(city_base_policy(city_id=1), demo_policy(district_id=GONGSHU), GONGSHU)
    assert eff is not None
    expected = {"age85": (800, 200), "dibao85": (300, 200), "plain65": (1300, 0), "dibao75": (300, 0)}
    for key, (copay, base_fen) in expected.items():
        q = quote(elder=facts(key), list_price_fen=1500, slot="lunch", day=DAY, mode="dine_in", policy=eff,
                  usage=Usage(), site_street_id=HOME_STREET, site_district_id=GONGSHU)  # fmt: skip
        assert (q.copay_fen, q.base_subsidy_fen) == (copay, base_fen), key


def test_the_runtime_field_is_never_part_of_a_stored_document() -> None:
    from canteen.subsidies.services import _stored

    eff = effective_policy(hangzhou_base(), gongshu_topup(), GONGSHU)
    assert eff is not None
    assert "city_base" not in _stored(eff)
    old = msgspec.json.encode(
        {k: v for k, v in msgspec.to_builtins(gongshu_topup()).items() if k != "city_base"}
    )
    assert msgspec.json.decode(old, type=Policy) == gongshu_topup()


# ------------------------------------------------------------------ properties


def _as_base(policy: Policy) -> Policy:
    return msgspec.structs.replace(policy, district_id=None, city_id=1, version=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.none() | policies(),
    top=st.none() | policies(),
    age=st.none() | st.integers(50, 105),
    cats=st.lists(st.sampled_from(sorted(CATEGORIES)), max_size=2, unique=True),
    member=st.booleans(),
    away=st.sampled_from(["home", "street", "district"]),
    price=st.integers(0, 5000),
    slot=st.sampled_from(sorted(SLOTS)),
    meal_type=st.sampled_from(MEAL_TYPES),
    usage=st.builds(
        Usage,
        slot_meals_today=st.integers(0, 3),
        month_subsidy_fen=st.integers(0, 30000),
        day_meals_today=st.integers(0, 4),
        month_meals=st.integers(0, 31),
    ),
)
def test_prop_any_base_and_topup_split_exactly(
    base: Policy | None,
    top: Policy | None,
    age: int | None,
    cats: list[str],
    member: bool,
    away: str,
    price: int,
    slot: str,
    meal_type: str,
    usage: Usage,
) -> None:
    base = _as_base(base) if base is not None else None
    for p in (base, top):
        if p is not None:
            validate_policy(p)
    eff = effective_policy(base, top, 1)
    if eff is None:
        return
    elder = ElderFacts(
        member=member,
        birth_date=dt.date(DAY.year - age, 1, 1) if age is not None else None,
        categories=[CategoryGrant(code=c, valid_from=dt.date(2020, 1, 1)) for c in cats],
        home_street_id=1 if away == "home" else 2,
        home_district_id=1,
    )
    kw = {"elder": elder, "list_price_fen": price, "slot": slot, "day": DAY, "mode": "dine_in",
          "usage": usage, "site_street_id": 1, "meal_type": meal_type,
          "site_district_id": 2 if away == "district" and member else 1}  # fmt: skip
    q = quote(policy=eff, **kw)  # type: ignore[arg-type]
    assert sum(p.fen for p in q.funding) == q.subsidy_fen
    assert all(p.fen > 0 for p in q.funding) and len({p.source for p in q.funding}) == len(q.funding)
    assert q.copay_fen + q.subsidy_fen == q.list_price_fen == price
    assert 0 <= q.subsidy_fen <= price
    if base is None:
        # No base: exactly the district's policy alone.
        assert top is not None
        assert q == quote(policy=top, **kw)  # type: ignore[arg-type]
        return
    assert q.city_policy_version == 7
    assert q.base_subsidy_fen is not None and q.base_subsidy_fen <= q.subsidy_fen
    assert sum(p.fen for p in q.base_funding) == q.base_subsidy_fen
    # Every payer's base part is within what it pays in all.
    total = {p.source: p.fen for p in q.funding}
    assert all(p.fen <= total.get(p.source, 0) for p in q.base_funding)
    reached = (
        usage.slot_meals_today >= eff.per_slot_daily_limit
        or (eff.per_day_limit is not None and usage.day_meals_today >= eff.per_day_limit)
        or (eff.monthly_cap_meals is not None and usage.month_meals >= eff.monthly_cap_meals)
    )
    if reached or not member:
        assert q.subsidy_fen == 0
    for p in (base, top):
        if p is not None and p.monthly_cap_fen is not None:
            assert q.subsidy_fen <= max(0, p.monthly_cap_fen - usage.month_subsidy_fen)
