"""Every validation failure of the policy and quote APIs says, in the caller's language, which
field and what is wrong, with the stable code ``validation_failed``; none of the library's own
English reaches ``message`` (it stays under ``detail.errors`` for programs)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from canteen.subsidies.demo import demo_policy

LIBRARY_WORDS = re.compile(r"Expected|`|\$\.|got |Invalid|Object missing|Unknown field|RFC")


def _doc(**changes: Any) -> dict[str, Any]:
    doc = msgspec.to_builtins(demo_policy())
    doc.pop("district_id")
    doc.pop("version")
    doc.update(changes)
    return doc


TIER = {"code": "t", "name_zh": "t", "name_en": "t", "kind": "amount_off", "value": 100}
# (body changes, the field path, words for the field in zh-CN, in en)
CASES = [
    ({"per_day_limit": 0}, "per_day_limit", "每日补贴餐数", "subsidised meals per day"),
    ({"monthly_cap_meals": "many"}, "monthly_cap_meals", "每月补贴餐次", "subsidised meals per month"),
    ({"cap_crossing": "half"}, "cap_crossing", "超出月度额度的一餐", "meal crossing the monthly cap"),
    ({"funding": [{"source": "city", "fixed_fen": -1}]}, "funding[0].fixed_fen", "固定金额", "fixed amount"),
    ({"funding": [{"source": "town", "percent": 100}]}, "funding[0].source", "资金", "fund"),
    ({"tiers": [{**TIER, "slots": ["noon"]}]}, "tiers[0].slots[0]", "供餐时段", "slots"),
    ({"tiers": [{**TIER, "meal_types": ["banquet"]}]}, "tiers[0].meal_types[0]", "餐别类型", "meal types"),
    (
        {"tiers": [{**TIER, "by_meal_type": [{"meal_type": "soft"}]}]},
        "tiers[0].by_meal_type[0].kind",
        "按餐别",
        "meal type",
    ),
    ({"effective_from": "2026-13-01"}, "effective_from", "生效", "effective"),
    ({"surprise": 1}, "surprise", "surprise", "surprise"),
]


@pytest.mark.parametrize(("changes", "path", "zh", "en"), CASES, ids=[c[1] for c in CASES])
def test_policy_body_errors_in_words(client, world, login, changes, path, zh, en) -> None:
    h = login("official_x")
    url = f"/api/v1/districts/{world.district_x}/policies"
    for lang, words in (("zh-CN", zh), ("en", en)):
        r = client.post(url, json=_doc(**changes), headers={**h, "Accept-Language": lang})
        body = r.json()
        assert r.status_code == 422 and body["code"] == "validation_failed", body
        assert body["detail"]["field"] == path, body
        assert words.lower() in body["message"].lower(), (lang, body["message"])
        assert not LIBRARY_WORDS.search(body["message"]), (lang, body["message"])


def test_our_own_refusals_name_the_field_too(client, world, login) -> None:
    h = login("official_x")
    base = {"site_id": world.site_a, "slot": "lunch", "date": "2026-11-23", "list_price_fen": 1500}
    r = client.post("/api/v1/quotes", json={**base, "elder_id": 1, "card": "x"}, headers=h)
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_failed" and body["detail"]["field"] == "card"
    assert body["message"] == "「卡」填写有误：请在此项与「老人」中只填写一项" or "「" in body["message"], (
        body
    )
    assert not LIBRARY_WORDS.search(body["message"])
    r = client.post(
        "/api/v1/quotes",
        json={
            **{k: v for k, v in base.items() if k != "list_price_fen"},
            "meal_set_id": 5,
            "meal_type": "soft",
        },
        headers={**h, "Accept-Language": "en"},
    )
    assert (
        r.status_code == 422 and "meal type" in r.json()["message"] and "leave it out" in r.json()["message"]
    )
