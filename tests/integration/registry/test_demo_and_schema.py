"""The demo loader and the OpenAPI document of the registry routes."""

from __future__ import annotations

import datetime as dt

from canteen.registry.tables import Elder
from tests.factories import NOW


def test_demo_elders_load_once(client, run):
    from canteen.demo.district import load_district
    from canteen.demo.elders import load_elders

    today = dt.date(2026, 11, 23)
    district = run(lambda: load_district(NOW))
    assert run(lambda: load_elders(district, today=today, now=NOW)) == 300
    assert run(lambda: load_elders(district, today=today, now=NOW)) == 0
    assert run(lambda: Elder.count()) == 300
    statuses = {r["status"] for r in run(lambda: Elder.select(Elder.status))}
    assert {"active", "suspended", "moved", "deceased"} <= statuses
    with_grant = run(lambda: Elder.count().where(Elder.delivery_grant_reason != ""))
    assert 5 < with_grant < 40


def test_openapi_lists_registry_routes_and_errors(client):
    doc = client.get("/schema/openapi.json").json()
    paths = doc["paths"]
    for p in (
        "/api/v1/elders",
        "/api/v1/elders/{elder_id}",
        "/api/v1/elders/import",
        "/api/v1/elders/export",
    ):
        assert p in paths, p
    create = paths["/api/v1/elders"]["post"]
    assert "409" in create["responses"] and "elder_duplicate_id" in create["responses"]["409"]["description"]
    assert "415" in paths["/api/v1/elders/import"]["post"]["responses"]
