"""Bad input on the API: every refusal is a 4xx with a stable code, never a 5xx, and writes nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from canteen.core.errors import ERRORS
from canteen.core.tables import AuditEntry
from canteen.regions.tables import District, Operator, Site, Street

GOOD_SITE = {"name": "新食堂", "kind": "meal_point", "point_type": "canteen"}


def _counts(run: Any) -> tuple[int, ...]:
    async def go() -> tuple[int, ...]:
        return (
            await Site.count(),
            await District.count(),
            await Street.count(),
            await Operator.count(),
            await AuditEntry.count(),
        )

    return run(go)


def _site(world: Any, **extra: Any) -> dict[str, Any]:
    return {"district_id": world.district_x, **GOOD_SITE, **extra}


def _cases(world: Any) -> list[tuple[str, str, str, Any, str]]:
    """(name, method, path, body, code); a str body is sent raw."""
    huge = 2**40
    return [
        ("malformed json", "post", "/api/v1/sites", '{"name": "x",', "invalid_body"),
        ("not json at all", "post", "/api/v1/sites", "name=x", "invalid_body"),
        ("unknown field", "post", "/api/v1/sites", _site(world, owner="me"), "validation_failed"),
        ("wrong type", "post", "/api/v1/sites", _site(world, seats="many"), "validation_failed"),
        ("wrong literal", "post", "/api/v1/sites", _site(world, kind="restaurant"), "validation_failed"),
        ("negative seats", "post", "/api/v1/sites", _site(world, seats=-1), "validation_failed"),
        (
            "bad time",
            "post",
            "/api/v1/sites",
            _site(world, slots=[{"slot": "lunch", "start": "25:00", "end": "13:00", "cutoff": "09:00"}]),
            "validation_failed",
        ),
        (
            "four slots",
            "post",
            "/api/v1/sites",
            _site(world, slots=[{"slot": "lunch", "start": "11:00", "end": "13:00", "cutoff": "09:00"}] * 4),
            "validation_failed",
        ),
        ("latitude out of range", "post", "/api/v1/sites", _site(world, lat=91), "validation_failed"),
        ("over-long name", "post", "/api/v1/sites", _site(world, name="食" * 201), "validation_failed"),
        (
            "over-long note",
            "patch",
            f"/api/v1/sites/{world.site_a}",
            {"note": "x" * 2001},
            "validation_failed",
        ),
        (
            "id beyond int4 in body",
            "post",
            "/api/v1/sites",
            _site(world, operator_id=huge),
            "validation_failed",
        ),
        (
            "district beyond int4",
            "post",
            "/api/v1/sites",
            {**_site(world), "district_id": huge},
            "validation_failed",
        ),
        ("id beyond int4 in path", "patch", f"/api/v1/sites/{huge}", {"seats": 1}, "validation_failed"),
        (
            "status path beyond int4",
            "post",
            f"/api/v1/sites/{huge}/status",
            {"status": "open"},
            "validation_failed",
        ),
        ("unknown site", "patch", "/api/v1/sites/999999", {"seats": 1}, "not_found"),
        (
            "unknown kitchen",
            "post",
            "/api/v1/sites",
            _site(world, point_type="satellite", kitchen_id=999999),
            "not_found",
        ),
        (
            "community of another district",
            "post",
            "/api/v1/sites",
            _site(world, community_id=world.community_y),
            "district_mismatch",
        ),
        (
            "kitchen of another district",
            "patch",
            f"/api/v1/sites/{world.site_c}",
            {"point_type": "satellite", "kitchen_id": world.kitchen_x},
            "district_mismatch",
        ),
        (
            "unknown street parent",
            "post",
            "/api/v1/streets/999999/communities",
            {"name": "社区"},
            "not_found",
        ),
        (
            "over-long district code",
            "post",
            "/api/v1/districts",
            {"name": "区", "code": "1" * 13},
            "validation_failed",
        ),
        (
            "bad status",
            "post",
            f"/api/v1/sites/{world.site_a}/status",
            {"status": "demolished"},
            "validation_failed",
        ),
        ("empty body", "patch", f"/api/v1/sites/{world.site_a}", "", "validation_failed"),
        ("array instead of object", "post", "/api/v1/operators", [1, 2], "validation_failed"),
    ]


def test_bad_bodies_and_ids(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("admin")
    before = _counts(run)
    failures = []
    for name, method, path, body, code in _cases(world):
        kwargs: dict[str, Any] = {"headers": {**h, "content-type": "application/json"}}
        kwargs["content"] = body if isinstance(body, str) else json.dumps(body)
        r = client.request(method.upper(), path, **kwargs)
        got = (
            r.status_code,
            r.json().get("code")
            if r.headers.get("content-type", "").startswith("application/json")
            else r.text[:80],
        )
        # The status always follows the code's registration (validation_failed is 422).
        if got != (ERRORS[code].status, code):
            failures.append((name, got))
    assert not failures, failures
    assert _counts(run) == before


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=100000",
        "cursor=-1",
        "cursor=abc",
        f"district_id={2**40}",
        "kind=bogus",
        "status=gone",
        "district_id=x",
    ],
)
def test_bad_query_parameters(client: Any, world: Any, login: Any, query: str) -> None:
    r = client.get(f"/api/v1/sites?{query}", headers=login("admin"))
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == "validation_failed"


def test_oversize_body_on_default_app(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("admin")
    before = _counts(run)
    body = json.dumps(_site(world, note="x" * (6 * 1024 * 1024)))
    r = client.post("/api/v1/sites", headers={**h, "content-type": "application/json"}, content=body)
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    assert _counts(run) == before


def test_oversize_body_with_small_limit(settings: Any) -> None:
    from litestar.testing import TestClient

    from canteen.app import create_app

    small = create_app(dataclasses.replace(settings, max_body_bytes=1000))
    with TestClient(small, base_url="http://testserver.local") as c:
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": "p" * 2000})
        assert r.status_code == 413 and r.json()["code"] == "body_too_large"
        r = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "p" * 10})
        assert r.status_code == 401


def test_other_district_id_is_not_found_for_official(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("official_x")
    before = _counts(run)
    for method, path, body in [
        ("PATCH", f"/api/v1/sites/{world.site_c}", {"seats": 1}),
        ("POST", "/api/v1/sites", {**GOOD_SITE, "district_id": world.district_y}),
        ("POST", "/api/v1/sites", _site(world, community_id=world.community_y)),
        ("POST", f"/api/v1/districts/{world.district_y}/streets", {"name": "街道"}),
    ]:
        r = client.request(method, path, headers=h, json=body)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (path, r.text)
    assert _counts(run) == before
