"""Regions and sites through the API: create, read, update, status, validation, audit rows."""

from __future__ import annotations

from typing import Any

from canteen.core.tables import AuditEntry

LUNCH = {"slot": "lunch", "start": "10:30", "end": "13:00", "cutoff": "09:00"}


def _audit(run: Any, action: str) -> list[dict[str, Any]]:
    return run(lambda: AuditEntry.select().where(AuditEntry.action == action).output(load_json=True))


def test_region_tree_and_operator(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("admin")
    r = client.post(
        "/api/v1/districts",
        headers=h,
        json={"name": "上城区", "code": "330102", "city": "杭州市", "lat": 30.24, "lon": 120.17},
    )
    assert r.status_code == 201, r.text
    district = r.json()["id"]
    r = client.post("/api/v1/districts", headers=h, json={"name": "重复", "code": "330102"})
    assert r.status_code == 409 and r.json()["code"] == "duplicate"
    street = client.post(
        f"/api/v1/districts/{district}/streets", headers=h, json={"name": "湖滨街道"}
    ).json()["id"]
    r = client.post(
        f"/api/v1/streets/{street}/communities",
        headers=h,
        json={"name": "东坡路社区", "lat": 30.257, "lon": 120.164},
    )
    assert r.status_code == 201 and r.json()["street_id"] == street and r.json()["district_id"] == district
    r = client.post(
        "/api/v1/operators",
        headers=h,
        json={
            "district_id": district,
            "name": "上城区颐乐养老服务中心",
            "kind": "social_org",
            "contact_name": "王芳",
            "contact_phone": "0571-8765 4321",
        },
    )
    assert r.status_code == 201, r.text
    ops = client.get(f"/api/v1/operators?district_id={district}", headers=h).json()["items"]
    assert [o["name"] for o in ops] == ["上城区颐乐养老服务中心"]
    assert len(client.get(f"/api/v1/districts/{district}/streets", headers=h).json()["items"]) == 1
    assert len(client.get(f"/api/v1/streets/{street}/communities", headers=h).json()["items"]) == 1
    actions = {a["action"] for a in run(lambda: AuditEntry.select(AuditEntry.action))}
    assert {"district.create", "street.create", "community.create", "operator.create"} <= actions


def test_create_update_status_write_audit_rows(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("official_x")
    body = {
        "district_id": world.district_x,
        "name": "大关幸福食堂",
        "kind": "meal_point",
        "point_type": "satellite",
        "kitchen_id": world.kitchen_x,
        "operator_id": world.operator_x,
        "street_id": world.street_x,
        "community_id": world.community_x,
        "address": "杭州市拱墅区大关路100号",
        "lat": 30.31,
        "lon": 120.15,
        "seats": 40,
        "meals_per_slot": 120,
        "slots": [LUNCH],
        "phone": "0571-88001234",
    }
    r = client.post("/api/v1/sites", headers=h, json=body)
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["status"] == "planned" and site["void_window_minutes"] == 15 and site["slots"] == [LUNCH]
    [created] = _audit(run, "site.create")
    assert created["target_id"] == str(site["id"]) and created["district_id"] == world.district_x
    assert created["after"]["name"] == "大关幸福食堂"

    r = client.patch(f"/api/v1/sites/{site['id']}", headers=h, json={"seats": 50, "void_window_minutes": 10})
    assert r.status_code == 200 and r.json()["seats"] == 50
    [updated] = _audit(run, "site.update")
    assert updated["before"] == {"seats": 40, "void_window_minutes": 15}
    assert updated["after"] == {"seats": 50, "void_window_minutes": 10}
    # A PATCH that changes nothing writes nothing.
    assert client.patch(f"/api/v1/sites/{site['id']}", headers=h, json={"seats": 50}).status_code == 200
    assert len(_audit(run, "site.update")) == 1

    r = client.post(
        f"/api/v1/sites/{site['id']}/status", headers=h, json={"status": "open", "note": "验收通过"}
    )
    assert r.status_code == 200 and r.json()["status"] == "open"
    [status] = _audit(run, "site.status")
    assert status["before"] == {"status": "planned"} and status["after"] == {"status": "open"}
    assert status["note"] == "验收通过"
    r = client.post(f"/api/v1/sites/{site['id']}/status", headers=h, json={"status": "planned"})
    assert r.status_code == 409 and r.json()["code"] == "site_status_invalid"
    assert client.get(f"/api/v1/sites/{site['id']}", headers=h).json()["status"] == "open"


def test_site_validation_codes(client: Any, world: Any, login: Any) -> None:
    h = login("admin")
    base = {"district_id": world.district_x, "name": "测试点", "kind": "meal_point", "point_type": "canteen"}
    cases = [
        ({"point_type": "satellite"}, "site_kitchen_invalid"),  # satellite without kitchen
        ({"point_type": "satellite", "kitchen_id": world.site_a}, "site_kitchen_invalid"),  # not a kitchen
        ({"kitchen_id": world.kitchen_x}, "site_kitchen_invalid"),  # canteens have none
        ({"kind": "central_kitchen"}, "site_point_type_invalid"),  # kitchens have no point type
        ({"point_type": None}, "site_point_type_invalid"),
        ({"slots": [LUNCH, LUNCH]}, "site_slots_invalid"),
        ({"slots": [{**LUNCH, "start": "13:00", "end": "10:30"}]}, "site_slots_invalid"),
        ({"community_id": world.community_y}, "district_mismatch"),
        ({"operator_id": 999_999}, "not_found"),
        ({"district_id": 999_999}, "not_found"),
    ]
    for change, code in cases:
        r = client.post("/api/v1/sites", headers=h, json={**base, **change})
        assert r.json()["code"] == code, (change, r.text)
        assert 400 <= r.status_code < 500
    # A satellite of a kitchen in another district.
    k_y = client.post(
        "/api/v1/sites",
        headers=h,
        json={**base, "district_id": world.district_y, "kind": "central_kitchen", "point_type": None},
    ).json()["id"]
    r = client.post("/api/v1/sites", headers=h, json={**base, "point_type": "satellite", "kitchen_id": k_y})
    assert r.json()["code"] == "district_mismatch"
    # A kitchen that supplies satellites cannot stop being one.
    r = client.patch(
        f"/api/v1/sites/{world.kitchen_x}", headers=h, json={"kind": "meal_point", "point_type": "canteen"}
    )
    assert r.status_code == 422 and r.json()["code"] == "site_kitchen_invalid"


def test_official_sees_other_district_refs_as_missing(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    r = client.patch(f"/api/v1/sites/{world.site_a}", headers=h, json={"community_id": world.community_y})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_list_filters_and_pagination(client: Any, world: Any, login: Any) -> None:
    h = login("admin")
    r = client.get("/api/v1/sites?kind=central_kitchen", headers=h)
    assert [s["id"] for s in r.json()["items"]] == [world.kitchen_x]
    r = client.get(f"/api/v1/sites?district_id={world.district_y}", headers=h)
    assert [s["id"] for s in r.json()["items"]] == [world.site_c]
    assert client.get("/api/v1/sites?status=closed", headers=h).json()["items"] == []
    seen: list[int] = []
    url = "/api/v1/sites?limit=3"
    while True:
        page = client.get(url, headers=h).json()
        seen += [s["id"] for s in page["items"]]
        if not page["next_cursor"]:
            break
        url = f"/api/v1/sites?limit=3&cursor={page['next_cursor']}"
    assert seen == sorted([world.kitchen_x, world.site_a, world.site_b, world.site_c])


def test_openapi_lists_site_errors(client: Any) -> None:
    spec = client.get("/schema/openapi.json").json()
    patch = spec["paths"]["/api/v1/sites/{site_id}"]["patch"]["responses"]
    assert "site_kitchen_invalid" in patch["422"]["description"]
    assert "not_found" in patch["404"]["description"]
    assert "forbidden" in patch["403"]["description"]
