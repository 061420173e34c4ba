"""Accounting pages: cost form (yuan → fen), settlement buttons through the states, viability table."""

from __future__ import annotations

from typing import Any

from tests.factories import World
from tests.integration.accounting.test_api import MONTH, _setup
from tests.integration.test_admin_pages import page_login, post_form


def test_cost_form_settlement_buttons_and_viability(client: Any, world: World, run: Any) -> None:
    _setup(world, run)
    page_login(client, "operator_a")
    r = client.get("/accounting/costs", params={"site_id": world.site_a, "month": MONTH})
    assert r.status_code == 200 and "residential_utilities" in r.text
    bad = post_form(
        client, "/accounting/costs", {"site_id": str(world.site_a), "month": MONTH, "food_fen": "abc"}
    )
    assert bad.status_code == 400 and 'id="err-food_fen"' in bad.text
    ok = post_form(
        client,
        "/accounting/costs",
        {"site_id": str(world.site_a), "month": MONTH, "food_fen": "1234.50", "residential_utilities": "on"},
    )
    assert ok.status_code == 303
    r = client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}")
    assert r.json()["food_fen"] == 123_450 and r.json()["residential_utilities"] is True

    d = post_form(
        client,
        "/accounting/settlements",
        {"operator_id": str(world.operator_x), "month": MONTH, "source": "city"},
    )
    assert d.status_code == 303
    detail = d.headers["location"]
    assert "Submit" in client.get(detail).text or "提交" in client.get(detail).text
    assert post_form(client, detail + "/submit", {}).status_code == 303

    client.cookies.clear()
    page_login(client, "official_x")
    assert post_form(client, detail + "/approve", {}).status_code == 303
    assert post_form(client, detail + "/pay", {"reference": ""}).status_code == 400
    assert post_form(client, detail + "/pay", {"reference": "BANK-1"}).status_code == 303
    assert "BANK-1" in client.get(detail).text
    v = client.get("/accounting/viability", params={"district_id": world.district_x, "month": MONTH})
    assert v.status_code == 200 and "<table" in v.text
    assert client.get("/accounting/settlements").status_code == 200
