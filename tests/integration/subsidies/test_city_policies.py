"""A city base with district top-ups over real HTTP: the city official of 杭州市 stores and
publishes a base (80+: 3 yuan off, paid by the city); the district official of 拱墅区 reads it
but cannot write it; quotes for an elder of the district carry the base's funders and the
top-up's; a check-in records the combined split; retiring the base leaves the district's
policy alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.services import load_principal
from canteen.registry.card_services import issue_card
from tests.integration.subsidies.policies import Row
from tests.integration.subsidies.test_policy_library import _check_in, _meal, _quote, _setting, _today

BASE: dict[str, Any] = {
    "name": "杭州市老年助餐基础补贴",
    "combination": "best",
    "funding": [{"source": "city", "percent": 100}],
    "tiers": [
        {"code": "age80", "name_zh": "80岁以上", "name_en": "Aged 80+", "min_age": 80,
         "kind": "amount_off", "value": 300},
    ],
}  # fmt: skip
TOPUP: dict[str, Any] = {
    "name": "拱墅区叠加补贴",
    "combination": "best",
    "funding": [{"source": "district", "percent": 100}],
    "tiers": [
        {"code": "dibao", "name_zh": "低保", "name_en": "Dibao", "categories": ["dibao"],
         "kind": "amount_off", "value": 400,
         "funding": [{"source": "district", "fixed_fen": 200}, {"source": "street", "rest": True}]},
        {"code": "age80", "name_zh": "80岁以上", "name_en": "Aged 80+", "min_age": 80,
         "kind": "amount_off", "value": 100},
    ],
}  # fmt: skip


def _from() -> str:
    return _today().replace(day=1).isoformat()


def _split(q: dict[str, Any]) -> tuple[int, dict[str, int]]:
    return q["copay_fen"], {p["source"]: p["fen"] for p in q["funding"]}


def test_city_base_and_district_topup_over_http(client, run, world, login) -> None:
    city = login("city_official_h")
    official = login("official_x")
    other = login("official_y")
    cashier = login("cashier_a")

    # The district's own policy (the top-up), published by its official.
    r = client.post(
        f"/api/v1/districts/{world.district_x}/policies",
        json={**TOPUP, "effective_from": _from()},
        headers=official,
    )
    assert r.status_code == 201, r.text
    assert client.post(f"/api/v1/policies/{r.json()['id']}/publish", headers=official).status_code == 200

    # A district official may not write the city's base; the city official may.
    body = {**BASE, "effective_from": _from()}
    r = client.post(f"/api/v1/cities/{world.city}/policies", json=body, headers=official)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(f"/api/v1/cities/{world.city}/policies", json=body, headers=city)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert (draft["city_id"], draft["district_id"], draft["version"], draft["status"]) == (
        world.city,
        None,
        1,
        "draft",
    )
    assert "city_base" not in draft["document"] or draft["document"]["city_base"] is None
    policy_id = draft["id"]
    assert client.post(f"/api/v1/policies/{policy_id}/publish", headers=official).status_code == 403
    r = client.post(f"/api/v1/policies/{policy_id}/publish", headers=city)
    assert r.status_code == 200 and r.json()["status"] == "published", r.text
    # The city official cannot write a district's policy (reads of district records stay as they were).
    r = client.post(
        f"/api/v1/districts/{world.district_x}/policies",
        json={**TOPUP, "effective_from": _from()},
        headers=city,
    )
    assert r.status_code == 403

    # Readers: every official (and site staff) of a district of the city.
    for h in (official, other, cashier, city):
        r = client.get(f"/api/v1/cities/{world.city}/policies", headers=h)
        assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == [policy_id]
        assert client.get(f"/api/v1/policies/{policy_id}", headers=h).status_code == 200
    assert client.get("/api/v1/cities/999999/policies", headers=official).status_code == 404

    # Quotes: an 85-year-old 低保 elder of the district: base 3 (city) + top-up 4 (district 2, street 2).
    rows = [Row(e, 0, {}, slot=s) for e in ("dibao85", "age85") for s in ("lunch", "dinner")]
    elders, sets = _setting(run, world, rows)
    lunch = sets[("lunch", "standard", 1500)]
    q = _quote(client, official, world, elders["dibao85"], "lunch", lunch)
    assert _split(q) == (800, {"city": 300, "district": 200, "street": 200}), q["reason_en"]
    assert q["base_subsidy_fen"] == 300 and q["base_funding"] == [{"source": "city", "fen": 300}]
    assert q["city_policy_version"] == 1 and q["policy_version"] == 1
    q = _quote(client, official, world, elders["age85"], "lunch", lunch)
    assert _split(q) == (1100, {"city": 300, "district": 100})

    # A check-in records the combined split.
    async def card() -> str:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        return (await issue_card(admin, elders["dibao85"], reason="new")).token

    token = run(card)
    _check_in(client, cashier, world, token, "lunch", lunch)
    meal = _meal(run, elders["dibao85"])
    assert (meal["copay_fen"], meal["subsidy_fen"]) == (800, 700)
    assert meal["funding"] == {"city": 300, "district": 200, "street": 200}

    # Retire the base: back to the district's policy alone.
    assert client.post(f"/api/v1/policies/{policy_id}/retire", headers=official).status_code == 403
    r = client.post(f"/api/v1/policies/{policy_id}/retire", headers=city)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    q = _quote(client, official, world, elders["age85"], "dinner", sets[("dinner", "standard", 1500)])
    assert _split(q) == (1400, {"district": 100}) and q["city_policy_version"] is None

    # Every write was audited, with the city's policy as the target.
    actions = _audited(run, policy_id)
    assert actions == ["policy.create", "policy.publish", "policy.retire"]


def test_a_district_without_a_policy_is_priced_by_the_base_and_versions_do_not_overlap(
    client, run, world, login
) -> None:
    city = login("city_official_h")
    start = _today().replace(day=1)
    first = client.post(
        f"/api/v1/cities/{world.city}/policies",
        json={**BASE, "effective_from": start.isoformat()},
        headers=city,
    ).json()
    assert client.post(f"/api/v1/policies/{first['id']}/publish", headers=city).status_code == 200
    # A second version from next month closes the first the day before; a third overlapping it is refused.
    nxt = (start + dt.timedelta(days=40)).replace(day=1)
    second = client.post(
        f"/api/v1/cities/{world.city}/policies",
        json={**BASE, "effective_from": nxt.isoformat()},
        headers=city,
    ).json()
    assert second["version"] == 2
    assert client.post(f"/api/v1/policies/{second['id']}/publish", headers=city).status_code == 200
    closed = client.get(f"/api/v1/policies/{first['id']}", headers=city).json()
    assert closed["effective_until"] == (nxt - dt.timedelta(days=1)).isoformat()
    third = client.post(
        f"/api/v1/cities/{world.city}/policies",
        json={**BASE, "effective_from": nxt.isoformat(), "effective_until": nxt.isoformat()},
        headers=city,
    ).json()
    r = client.post(f"/api/v1/policies/{third['id']}/publish", headers=city)
    assert r.status_code == 409 and r.json()["code"] == "policy_overlap"

    # 拱墅区 has no policy of its own: the base alone prices its elders.
    rows = [Row("age85", 0, {})]
    elders, sets = _setting(run, world, rows)
    q = _quote(
        client, login("official_x"), world, elders["age85"], "lunch", sets[("lunch", "standard", 1500)]
    )
    assert _split(q) == (1200, {"city": 300}) and q["city_policy_version"] == 1
    # A body can never smuggle the runtime-only fold in.
    r = client.post(
        f"/api/v1/cities/{world.city}/policies",
        json={**BASE, "effective_from": start.isoformat(), "city_base": {"policy": {**BASE, "version": 1,
              "effective_from": start.isoformat()}}},
        headers=city,
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["document"].get("city_base") is None


def _audited(run: Any, policy_id: int) -> list[str]:
    from canteen.core.tables import AuditEntry

    rows = run(
        lambda: (
            AuditEntry.select(AuditEntry.action)
            .where((AuditEntry.target_type == "subsidy_policy") & (AuditEntry.target_id == str(policy_id)))
            .order_by(AuditEntry.id)
        )
    )
    return [r["action"] for r in rows]


def test_the_demo_city_base_under_the_demo_district_policy(client, run, world, login) -> None:
    from canteen.core.audit import SystemActor
    from canteen.subsidies import services
    from canteen.subsidies.demo import demo_policy, publish_city_base

    start = _today().replace(day=1)

    async def load() -> tuple[int | None, int | None]:
        actor = SystemActor("test")
        own = await services.create_policy(
            actor, world.district_x, demo_policy(district_id=world.district_x, effective_from=start)
        )
        await services.publish_policy(actor, own.id)
        first = await publish_city_base(world.city, effective_from=start)
        return first, await publish_city_base(world.city, effective_from=start)

    first, again = run(load)
    assert first is not None and again is None  # idempotent
    elders, sets = _setting(run, world, [Row("age85", 0, {}), Row("dibao85", 0, {})])
    h = login("official_x")
    lunch = sets[("lunch", "standard", 1500)]
    # 85: the city's 2 yuan, then the district's 5 yuan off (city 60 %, district 40 %): co-pay 8.
    q = _quote(client, h, world, elders["age85"], "lunch", lunch)
    assert _split(q) == (800, {"city": 500, "district": 200}), q["reason_en"]
    # 低保 85: the district's fixed co-pay of 3 yuan still holds on top of the base.
    q = _quote(client, h, world, elders["dibao85"], "lunch", lunch)
    assert q["copay_fen"] == 300 and q["base_subsidy_fen"] == 200
