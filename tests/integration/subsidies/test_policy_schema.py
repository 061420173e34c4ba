"""/schema documents the policy document's new settings with a worked example, and that
example is itself a valid policy (stored through the API as a draft)."""

from __future__ import annotations

from typing import Any

from canteen.subsidies.api import POLICY_EXAMPLE


def _find_examples(node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        if "examples" in node:
            found.append(node["examples"])
        for value in node.values():
            found += _find_examples(value)
    elif isinstance(node, list):
        for value in node:
            found += _find_examples(value)
    return found


def test_schema_documents_the_settings_with_an_example_that_is_valid(client, world, login) -> None:
    schema = client.get("/schema/openapi.json").json()
    text = str(schema)
    for name in (
        "per_day_limit",
        "monthly_cap_meals",
        "cap_crossing",
        "fixed_fen",
        "by_meal_type",
        "meal_types",
    ):
        assert name in text, name
    create = schema["paths"]["/api/v1/districts/{district_id}/policies"]["post"]
    assert "policy_funding_invalid" in str(create["responses"])
    assert "fixed_fen" in str(_find_examples(create["requestBody"]))
    quotes = schema["paths"]["/api/v1/quotes"]["post"]
    assert "meal_set_id" in str(_find_examples(quotes["requestBody"]))

    h = login("official_x")
    r = client.post(f"/api/v1/districts/{world.district_x}/policies", json=POLICY_EXAMPLE, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["document"]["tiers"][1]["by_meal_type"][0]["value"] == 1000
