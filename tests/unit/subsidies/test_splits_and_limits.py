"""Funding splits (fixed amounts, percents, the rest), the meal-count limits and meal types:
worked examples, refusals by code, old documents still decoding, and properties of any valid
policy (hypothesis)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.core.categories import CATEGORIES, SLOTS
from canteen.core.errors import DomainError
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.rules import quote, split_subsidy, validate_policy, validate_split
from canteen.subsidies.schemas import (
    FUNDING_SOURCE_LABELS,
    MEAL_TYPES,
    CategoryGrant,
    ElderFacts,
    FundingShare,
    MealTypeValue,
    Policy,
    Portability,
    Tier,
    Usage,
)

DAY = dt.date(2026, 6, 16)
SOURCES = list(FUNDING_SOURCE_LABELS)


def share(source: str, **kw: object) -> FundingShare:
    return FundingShare(source=source, **kw)  # type: ignore[arg-type]


def test_split_rule_worked_examples() -> None:
    fixed = [share("city", fixed_fen=200), share("district", fixed_fen=200), share("street", rest=True)]
    assert split_subsidy(500, fixed) == [200, 200, 100]
    assert split_subsidy(300, fixed) == [200, 100, 0]  # fixed amounts in order, each at most what is left
    assert split_subsidy(0, fixed) == [0, 0, 0]
    mixed = [share("city", percent=33), share("district", fixed_fen=100), share("street", rest=True)]
    assert split_subsidy(1001, mixed) == [330, 100, 571]  # floor(1001 * 33 %) = 330; the rest 571
    assert split_subsidy(50, mixed) == [0, 50, 0]  # the fixed 1 yuan first takes all 50 fen
    # Percents only: largest remainder, ties to the payer listed first (the rule before #11).
    assert split_subsidy(1001, [share("city", percent=50), share("district", percent=50)]) == [501, 500]


@pytest.mark.parametrize(
    ("shares", "code", "reason"),
    [
        ([share("city", percent=60), share("city", percent=40)], "policy_funding_duplicate", None),
        ([share("city", percent=60), share("district", percent=30)], "policy_funding_not_100", None),
        ([share("city", percent=60, fixed_fen=100), share("district", rest=True)], "policy_funding_invalid",
         "one of percent, fixed_fen or rest"),
        ([share("city")], "policy_funding_invalid", "one of percent, fixed_fen or rest"),
        ([share("city", rest=True), share("district", rest=True)], "policy_funding_invalid",
         "one rest share"),
        ([share("city", fixed_fen=200), share("district", percent=100)], "policy_funding_invalid",
         "fixed amounts need a rest"),
        ([share("city", percent=80), share("district", percent=30), share("street", rest=True)],
         "policy_funding_not_100", None),
    ],
)  # fmt: skip
def test_bad_splits_are_refused_by_code(shares: list[FundingShare], code: str, reason: str | None) -> None:
    with pytest.raises(DomainError) as caught:
        validate_split(shares, "t1")
    assert caught.value.code == code and caught.value.detail["tier_code"] == "t1"
    if reason:
        assert caught.value.detail["reason"] == reason


def test_a_tier_split_and_meal_type_values_are_validated() -> None:
    base = msgspec.structs.replace(demo_policy(), delivery=None)
    bad_tier = Tier(code="x", name_zh="x", name_en="x", kind="amount_off", value=100,
                    funding=[share("city", fixed_fen=100)])  # fmt: skip
    with pytest.raises(DomainError) as caught:
        validate_policy(msgspec.structs.replace(base, tiers=[*base.tiers, bad_tier]))
    assert caught.value.code == "policy_funding_invalid" and caught.value.detail["tier_code"] == "x"
    soft = MealTypeValue(meal_type="soft", kind="free")
    twice = Tier(code="y", name_zh="y", name_en="y", kind="amount_off", value=100, by_meal_type=[soft, soft])
    with pytest.raises(DomainError) as caught:
        validate_policy(msgspec.structs.replace(base, tiers=[twice]))
    assert caught.value.code == "policy_invalid_tier"
    over = MealTypeValue(meal_type="soft", kind="percent_off", value=150)
    bad_value = Tier(code="z", name_zh="z", name_en="z", kind="free", by_meal_type=[over])
    with pytest.raises(DomainError) as caught:
        validate_policy(msgspec.structs.replace(base, tiers=[bad_value]))
    assert caught.value.detail["reason"] == "percent_off needs a value from 1 to 100"
    # Portability may name a source that only a tier's own split has.
    street_tier = Tier(code="s", name_zh="s", name_en="s", kind="amount_off", value=100,
                       funding=[share("street", percent=100)])  # fmt: skip
    validate_policy(
        msgspec.structs.replace(
            base, tiers=[street_tier], portability=Portability(outside_home_street=["street"])
        )
    )


def test_documents_stored_before_issue_11_decode_and_quote_unchanged() -> None:
    old = {
        "name": "旧政策",
        "version": 3,
        "district_id": 1,
        "effective_from": "2025-01-01",
        "per_slot_daily_limit": 1,
        "funding": [{"source": "city", "percent": 60}, {"source": "district", "percent": 40}],
        "tiers": [{"code": "age80", "name_zh": "高龄", "name_en": "80+", "min_age": 80,
                   "kind": "amount_off", "value": 500}],
    }  # fmt: skip
    doc = msgspec.json.decode(msgspec.json.encode(old), type=Policy)
    validate_policy(doc)
    assert doc.per_day_limit is None and doc.monthly_cap_meals is None and doc.cap_crossing == "remainder"
    assert doc.tiers[0].funding is None and doc.tiers[0].slots == [] and doc.funding[0].rest is False
    elder = ElderFacts(member=True, birth_date=dt.date(1940, 1, 1), home_district_id=1, home_street_id=1)
    q = quote(elder=elder, list_price_fen=1500, slot="dinner", day=DAY, mode="dine_in", policy=doc,
              usage=Usage(), site_street_id=1, site_district_id=1)  # fmt: skip
    assert (q.subsidy_fen, [(p.source, p.fen) for p in q.funding]) == (
        500,
        [("city", 300), ("district", 200)],
    )


def test_limits_in_order_and_in_words() -> None:
    pol = msgspec.structs.replace(
        demo_policy(), per_slot_daily_limit=2, per_day_limit=2, monthly_cap_meals=30
    )
    elder = ElderFacts(member=True, birth_date=dt.date(1930, 1, 1), home_district_id=1, home_street_id=1)

    def q(usage: Usage) -> tuple[int, str]:
        out = quote(elder=elder, list_price_fen=1500, slot="lunch", day=DAY, mode="dine_in", policy=pol,
                    usage=usage, site_street_id=1, site_district_id=1)  # fmt: skip
        return out.subsidy_fen, out.reason_en

    assert q(Usage(slot_meals_today=1, day_meals_today=1))[0] == 800  # the 2nd lunch of 2
    sub, why = q(Usage(slot_meals_today=2, day_meals_today=2))
    assert sub == 0 and "lunch" in why and "2 of 2" in why
    sub, why = q(Usage(slot_meals_today=0, day_meals_today=2))
    assert sub == 0 and "today (2 of 2)" in why
    sub, why = q(Usage(month_meals=30))
    assert sub == 0 and "this month used up (30 of 30)" in why


def test_money_cap_crossing_remainder_or_full_price() -> None:
    pol = msgspec.structs.replace(demo_policy(), monthly_cap_fen=10000)
    elder = ElderFacts(member=True, birth_date=dt.date(1930, 1, 1), home_district_id=1, home_street_id=1)

    def q(p: Policy) -> tuple[int, int]:
        out = quote(elder=elder, list_price_fen=1500, slot="lunch", day=DAY, mode="dine_in", policy=p,
                    usage=Usage(month_subsidy_fen=9700), site_street_id=1, site_district_id=1)  # fmt: skip
        return out.subsidy_fen, out.copay_fen

    assert q(pol) == (300, 1200)  # the remainder
    assert q(msgspec.structs.replace(pol, cap_crossing="full_price")) == (0, 1500)


def test_unknown_meal_type_is_refused() -> None:
    elder = ElderFacts(member=False)
    with pytest.raises(DomainError) as caught:
        quote(elder=elder, list_price_fen=1500, slot="lunch", day=DAY, mode="dine_in", policy=demo_policy(),
              usage=Usage(), site_street_id=1, site_district_id=1, meal_type="banquet")  # fmt: skip
    assert caught.value.code == "invalid_meal_type"


# ------------------------------------------------------------------ properties


@st.composite
def splits(draw: st.DrawFn) -> list[FundingShare]:
    sources = draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):  # percents only, adding up to 100
        cuts = sorted(
            draw(st.lists(st.integers(0, 100), min_size=len(sources) - 1, max_size=len(sources) - 1))
        )
        bounds = [0, *cuts, 100]
        return [share(s, percent=bounds[i + 1] - bounds[i]) for i, s in enumerate(sources)]
    rest = draw(st.sampled_from(sources))
    out = []
    left = 100
    for s in sources:
        if s == rest:
            out.append(share(s, rest=True))
        elif draw(st.booleans()):
            out.append(share(s, fixed_fen=draw(st.integers(0, 2000))))
        else:
            pct = draw(st.integers(0, left))
            left -= pct
            out.append(share(s, percent=pct))
    return out


@st.composite
def tiers(draw: st.DrawFn, i: int) -> Tier:
    kind = draw(st.sampled_from(["amount_off", "percent_off", "fixed_copay", "free"]))
    value = {"amount_off": st.integers(1, 3000), "percent_off": st.integers(1, 100),
             "fixed_copay": st.integers(0, 3000), "free": st.just(0)}  # fmt: skip
    by_type = []
    for mtype in draw(st.lists(st.sampled_from(MEAL_TYPES), max_size=2, unique=True)):
        k = draw(st.sampled_from(["amount_off", "percent_off", "fixed_copay", "free"]))
        by_type.append(MealTypeValue(meal_type=mtype, kind=k, value=draw(value[k])))  # type: ignore[arg-type]
    lo = draw(st.none() | st.integers(55, 95))
    return Tier(
        code=f"t{i}",
        name_zh=f"档{i}",
        name_en=f"tier {i}",
        categories=draw(st.lists(st.sampled_from(sorted(CATEGORIES)), max_size=2, unique=True)),
        min_age=lo,
        max_age=draw(st.none() | st.integers(lo or 55, 110)),
        kind=kind,  # type: ignore[arg-type]
        value=draw(value[kind]),
        slots=draw(st.lists(st.sampled_from(sorted(SLOTS)), max_size=2, unique=True)),  # type: ignore[arg-type]
        meal_types=draw(st.lists(st.sampled_from(MEAL_TYPES), max_size=2, unique=True)),  # type: ignore[arg-type]
        by_meal_type=by_type,
        funding=draw(st.none() | splits()),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    combination = draw(st.sampled_from(["best", "stack"]))
    funding = draw(splits())
    own = {sh.source for sh in funding}
    ts = [draw(tiers(i)) for i in range(draw(st.integers(0, 5)))]
    for t in ts:
        own |= {sh.source for sh in t.funding or []}
    kept = st.none() | st.lists(st.sampled_from(sorted(own)), max_size=3, unique=True)
    return Policy(
        name="p",
        version=1,
        district_id=1,
        effective_from=dt.date(2026, 1, 1),
        combination=combination,  # type: ignore[arg-type]
        stack_cap_fen=draw(st.none() | st.integers(0, 3000)) if combination == "stack" else None,
        per_slot_daily_limit=draw(st.integers(1, 3)),
        per_day_limit=draw(st.none() | st.integers(1, 4)),
        monthly_cap_fen=draw(st.none() | st.integers(0, 30000)),
        cap_crossing=draw(st.sampled_from(["remainder", "full_price"])),  # type: ignore[arg-type]
        monthly_cap_meals=draw(st.none() | st.integers(1, 31)),
        funding=funding,
        tiers=ts,
        portability=Portability(outside_home_street=draw(kept), outside_home_district=draw(kept)),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
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
def test_prop_any_valid_policy_splits_exactly_and_keeps_every_limit(
    policy: Policy,
    age: int | None,
    cats: list[str],
    member: bool,
    away: str,
    price: int,
    slot: str,
    meal_type: str,
    usage: Usage,
) -> None:
    validate_policy(policy)
    elder = ElderFacts(
        member=member,
        birth_date=dt.date(DAY.year - age, 1, 1) if age is not None else None,
        categories=[CategoryGrant(code=c, valid_from=dt.date(2020, 1, 1)) for c in cats],
        home_street_id=1 if away == "home" else 2,
        home_district_id=1,
    )
    # The policy is the home district's (1); away from home the elder eats in district 2.
    q = quote(elder=elder, list_price_fen=price, slot=slot, day=DAY, mode="dine_in", policy=policy,
              usage=usage, site_street_id=1, site_district_id=2 if away == "district" and member else 1,
              meal_type=meal_type)  # fmt: skip
    assert sum(p.fen for p in q.funding) == q.subsidy_fen
    assert all(p.fen > 0 for p in q.funding) and len({p.source for p in q.funding}) == len(q.funding)
    assert q.copay_fen + q.subsidy_fen == q.list_price_fen == price
    assert 0 <= q.subsidy_fen <= price
    reached = (
        usage.slot_meals_today >= policy.per_slot_daily_limit
        or (policy.per_day_limit is not None and usage.day_meals_today >= policy.per_day_limit)
        or (policy.monthly_cap_meals is not None and usage.month_meals >= policy.monthly_cap_meals)
    )
    if reached or not member:
        assert q.subsidy_fen == 0
    if policy.monthly_cap_fen is not None:
        assert q.subsidy_fen <= max(0, policy.monthly_cap_fen - usage.month_subsidy_fen)
    if policy.stack_cap_fen is not None:
        assert q.subsidy_fen <= policy.stack_cap_fen
    # Nobody pays who is not a payer of the policy or of a tier; a payer that does not travel
    # pays nothing away from home.
    payers = {sh.source for sh in policy.funding} | {
        sh.source for t in policy.tiers for sh in t.funding or []
    }
    assert {p.source for p in q.funding} <= payers
    port = policy.portability
    kept = None
    if away != "home" and port.outside_home_street is not None:
        kept = set(port.outside_home_street)
    if away == "district" and port.outside_home_district is not None:
        kept = set(port.outside_home_district) & (kept if kept is not None else set(payers))
    if kept is not None:
        assert {p.source for p in q.funding} <= kept


@given(shares=splits(), total=st.integers(0, 100_000))
def test_prop_split_sums_to_the_subsidy_and_fixed_amounts_never_exceed_themselves(
    shares: list[FundingShare], total: int
) -> None:
    validate_split(shares)
    parts = split_subsidy(total, shares)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    for sh, p in zip(shares, parts, strict=True):
        if sh.fixed_fen is not None:
            assert p <= sh.fixed_fen
        if sh.percent is not None and any(s.rest for s in shares):
            assert p <= total * sh.percent // 100
    assert split_subsidy(total, shares) == parts  # deterministic
