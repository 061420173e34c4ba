"""The policy library's tables through ``quote()``: every co-pay and every payer's fen as worked
out by hand; then properties of any valid policy (hypothesis)."""

from __future__ import annotations

import pytest

from canteen.subsidies.rules import quote, validate_policy
from canteen.subsidies.schemas import CategoryGrant, ElderFacts, Quote
from tests.integration.subsidies.policies import DISTRICT, ELDERS, LIBRARY, Fixture, Row, birth_date

HOME_STREET = 11


def facts(key: str, row: Row) -> ElderFacts:
    spec = ELDERS[key]
    if spec is None:
        return ElderFacts(member=False)
    age, cats = spec
    return ElderFacts(
        member=True,
        birth_date=birth_date(age, row.day),
        categories=[CategoryGrant(code=c, valid_from=row.day.replace(month=1, day=1)) for c in cats],
        home_street_id=HOME_STREET,
        home_district_id=DISTRICT,
    )


def priced(fx: Fixture, row: Row) -> Quote:
    return quote(
        elder=facts(row.elder, row),
        list_price_fen=row.price,
        slot=row.slot,
        day=row.day,
        mode="dine_in",
        policy=fx.effective(),
        usage=row.usage,
        site_street_id=HOME_STREET if row.where == "home" else HOME_STREET + 1,
        site_district_id=DISTRICT if row.where != "district" else DISTRICT + 1,
        meal_type=row.meal_type,
    )


CASES = [
    pytest.param(fx, row, id=f"{fx.key}-{i}-{row.elder}") for fx in LIBRARY for i, row in enumerate(fx.rows)
]


@pytest.mark.parametrize("fx", LIBRARY, ids=[fx.key for fx in LIBRARY])
def test_library_policies_are_valid(fx: Fixture) -> None:
    validate_policy(fx.policy)
    if fx.city_base is not None:
        validate_policy(fx.city_base)


@pytest.mark.parametrize(("fx", "row"), CASES)
def test_library_table(fx: Fixture, row: Row) -> None:
    q = priced(fx, row)
    assert (q.copay_fen, {p.source: p.fen for p in q.funding}) == (row.copay, row.funding), row.note
    assert q.subsidy_fen == row.subsidy == sum(row.funding.values())
    assert q.copay_fen + q.subsidy_fen == q.list_price_fen
