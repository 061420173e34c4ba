"""Role × scope on the site routes.

The rule (see canteen.regions.services): a role that can never do a write gets 403
``forbidden`` before any row is read; an object outside the actor's scope is 404
``not_found`` on read *and* write, exactly as if the id did not exist.
"""

from __future__ import annotations

from typing import Any

import pytest

SITES = ("kitchen_x", "site_a", "site_b", "site_c")

# Which sites each user may read (GET /sites/{id} → 200; every other → 404).
READS = {
    "admin": {"kitchen_x", "site_a", "site_b", "site_c"},
    "official_x": {"kitchen_x", "site_a", "site_b"},
    "official_y": {"site_c"},
    "operator_a": {"site_a"},
    "cashier_a": {"site_a"},
    "cashier_b": {"site_b"},
    "cashier_c": {"site_c"},
    "kitchen_k": {"kitchen_x"},
    "courier_a": {"site_a"},
}
# PATCH /sites/{id}: 200 where editable; 403 for roles that never edit; 404 outside scope.
EDITS = {
    "admin": dict.fromkeys(SITES, 200),
    "official_x": {"kitchen_x": 200, "site_a": 200, "site_b": 200, "site_c": 404},
    "official_y": {"kitchen_x": 404, "site_a": 404, "site_b": 404, "site_c": 200},
    "operator_a": {"kitchen_x": 404, "site_a": 200, "site_b": 404, "site_c": 404},
    "cashier_a": dict.fromkeys(SITES, 403),
    "cashier_b": dict.fromkeys(SITES, 403),
    "kitchen_k": dict.fromkeys(SITES, 403),
    "courier_a": dict.fromkeys(SITES, 403),
}


def _site_id(world: Any, name: str) -> int:
    return int(getattr(world, name))


@pytest.mark.parametrize("username", sorted(READS))
def test_read_matrix(client: Any, world: Any, login: Any, username: str) -> None:
    h = login(username)
    for name in SITES:
        r = client.get(f"/api/v1/sites/{_site_id(world, name)}", headers=h)
        expected = 200 if name in READS[username] else 404
        assert r.status_code == expected, (username, name, r.text)
        if expected == 404:
            assert r.json()["code"] == "not_found"
    listed = {s["id"] for s in client.get("/api/v1/sites", headers=h).json()["items"]}
    assert listed == {_site_id(world, n) for n in READS[username]}


@pytest.mark.parametrize("username", sorted(EDITS))
def test_edit_matrix(client: Any, world: Any, login: Any, username: str) -> None:
    h = login(username)
    for name, expected in EDITS[username].items():
        r = client.patch(f"/api/v1/sites/{_site_id(world, name)}", headers=h, json={"note": f"by {username}"})
        assert r.status_code == expected, (username, name, r.text)
        code = {200: None, 403: "forbidden", 404: "not_found"}[expected]
        if code:
            assert r.json()["code"] == code
        else:
            assert r.json()["note"] == f"by {username}"


