"""The policy editor's new settings over plain HTTP (no JavaScript): a fixed-amount split with
the rest, limits and a tier's own split saved from the form; each problem shown in words next to
its field."""

from __future__ import annotations

from typing import Any

import msgspec

from canteen.subsidies.schemas import Policy
from canteen.subsidies.tables import SubsidyPolicy
from tests.integration.subsidies.test_policy_pages import _form_fields, _post, _sign_in


def _with(fields: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    keys = {k.replace("__", "-") for k in changes}
    out = [(k, v) for k, v in fields if k not in keys]
    return out + [(k.replace("__", "-"), v) for k, v in changes.items()]


def test_the_form_saves_splits_and_limits_and_words_each_problem(client: Any, run: Any, world: Any) -> None:
    _sign_in(client, "official_x")
    fields = _form_fields(client, world.district_x)
    url = f"/districts/{world.district_x}/policies/new"

    # Fixed amounts without anyone taking the rest: refused in words, at the funding fieldset.
    no_rest = _with(fields, **{"funding-city-how": "fixed", "funding-city": "2",
                               "funding-district-how": "percent", "funding-district": "100"})  # fmt: skip
    r = _post(client, url, no_rest)
    assert r.status_code == 422 and 'id="err-funding"' in r.text
    assert "请指定一个出资方承担其余部分" in r.text
    # A per-day limit of 0: what is wrong, in words, next to the field.
    r = _post(client, url, _with(fields, per_day_limit="0"))
    assert r.status_code == 422 and 'id="err-per_day_limit"' in r.text and "不能小于 1" in r.text
    # A tier's own split that does not add up names the tier's row.
    bad_tier = _with(
        fields, **{"tier-0-own": "1", "tier-0-funding-city-how": "percent", "tier-0-funding-city": "90"}
    )
    r = _post(client, url, bad_tier)
    assert r.status_code == 422 and 'id="err-tiers-0"' in r.text
    assert run(lambda: SubsidyPolicy.count()) == 0

    good = _with(
        fields,
        **{
            "funding-city-how": "fixed", "funding-city": "2",
            "funding-district-how": "fixed", "funding-district": "2",
            "funding-street-how": "rest",
            "per_day_limit": "1", "monthly_cap_meals": "22", "monthly_cap": "300",
            "cap_crossing": "full_price",
            "tier-0-own": "1", "tier-0-funding-city-how": "percent", "tier-0-funding-city": "100",
            "tier-0-slot": "lunch", "tier-0-mtype": "therapeutic", "tier-0-type-therapeutic": "12",
        },
    )  # fmt: skip
    r = _post(client, url, good)
    assert r.status_code in (302, 303), r.text
    raw = run(lambda: SubsidyPolicy.select(SubsidyPolicy.document).first())["document"]
    doc = (
        msgspec.json.decode(raw, type=Policy)
        if isinstance(raw, str | bytes)
        else msgspec.convert(raw, Policy)
    )
    assert [(s.source, s.fixed_fen, s.rest) for s in doc.funding] == [
        ("city", 200, False), ("district", 200, False), ("street", None, True)]  # fmt: skip
    assert (doc.per_day_limit, doc.monthly_cap_meals, doc.monthly_cap_fen, doc.cap_crossing) == (
        1, 22, 30000, "full_price")  # fmt: skip
    tier = doc.tiers[0]
    assert tier.slots == ["lunch"] and tier.meal_types == ["therapeutic"]
    assert tier.funding is not None and tier.funding[0].percent == 100
    assert [(v.meal_type, v.kind) for v in tier.by_meal_type] == [("therapeutic", tier.kind)]
    shown = client.get(r.headers["location"])
    assert shown.status_code == 200 and "其余部分" in shown.text and "22" in shown.text
