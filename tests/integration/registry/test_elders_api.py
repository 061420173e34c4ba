"""Registering, editing and reading elders over the API: validation, audit, scope, search."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.core.tables import AuditEntry
from canteen.registry.cards import new_card_number
from canteen.registry.tables import Card, Elder, ElderCategory, ElderStatusEvent
from tests.factories import NOW
from tests.integration.registry.conftest import elder_body, nid


def audits(run: Any, action: str, elder_id: int | None = None) -> list[dict[str, Any]]:
    q = AuditEntry.select().where(AuditEntry.action == action).output(load_json=True)
    if elder_id is not None:
        q = q.where(AuditEntry.target_id == str(elder_id))
    return list(run(lambda: q))


def count(run: Any, table: Any) -> int:
    return int(run(lambda: table.count()))


def test_register_writes_elder_categories_status_and_audit(client, world, login, run, register):
    e = register()
    assert e["masked_id"] == "3301**********" + nid(dt.date(1944, 3, 15), 124)[-4:]
    assert e["gender"] == "female" and e["birth_date"] == "1944-03-15" and e["age_band"] == "80+"
    assert {c["code"] for c in e["categories"]} == {"dibao", "living_alone"}
    assert all(c["valid"] for c in e["categories"])
    assert e["status_history"][0]["status"] == "active"
    assert e["delivery_eligible"] is False
    rows = audits(run, "elder.create", e["id"])
    assert len(rows) == 1 and rows[0]["after"]["national_id"] == e["masked_id"]
    # The number itself is nowhere in clear.
    stored = run(lambda: Elder.select().first())
    assert nid(dt.date(1944, 3, 15), 124) not in str(stored)
    assert count(run, ElderCategory) == 2 and count(run, ElderStatusEvent) == 1


def test_id_errors_are_refused_and_nothing_is_written(client, world, login, run):
    h = login("official_x")
    good = nid(dt.date(1944, 3, 15), 124)
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    future = nid(dt.date.today() + dt.timedelta(days=400), 124)
    cases = [
        ({"national_id": wrong_check}, 422, "id_number_checksum"),
        ({"national_id": "33010519440315"}, 422, "id_number_malformed"),
        ({"national_id": "ABCDEFGHIJKLMNOPQR"}, 422, "id_number_malformed"),
        ({"national_id": future}, 422, "id_number_birth_date"),
        (
            {"birth_date": (dt.date.today() + dt.timedelta(days=3)).isoformat()},
            422,
            "elder_birth_date_future",
        ),
        ({"birth_date": "1944-03-16"}, 422, "elder_birth_date_mismatch"),
        ({"gender": "male"}, 422, "elder_gender_mismatch"),
        ({"categories": [{"code": "rich"}]}, 422, "unknown_category"),
        ({"diet": ["spicy"]}, 422, "unknown_diet_tag"),
        ({"community_id": world.community_y}, 404, "not_found"),
        ({"unexpected": 1}, 400, None),
    ]
    for over, status, code in cases:
        r = client.post("/api/v1/elders", json=elder_body(world, **over), headers=h)
        assert r.status_code in (status, 422 if status == 400 else status), (over, r.text)
        if code:
            assert r.json()["code"] == code, (over, r.text)
    assert count(run, Elder) == 0 and count(run, ElderCategory) == 0 and count(run, AuditEntry) == 0


def test_duplicate_id_in_district_is_409(client, world, login, register):
    register()
    r = client.post("/api/v1/elders", json=elder_body(world, name="沈桂英二"), headers=login("official_x"))
    assert r.status_code == 409 and r.json()["code"] == "elder_duplicate_id"


def test_idempotency_key_returns_the_first_elder(client, world, login, run):
    h = {**login("official_x"), "Idempotency-Key": "register-elder-0001"}
    a = client.post("/api/v1/elders", json=elder_body(world), headers=h)
    b = client.post("/api/v1/elders", json=elder_body(world), headers=h)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"] and count(run, Elder) == 1


def test_only_writers_register(client, world, login):
    for user in ("cashier_a", "operator_a", "courier_a"):
        r = client.post("/api/v1/elders", json=elder_body(world), headers=login(user))
        assert r.status_code == 403, user


def test_update_with_version_and_history(client, world, login, run, register):
    e = register()
    h = login("official_x")
    r = client.patch(
        f"/api/v1/elders/{e['id']}",
        json={"version": 1, "phone": "13800001111", "categories": [{"code": "tekun"}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    v = r.json()
    assert (
        v["version"] == 2
        and v["phone"] == "13800001111"
        and [c["code"] for c in v["categories"]] == ["tekun"]
    )
    stale = client.patch(f"/api/v1/elders/{e['id']}", json={"version": 1, "phone": "13800002222"}, headers=h)
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    rows = audits(run, "elder.update", e["id"])
    assert len(rows) == 1
    assert rows[0]["before"]["phone"] == "13857112345" and rows[0]["after"]["phone"] == "13800001111"
    assert "categories" in rows[0]["after"] and "address" not in rows[0]["after"]
    # An ID correction re-derives birth date and gender.
    new_id = nid(dt.date(1940, 1, 2), 131)
    r = client.patch(f"/api/v1/elders/{e['id']}", json={"version": 2, "national_id": new_id}, headers=h)
    assert r.status_code == 200 and r.json()["birth_date"] == "1940-01-02" and r.json()["gender"] == "male"
    assert (
        client.patch(
            f"/api/v1/elders/{e['id']}", json={"version": 3}, headers=login("official_y")
        ).status_code
        == 404
    )


def test_status_grant_and_pin(client, world, login, run, register):
    e = register()
    h = login("official_x")
    r = client.post(
        f"/api/v1/elders/{e['id']}/status", json={"status": "suspended", "reason": "住院"}, headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert [s["status"] for s in r.json()["status_history"]] == ["suspended", "active"]
    assert len(audits(run, "elder.status", e["id"])) == 1

    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    r = client.post(
        f"/api/v1/elders/{e['id']}/delivery-grant", json={"reason": "行动不便", "until": until}, headers=h
    )
    assert (
        r.status_code == 200
        and r.json()["delivery_eligible"] is True
        and r.json()["delivery_reasons"] == ["grant"]
    )
    past = client.post(
        f"/api/v1/elders/{e['id']}/delivery-grant", json={"reason": "x", "until": "2020-01-01"}, headers=h
    )
    assert past.status_code == 422 and past.json()["code"] == "delivery_grant_until_past"
    assert len(audits(run, "elder.delivery_grant", e["id"])) == 1

    for pin, code in (
        ("0000", "pin_too_weak"),
        ("1234", "pin_too_weak"),
        ("123456", "pin_too_weak"),
        ("0315", "pin_too_weak"),
        ("12a4", "pin_invalid"),
        ("123", "pin_invalid"),
    ):
        r = client.post(f"/api/v1/elders/{e['id']}/pin", json={"pin": pin}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == code, pin
    assert client.post(f"/api/v1/elders/{e['id']}/pin", json={"pin": "1357"}, headers=h).status_code == 204
    assert client.get(f"/api/v1/elders/{e['id']}", headers=h).json()["has_pin"] is True
    rows = audits(run, "elder.pin_set", e["id"])
    assert len(rows) == 1 and "1357" not in str(rows[0])
    assert (
        client.post(
            f"/api/v1/elders/{e['id']}/pin", json={"pin": "1357"}, headers=login("cashier_a")
        ).status_code
        == 403
    )


def test_delivery_eligibility_by_category_and_age(client, world, login, register):
    a = register(categories=[{"code": "semi_disabled"}])
    b = register(national_id=nid(dt.date(1930, 5, 1), 135), categories=[])
    assert a["delivery_eligible"] and a["delivery_reasons"] == ["category:semi_disabled"]
    assert b["delivery_eligible"] and b["delivery_reasons"] == ["age:90+"] and b["age_band"] == "90+"


def test_masked_and_full_id_by_role(client, world, login, run, register):
    e = register()
    full = nid(dt.date(1944, 3, 15), 124)
    r = client.get(f"/api/v1/elders/{e['id']}/national-id", headers=login("official_x"))
    assert r.status_code == 200 and r.json()["national_id"] == full
    assert (
        client.get(f"/api/v1/elders/{e['id']}/national-id", headers=login("admin")).json()["national_id"]
        == full
    )
    assert len(audits(run, "elder.id_viewed", e["id"])) == 2
    assert client.get(f"/api/v1/elders/{e['id']}/national-id", headers=login("operator_a")).status_code == 403
    assert client.get(f"/api/v1/elders/{e['id']}/national-id", headers=login("cashier_a")).status_code == 403
    assert client.get(f"/api/v1/elders/{e['id']}/national-id", headers=login("official_y")).status_code == 404
    assert len(audits(run, "elder.id_viewed", e["id"])) == 2


def test_scope_and_visible_fields(client, world, login, register):
    e = register()
    url = f"/api/v1/elders/{e['id']}"
    assert client.get(url, headers=login("official_y")).status_code == 404
    assert client.get(url, headers=login("cashier_c")).status_code == 404
    cashier = client.get(url, headers=login("cashier_a")).json()
    assert cashier["phone"] is None and cashier["address"] is None and cashier["emergency_phone"] is None
    assert cashier["masked_id"] == e["masked_id"] and [c["code"] for c in cashier["categories"]] == [
        "dibao",
        "living_alone",
    ]
    assert cashier["birth_date"] is None
    courier = client.get(url, headers=login("courier_a")).json()
    assert (
        courier["phone"] == "13857112345"
        and courier["address"]
        and courier["emergency_phone"] == "13957154321"
    )
    assert courier["diet"] == ["low_salt", "soft"] and courier["categories"] is None
    operator = client.get(url, headers=login("operator_a")).json()
    assert operator["phone"] and operator["categories"] and operator["can_edit"] is False
    assert client.get("/api/v1/elders", headers=login("official_y")).json()["items"] == []
    listed = client.get("/api/v1/elders", params={"q": "13857112345"}, headers=login("cashier_a")).json()[
        "items"
    ]
    assert listed == []  # a cashier may not find people by a phone they may not see
    by_name = client.get("/api/v1/elders", params={"q": "沈"}, headers=login("cashier_a")).json()["items"]
    assert [i["id"] for i in by_name] == [e["id"]] and by_name[0]["phone"] is None


def test_search_by_name_phone_last4_full_id_and_card(client, world, login, run, register):
    a = register()
    b = register(
        name="王建国", national_id=nid(dt.date(1938, 7, 9), 317), phone="0571-88001234", categories=[]
    )
    h = login("official_x")

    def ids(**params: Any) -> list[int]:
        r = client.get("/api/v1/elders", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids(q="建国") == [b["id"]]
    assert ids(q="13857112345") == [a["id"]]
    assert ids(q="057188001234") == [b["id"]]
    assert ids(q="88001234") == [b["id"]]
    assert ids(q=nid(dt.date(1938, 7, 9), 317)[-4:]) == [b["id"]]
    assert ids(q=nid(dt.date(1944, 3, 15), 124)) == [a["id"]]
    assert ids(category="dibao") == [a["id"]]
    assert ids(community_id=world.community_x) == [a["id"], b["id"]]
    assert ids(limit=1) == [a["id"]]
    r = client.get("/api/v1/elders", params={"limit": 1}, headers=h).json()
    assert ids(limit=1, cursor=r["next_cursor"]) == [b["id"]]

    number = new_card_number()
    run(lambda: Card.insert(Card(elder=b["id"], serial=1, number=number, issued_at=NOW)))
    assert ids(q=f"{number[:3]}-{number[3:7]}-{number[7:]}".lower()) == [b["id"]]
    run(lambda: Card.update({Card.revoked_at: NOW}).where(Card.elder == b["id"]))
    assert ids(q=number) == []
    assert client.get("/api/v1/elders", params={"limit": 100000}, headers=h).status_code in (400, 422)


def test_facts_and_brief_for_the_counter(client, world, run, register):
    from canteen.registry import services

    e = register(diet=["soft"])
    facts = run(lambda: services.elder_facts(e["id"]))
    assert facts.member and facts.birth_date == dt.date(1944, 3, 15)
    assert facts.home_district_id == world.district_x and facts.home_street_id == world.street_x
    assert {c.code for c in facts.categories} == {"dibao", "living_alone"}
    assert next(c for c in facts.categories if c.code == "dibao").valid_until == dt.date(2030, 12, 31)
    brief = run(lambda: services.elder_brief(e["id"]))
    assert brief.display_name == "沈桂英" and brief.masked_id == e["masked_id"] and brief.diet == ["soft"]
    assert brief.categories == ["dibao", "living_alone"] and brief.status == "active"
