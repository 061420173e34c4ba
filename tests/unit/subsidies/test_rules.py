"""The subsidy engine: worked examples on the demo policy, then properties on random policies."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.core.categories import (
    CATEGORIES,
    DELIVERY_ELIGIBLE_CATEGORIES,
    Category,
    category_label,
    slot_label,
)
from canteen.core.errors import DomainError
from canteen.core.money import split_fen
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.rules import (
    _split_fen_fast,
    age_on,
    check_no_overlap,
    policy_in_force,
    quote,
    validate_policy,
)
from canteen.subsidies.schemas import (
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

DISTRICT = 1
HOME_STREET = 11
DAY = date(2025, 6, 16)  # a Monday
PRICE = 1500  # a 15-yuan lunch


def elder(
    *,
    age: int | None = 75,
    cats: tuple[str, ...] = (),
    member: bool = True,
    street: int | None = HOME_STREET,
    district: int | None = DISTRICT,
) -> ElderFacts:
    """A member of the demo district who turned ``age`` on 1 March."""
    return ElderFacts(
        member=member,
        birth_date=date(DAY.year - age, 3, 1) if age is not None else None,
        categories=[CategoryGrant(code=c, valid_from=date(2020, 1, 1)) for c in cats],
        home_street_id=street,
        home_district_id=district,
    )


def q(
    e: ElderFacts,
    *,
    policy: Policy | None = None,
    price: int = PRICE,
    slot: str = "lunch",
    day: date = DAY,
    mode: str = "dine_in",
    usage: Usage | None = None,
    street: int = HOME_STREET,
    district: int = DISTRICT,
) -> Quote:
    return quote(
        elder=e,
        list_price_fen=price,
        slot=slot,
        day=day,
        mode=mode,
        policy=policy or demo_policy(district_id=DISTRICT),
        usage=usage or Usage(),
        site_street_id=street,
        site_district_id=district,
    )


def assert_consistent(r: Quote) -> None:
    assert 0 <= r.subsidy_fen <= r.list_price_fen
    assert r.copay_fen == r.list_price_fen - r.subsidy_fen >= 0
    assert sum(p.fen for p in r.funding) == r.subsidy_fen
    assert 0 <= r.delivery_subsidy_fen <= r.delivery_fee_fen
    assert r.delivery_copay_fen == r.delivery_fee_fen - r.delivery_subsidy_fen >= 0
    assert sum(p.fen for p in r.delivery_funding) == r.delivery_subsidy_fen
    assert r.total_due_fen == r.copay_fen + r.delivery_copay_fen
    assert r.reason_zh and r.reason_en
    assert "\n" not in r.reason_zh and "\n" not in r.reason_en


# ------------------------------------------------------------------ vocabulary


def test_vocabulary_labels() -> None:
    assert category_label("tekun") == "特困"
    assert category_label("dibao", "en") == "Minimum living allowance (dibao)"
    assert category_label("retired_code") == "retired_code"
    assert slot_label("lunch") == "午餐"
    assert "gaoling" not in CATEGORIES  # 高龄 is derived from age, never stored
    assert Category.SEVERE_DISABILITY in DELIVERY_ELIGIBLE_CATEGORIES


# --------------------------------------------------------------- demo examples


def test_demo_policy_is_valid_and_round_trips_as_json() -> None:
    p = demo_policy(district_id=7)
    validate_policy(p)
    assert msgspec.json.decode(msgspec.json.encode(p), type=Policy) == p


def test_age_90_reason_matches_the_counter_text() -> None:
    r = q(elder(age=90))
    assert (r.subsidy_fen, r.copay_fen, r.tier_code) == (800, 700, "age90")
    assert r.reason_zh == "高龄90+：减免8.00元；本日午餐首份"
    assert r.reason_en == "Age 90+: 8.00 yuan off; first lunch today"
    assert [(p.source, p.fen) for p in r.funding] == [("city", 480), ("district", 320)]
    assert r.policy_version == 1
    assert_consistent(r)


@pytest.mark.parametrize(
    ("age", "cats", "tier", "copay"),
    [
        (70, ("tekun",), "tekun", 0),
        (70, ("dibao",), "dibao", 300),
        (70, ("disabled",), "disabled", 300),
        (70, ("severe_disability",), "disabled", 300),
        (85, (), "age80", 1000),
        (89, (), "age80", 1000),
        (60, (), "senior60", 1300),
        (70, ("living_alone",), "senior60", 1300),  # no tier for 独居 alone
        (92, ("dibao",), "dibao", 300),  # best tier: 12 yuan off beats 8
        (92, ("tekun", "dibao"), "tekun", 0),
    ],
)
def test_demo_tiers(age: int, cats: tuple[str, ...], tier: str, copay: int) -> None:
    r = q(elder(age=age, cats=cats))
    assert (r.tier_code, r.copay_fen) == (tier, copay)
    assert_consistent(r)


def test_under_60_without_category_pays_list_price() -> None:
    r = q(elder(age=59))
    assert (r.subsidy_fen, r.tier_code, r.funding) == (0, None, [])
    assert r.reason_zh == "不符合补贴条件：按原价"


def test_walk_in_pays_list_price_even_if_old_and_poor() -> None:
    r = q(elder(age=95, cats=("tekun",), member=False), mode="delivery")
    assert (r.subsidy_fen, r.copay_fen, r.delivery_copay_fen, r.total_due_fen) == (0, 1500, 500, 2000)
    assert r.reason_zh.startswith("非会员")


def test_age_is_taken_on_the_meal_date() -> None:
    e = ElderFacts(member=True, birth_date=date(1935, 6, 16), home_street_id=HOME_STREET, home_district_id=1)
    assert q(e, day=date(2025, 6, 15)).tier_code == "age80"
    assert q(e, day=date(2025, 6, 16)).tier_code == "age90"


def test_age_on_leap_day_birthdays() -> None:
    born = date(1936, 2, 29)
    assert age_on(born, date(2025, 2, 28)) == 88
    assert age_on(born, date(2025, 3, 1)) == 89
    assert age_on(born, date(2028, 2, 29)) == 92


def test_expired_category_falls_back_to_the_age_tier() -> None:
    e = ElderFacts(
        member=True,
        birth_date=date(1940, 1, 1),
        categories=[CategoryGrant(code="dibao", valid_from=date(2020, 1, 1), valid_until=date(2025, 6, 15))],
        home_street_id=HOME_STREET,
        home_district_id=DISTRICT,
    )
    assert q(e, day=date(2025, 6, 15)).tier_code == "dibao"  # valid_until is inclusive
    assert q(e, day=date(2025, 6, 16)).tier_code == "age80"


def test_category_not_yet_valid_does_not_match() -> None:
    e = ElderFacts(
        member=True,
        birth_date=date(1970, 1, 1),  # 55: no age tier either
        categories=[CategoryGrant(code="tekun", valid_from=date(2025, 7, 1))],
        home_street_id=HOME_STREET,
        home_district_id=DISTRICT,
    )
    assert q(e).tier_code is None


def test_second_lunch_is_full_price_with_a_reason() -> None:
    r = q(elder(age=92), usage=Usage(slot_meals_today=1), mode="delivery")
    assert (r.subsidy_fen, r.delivery_subsidy_fen, r.total_due_fen) == (0, 0, 2000)
    assert r.reason_zh == "本日午餐补贴已用（1/1份）：按原价；送餐费5.00元"
    assert r.reason_en.startswith("Subsidised lunch already taken today (1 of 1)")
    # The limit is per slot: dinner the same day is still subsidised.
    assert q(elder(age=92), slot="dinner").reason_zh.endswith("本日晚餐首份")


def test_delivery_fee_rules() -> None:
    tekun = q(elder(cats=("tekun",)), mode="delivery")
    assert (tekun.delivery_fee_fen, tekun.delivery_subsidy_fen, tekun.total_due_fen) == (500, 500, 0)
    # 低保 at 85: the 低保 meal price and the 80+ delivery reduction.
    dibao85 = q(elder(age=85, cats=("dibao",)), mode="delivery")
    assert (dibao85.copay_fen, dibao85.delivery_copay_fen) == (300, 200)
    plain = q(elder(age=70), mode="delivery")
    assert (plain.delivery_subsidy_fen, plain.delivery_copay_fen, plain.delivery_funding) == (0, 500, [])
    dine_in = q(elder(cats=("tekun",)))
    assert (dine_in.delivery_fee_fen, dine_in.delivery_subsidy_fen) == (0, 0)
    for r in (tekun, dibao85, plain, dine_in):
        assert_consistent(r)


def test_outside_home_district_only_the_city_share_follows_the_person() -> None:
    # An elder of district 1 (the policy's) eating at a point of district 2.
    r = q(elder(age=92), district=2, street=99, mode="delivery")
    assert r.subsidy_fen == 480
    assert [(p.source, p.fen) for p in r.funding] == [("city", 480)]
    assert r.delivery_subsidy_fen == 180
    assert "区级补贴不适用" in r.reason_zh
    assert_consistent(r)


def test_outside_home_street_drops_the_street_share() -> None:
    p = demo_policy()
    p = msgspec.structs.replace(
        p,
        funding=[
            FundingShare(source="city", percent=50),
            FundingShare(source="district", percent=30),
            FundingShare(source="street", percent=20),
        ],
        portability=Portability(outside_home_street=["city", "district"], outside_home_district=["city"]),
    )
    validate_policy(p)
    at_home = q(elder(age=92), policy=p)
    away = q(elder(age=92), policy=p, street=12)
    assert at_home.subsidy_fen == 800
    assert away.subsidy_fen == 640  # 80 % of 8 yuan
    assert {f.source for f in away.funding} == {"city", "district"}
    assert_consistent(away)


def test_monthly_cap_clips_the_subsidy() -> None:
    p = msgspec.structs.replace(demo_policy(), monthly_cap_fen=20_000)
    r = q(elder(cats=("tekun",)), policy=p, usage=Usage(month_subsidy_fen=19_500))
    assert (r.subsidy_fen, r.copay_fen) == (500, 1000)
    assert "本月补贴额度仅余5.00元" in r.reason_zh
    r = q(elder(cats=("tekun",)), policy=p, usage=Usage(month_subsidy_fen=20_000), mode="delivery")
    assert (r.subsidy_fen, r.delivery_subsidy_fen) == (0, 500)  # delivery is budgeted apart
    assert "本月补贴额度已用完" in r.reason_zh


def test_stack_with_cap() -> None:
    p = msgspec.structs.replace(demo_policy(), combination="stack", stack_cap_fen=1000)
    validate_policy(p)
    r = q(elder(age=92), policy=p)  # 90+ (8) + 60+ (2) = 10 yuan
    assert (r.subsidy_fen, r.tier_code, r.tier_codes) == (1000, "age90", ["age90", "senior60"])
    r = q(elder(age=92, cats=("dibao",)), policy=p)  # 12 + 8 + 2 capped at 10
    assert r.subsidy_fen == 1000
    assert_consistent(r)


def test_free_tier_on_a_cheap_meal_never_goes_negative() -> None:
    r = q(elder(age=95, cats=("dibao",)), price=200)  # co-pay 3 yuan above a 2-yuan porridge
    assert (r.subsidy_fen, r.copay_fen) == (200, 0)  # the 90+ tier still takes it to 0
    r = q(elder(cats=("dibao",)), price=200)
    assert r.copay_fen == 0
    r = q(elder(cats=("dibao",)), price=0)
    assert (r.subsidy_fen, r.copay_fen, r.funding) == (0, 0, [])


@pytest.mark.parametrize("price", [-1, 10_000_001])
def test_invalid_price(price: int) -> None:
    with pytest.raises(DomainError) as exc:
        q(elder(), price=price)
    assert exc.value.code == "invalid_price"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"slot": "supper"}, "invalid_slot"),
        ({"mode": "takeaway"}, "invalid_mode"),
        ({"day": date(2024, 12, 31)}, "policy_not_in_force"),
    ],
)
def test_quote_refusals(kwargs: dict, code: str) -> None:
    with pytest.raises(DomainError) as exc:
        q(elder(), **kwargs)
    assert exc.value.code == code


def test_the_home_districts_policy_prices_the_meal_anywhere_in_the_city() -> None:
    # An elder of district 1 eating at a point of district 2 is priced by district 1's policy.
    away = q(elder(), district=2, street=99)
    assert away.policy_version == demo_policy(district_id=DISTRICT).version and away.subsidy_fen > 0
    # A policy of another district than the elder's home is refused, wherever the site is.
    for site_district in (1, 2):
        with pytest.raises(DomainError) as exc:
            q(elder(district=2), district=site_district)
        assert exc.value.code == "policy_wrong_district"
    # A walk-in, or a member whose home is unknown, is priced by the site's district.
    assert q(elder(member=False), district=1).subsidy_fen == 0
    with pytest.raises(DomainError) as exc:
        q(elder(district=None), district=2)
    assert exc.value.code == "policy_wrong_district"


# ------------------------------------------------------------------ validation


def _bad(**changes: object) -> Policy:
    return msgspec.structs.replace(demo_policy(), **changes)


def _tier(**changes: object) -> Tier:
    base = Tier(code="x", name_zh="某档", name_en="Some tier", kind="amount_off", value=100)
    return msgspec.structs.replace(base, **changes)


@pytest.mark.parametrize(
    ("policy", "code"),
    [
        (_bad(funding=[FundingShare(source="city", percent=60)]), "policy_funding_not_100"),
        (
            _bad(funding=[FundingShare(source="city", percent=50), FundingShare(source="city", percent=50)]),
            "policy_funding_duplicate",
        ),
        (_bad(tiers=[_tier(categories=["gaoling"])]), "policy_unknown_category"),
        (_bad(tiers=[_tier(min_age=90, max_age=80)]), "policy_invalid_tier"),
        (_bad(tiers=[_tier(kind="percent_off", value=101)]), "policy_invalid_tier"),
        (_bad(tiers=[_tier(kind="free", value=5)]), "policy_invalid_tier"),
        (_bad(tiers=[_tier(), _tier()]), "policy_duplicate_tier"),
        (_bad(tiers=[_tier()]), "policy_unknown_tier"),  # delivery still names the demo tiers
        (_bad(effective_from=date(2025, 1, 1), effective_until=date(2024, 12, 31)), "policy_dates_invalid"),
        (_bad(stack_cap_fen=500), "policy_invalid_combination"),
        (_bad(portability=Portability(outside_home_street=["street"])), "policy_invalid_portability"),
        (
            _bad(
                delivery=DeliveryRule(
                    fee_fen=500, reductions=[DeliveryReduction(tier_code="age90", kind="free", value=1)]
                )
            ),
            "policy_invalid_delivery",
        ),
    ],
)
def test_validate_policy_codes(policy: Policy, code: str) -> None:
    with pytest.raises(DomainError) as exc:
        validate_policy(policy)
    assert exc.value.code == code


def test_policy_document_refuses_unknown_fields_and_out_of_range_values() -> None:
    raw = msgspec.json.encode(demo_policy())
    doc = msgspec.json.decode(raw)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({**doc, "surprise": 1}), type=Policy)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({**doc, "per_slot_daily_limit": 0}), type=Policy)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            msgspec.json.encode({**doc, "funding": [{"source": "mars", "percent": 100}]}), type=Policy
        )


def test_check_no_overlap() -> None:
    existing = [(date(2024, 1, 1), date(2024, 12, 31)), (date(2025, 1, 1), None)]
    check_no_overlap(existing[:1], (date(2025, 1, 1), None))
    for new in [(date(2024, 12, 31), date(2025, 3, 1)), (date(2030, 1, 1), None), (date(2023, 1, 1), None)]:
        with pytest.raises(DomainError) as exc:
            check_no_overlap(existing, new)
        assert exc.value.code == "policy_overlap"


def test_policy_in_force_picks_the_version_for_the_day() -> None:
    v1 = demo_policy(version=1, effective_from=date(2024, 1, 1))
    v1 = msgspec.structs.replace(v1, effective_until=date(2024, 12, 31))
    v2 = demo_policy(version=2, effective_from=date(2025, 1, 1))
    assert policy_in_force([v2, v1], date(2024, 6, 1)) is v1
    assert policy_in_force([v1, v2], date(2025, 6, 1)) is v2
    assert policy_in_force([v1, v2], date(2023, 6, 1)) is None


# ------------------------------------------------------------------ properties

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))
cat_codes = st.sampled_from(sorted(CATEGORIES))


@st.composite
def tiers(draw: st.DrawFn, code: str) -> Tier:
    kind = draw(st.sampled_from(["amount_off", "percent_off", "fixed_copay", "free"]))
    value = {
        "amount_off": st.integers(1, 3000),
        "percent_off": st.integers(1, 100),
        "fixed_copay": st.integers(0, 2000),
        "free": st.just(0),
    }[kind]
    min_age = draw(st.none() | st.integers(55, 95))
    max_age = draw(st.none() | st.integers(min_age or 55, 110))
    return Tier(
        code=code,
        name_zh=f"档{code}",
        name_en=f"Tier {code}",
        categories=draw(st.lists(cat_codes, max_size=3, unique=True)),
        min_age=min_age,
        max_age=max_age,
        kind=kind,
        value=draw(value),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    sources = draw(
        st.lists(
            st.sampled_from(["city", "district", "street", "charity"]), min_size=1, max_size=4, unique=True
        )
    )
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(sources) - 1, max_size=len(sources) - 1)))
    percents = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    ts = [draw(tiers(f"t{i}")) for i in range(draw(st.integers(0, 6)))]
    reductions = [
        DeliveryReduction(
            tier_code=t.code,
            kind=(kind := draw(st.sampled_from(["amount_off", "percent_off", "free"]))),
            value={
                "amount_off": draw(st.integers(1, 800)),
                "percent_off": draw(st.integers(0, 100)),
                "free": 0,
            }[kind],
        )
        for t in ts
        if draw(st.booleans())
    ]
    combination = draw(st.sampled_from(["best", "stack"]))
    subset = st.none() | st.lists(st.sampled_from(sources), unique=True)
    p = Policy(
        name="随机政策",
        version=draw(st.integers(1, 50)),
        district_id=DISTRICT,
        effective_from=date(2024, 1, 1),
        combination=combination,
        stack_cap_fen=draw(st.none() | st.integers(0, 3000)) if combination == "stack" else None,
        per_slot_daily_limit=draw(st.integers(1, 3)),
        monthly_cap_fen=draw(st.none() | st.integers(0, 50_000)),
        funding=[FundingShare(source=s, percent=pc) for s, pc in zip(sources, percents, strict=True)],
        tiers=ts,
        delivery=draw(
            st.none()
            | st.builds(lambda fee: DeliveryRule(fee_fen=fee, reductions=reductions), st.integers(0, 1500))
        ),
        portability=Portability(outside_home_street=draw(subset), outside_home_district=draw(subset)),
    )
    validate_policy(p)
    return p


@st.composite
def grants(draw: st.DrawFn) -> CategoryGrant:
    start = draw(days)
    end = draw(st.none() | st.dates(min_value=start, max_value=date(2028, 1, 1)))
    return CategoryGrant(code=draw(cat_codes), valid_from=start, valid_until=end)


elders = st.builds(
    ElderFacts,
    member=st.booleans() | st.just(True),
    birth_date=st.none() | st.dates(min_value=date(1915, 1, 1), max_value=date(1975, 12, 31)),
    categories=st.lists(grants(), max_size=4),
    home_street_id=st.none() | st.integers(10, 12),
    home_district_id=st.none() | st.just(DISTRICT),
)
usages = st.builds(Usage, slot_meals_today=st.integers(0, 3), month_subsidy_fen=st.integers(0, 60_000))


@st.composite
def cases(draw: st.DrawFn) -> dict:
    e = draw(elders)
    return {
        "elder": e,
        "list_price_fen": draw(st.integers(0, 3000)),
        "slot": draw(st.sampled_from(["breakfast", "lunch", "dinner"])),
        "day": draw(days),
        "mode": draw(st.sampled_from(["dine_in", "delivery"])),
        "policy": draw(policies()),
        "usage": draw(usages),
        "site_street_id": draw(st.integers(10, 12)),
        # The policy is the home district's: a member of it may eat in another district too.
        "site_district_id": DISTRICT
        if e.home_district_id is None or not e.member
        else draw(st.integers(1, 2)),
    }


PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(cases())
def test_prop_quote_is_consistent(case: dict) -> None:
    r = quote(**case)
    assert_consistent(r)  # co-pay >= 0, subsidy <= price, funding parts sum exactly
    assert r.policy_version == case["policy"].version
    if case["mode"] == "dine_in":
        assert (r.delivery_fee_fen, r.delivery_subsidy_fen, r.delivery_funding) == (0, 0, [])
    if not case["elder"].member:
        assert r.subsidy_fen == r.delivery_subsidy_fen == 0
    cap = case["policy"].monthly_cap_fen
    if cap is not None:
        assert r.subsidy_fen <= max(0, cap - case["usage"].month_subsidy_fen)


@PROPS
@given(cases())
def test_prop_best_tier_is_never_worse_than_any_single_matching_tier(case: dict) -> None:
    p: Policy = case["policy"]
    best = quote(**case)
    for tier in p.tiers:
        alone = msgspec.structs.replace(
            p,
            tiers=[tier],
            delivery=(
                msgspec.structs.replace(
                    p.delivery, reductions=[r for r in p.delivery.reductions if r.tier_code == tier.code]
                )
                if p.delivery
                else None
            ),
        )
        single = quote(**{**case, "policy": alone})
        assert single.copay_fen >= best.copay_fen
        assert single.delivery_copay_fen >= best.delivery_copay_fen
        assert single.total_due_fen >= best.total_due_fen


@PROPS
@given(cases(), st.integers(1, 400), st.data())
def test_prop_a_later_version_does_not_change_earlier_quotes(
    case: dict, gap: int, data: st.DataObject
) -> None:
    old: Policy = case["policy"]
    later = msgspec.structs.replace(
        data.draw(policies()), version=old.version + 1, effective_from=case["day"] + timedelta(days=gap)
    )
    before = policy_in_force([old], case["day"])
    after = policy_in_force([old, later], case["day"])
    assert before is old and after is old
    assert quote(**{**case, "policy": after}) == quote(**case)
    # And on the day it takes effect, the new version is the one in force.
    assert policy_in_force([old, later], later.effective_from) is later


@PROPS
@given(cases(), cat_codes, st.integers(1, 2000))
def test_prop_an_expired_category_no_longer_matches(case: dict, code: str, days_ago: int) -> None:
    day: date = case["day"]
    expired = CategoryGrant(
        code=code, valid_from=day - timedelta(days=days_ago + 365), valid_until=day - timedelta(days=days_ago)
    )
    e: ElderFacts = case["elder"]
    with_expired = msgspec.structs.replace(e, categories=[*e.categories, expired])
    assert quote(**{**case, "elder": with_expired}) == quote(**case)


@PROPS
@given(cases())
def test_prop_the_per_slot_limit_is_respected(case: dict) -> None:
    p: Policy = case["policy"]
    used = Usage(slot_meals_today=p.per_slot_daily_limit, month_subsidy_fen=case["usage"].month_subsidy_fen)
    r = quote(**{**case, "usage": used})
    assert r.subsidy_fen == 0 and r.delivery_subsidy_fen == 0
    assert r.total_due_fen == r.list_price_fen + r.delivery_fee_fen
    assert r.funding == [] and r.delivery_funding == []


@PROPS
@given(cases())
def test_prop_away_from_home_never_pays_more(case: dict) -> None:
    e: ElderFacts = case["elder"]
    home = quote(
        **{
            **case,
            "site_street_id": e.home_street_id or 10,
            "site_district_id": DISTRICT,
            "elder": msgspec.structs.replace(
                e, home_street_id=e.home_street_id or 10, home_district_id=DISTRICT
            ),
        }
    )
    # Away: the same member of the policy's district, at a point of another district.
    away = quote(
        **{
            **case,
            "site_district_id": 2 if e.member else DISTRICT,  # a walk-in pays the list price anywhere
            "elder": msgspec.structs.replace(e, home_street_id=None, home_district_id=DISTRICT),
        }
    )
    assert away.subsidy_fen <= home.subsidy_fen
    assert away.delivery_subsidy_fen <= home.delivery_subsidy_fen
    paying = {f.source for f in away.funding} | {f.source for f in away.delivery_funding}
    for field in ("outside_home_street", "outside_home_district"):
        kept = getattr(case["policy"].portability, field)
        if kept is not None:
            assert paying <= set(kept)


@PROPS
@given(
    st.integers(0, 100_000),
    st.lists(st.integers(0, 100), min_size=2, max_size=5).filter(lambda ws: sum(ws) > 0),
)
def test_prop_funding_fast_path_agrees_with_split_fen(total: int, weights: list[int]) -> None:
    assert _split_fen_fast(total, weights) == split_fen(total, weights)