def test_cashier_of_a_cannot_edit_b_nor_read_c(client: Any, world: Any, login: Any) -> None:
    h = login("cashier_a")
    r = client.patch(f"/api/v1/sites/{world.site_b}", headers=h, json={"name": "改名"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.get(f"/api/v1/sites/{world.site_c}", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_official_x_reads_and_edits_x_not_y(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    assert client.get(f"/api/v1/sites/{world.site_a}", headers=h).status_code == 200
    r = client.patch(f"/api/v1/sites/{world.site_b}", headers=h, json={"seats": 80})
    assert r.status_code == 200 and r.json()["seats"] == 80
    assert client.get(f"/api/v1/sites/{world.site_c}", headers=h).status_code == 404
    r = client.patch(f"/api/v1/sites/{world.site_c}", headers=h, json={"seats": 80})
    assert r.status_code == 404
    r = client.post(f"/api/v1/sites/{world.site_c}/status", headers=h, json={"status": "paused"})
    assert r.status_code == 404
    # Creating in another district: that district is out of reach, like a missing id.
    r = client.post(
        "/api/v1/sites",
        headers=h,
        json={
            "district_id": world.district_y,
            "name": "越界食堂",
            "kind": "meal_point",
            "point_type": "canteen",
        },
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_operator_edits_own_site_but_not_what_it_is(client: Any, world: Any, login: Any) -> None:
    h = login("operator_a")
    r = client.patch(
        f"/api/v1/sites/{world.site_a}",
        headers=h,
        json={
            "meals_per_slot": 200,
            "slots": [{"slot": "lunch", "start": "11:00", "end": "13:00", "cutoff": "09:30"}],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["meals_per_slot"] == 200
    # Who runs the site and what it is stay with the district.
    r = client.patch(f"/api/v1/sites/{world.site_a}", headers=h, json={"operator_id": None})
    assert r.status_code == 403 and r.json()["detail"]["fields"] == ["operator_id"]
    # Sending an unchanged locked field is fine (a form posts every field).
    r = client.patch(
        f"/api/v1/sites/{world.site_a}", headers=h, json={"kind": "meal_point", "name": "幸福食堂"}
    )
    assert r.status_code == 200
    assert (
        client.post(f"/api/v1/sites/{world.site_a}/status", headers=h, json={"status": "paused"}).status_code
        == 200
    )
    r = client.post(f"/api/v1/sites/{world.site_a}/status", headers=h, json={"status": "closed"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(
        "/api/v1/sites",
        headers=h,
        json={"district_id": world.district_x, "name": "新点", "kind": "meal_point", "point_type": "canteen"},
    )
    assert r.status_code == 403


@pytest.mark.parametrize("username", ["cashier_a", "kitchen_k", "courier_a", "operator_a"])
def test_site_roles_cannot_create_regions(client: Any, world: Any, login: Any, username: str) -> None:
    h = login(username)
    assert (
        client.post("/api/v1/districts", headers=h, json={"name": "上城区", "code": "330102"}).status_code
        == 403
    )
    r = client.post(f"/api/v1/districts/{world.district_x}/streets", headers=h, json={"name": "新街道"})
    assert r.status_code == 403
    r = client.post(
        "/api/v1/operators", headers=h, json={"district_id": world.district_x, "name": "新运营方"}
    )
    assert r.status_code == 403


def test_official_region_scope(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    assert (
        client.post("/api/v1/districts", headers=h, json={"name": "上城区", "code": "330102"}).status_code
        == 403
    )
    r = client.post(f"/api/v1/districts/{world.district_x}/streets", headers=h, json={"name": "和睦街道"})
    assert r.status_code == 201
    street = r.json()["id"]
    r = client.post(f"/api/v1/streets/{street}/communities", headers=h, json={"name": "和睦新村社区"})
    assert r.status_code == 201 and r.json()["district_id"] == world.district_x
    assert (
        client.post(
            f"/api/v1/districts/{world.district_y}/streets", headers=h, json={"name": "越界街道"}
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/districts/{world.district_y}/streets", headers=h).status_code == 404
    r = client.post(
        "/api/v1/operators", headers=h, json={"district_id": world.district_y, "name": "越界公司"}
    )
    assert r.status_code == 404
    districts = client.get("/api/v1/districts", headers=h).json()["items"]
    assert [d["id"] for d in districts] == [world.district_x]
    # official_y cannot see X's new street's communities.
    assert client.get(f"/api/v1/streets/{street}/communities", headers=login("official_y")).status_code == 404


def test_cashier_sees_its_district_only(client: Any, world: Any, login: Any) -> None:
    h = login("cashier_c")
    assert [d["id"] for d in client.get("/api/v1/districts", headers=h).json()["items"]] == [world.district_y]
    assert client.get("/api/v1/operators", headers=h).json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/sites"),
        ("get", "/api/v1/sites/1"),
        ("patch", "/api/v1/sites/1"),
        ("post", "/api/v1/sites"),
        ("post", "/api/v1/sites/1/status"),
        ("get", "/api/v1/districts"),
        ("post", "/api/v1/districts"),
        ("get", "/api/v1/operators"),
        ("get", "/api/v1/districts/1/streets"),
    ],
)
def test_anonymous_is_401(client: Any, world: Any, method: str, path: str) -> None:
    r = getattr(client, method)(path, **({"json": {}} if method != "get" else {}))
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
