"""The policy store and quotes over HTTP, with the demo policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from canteen.core.categories import Category
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.tables import SubsidyPolicy
from tests.integration.cards.elders import add_elder

DAY = "2026-11-23"


def _doc(**changes: Any) -> dict[str, Any]:
    doc = msgspec.to_builtins(demo_policy())
    doc.pop("district_id")
    doc.pop("version")
    doc.update(changes)
    return doc


def _publish_demo(client: Any, h: dict[str, str], district: int, **changes: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/districts/{district}/policies", json=_doc(**changes), headers=h)
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/policies/{r.json()['id']}/publish", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def test_create_publish_and_overlap(client, run, world, login) -> None:
    h = login("official_x")
    r = client.post(f"/api/v1/districts/{world.district_x}/policies", json=_doc(), headers=h)
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (
        v1["version"] == 1 and v1["status"] == "draft" and v1["document"]["district_id"] == world.district_x
    )

    r = client.post(f"/api/v1/policies/{v1['id']}/publish", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "published"
    r = client.post(f"/api/v1/policies/{v1['id']}/publish", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "policy_not_draft"

    # Same first day as the published version: an overlap, refused, nothing changes.
    r = client.post(f"/api/v1/districts/{world.district_x}/policies", json=_doc(), headers=h)
    assert r.json()["version"] == 2
    r = client.post(f"/api/v1/policies/{r.json()['id']}/publish", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "policy_overlap"

    # A successor from a later day closes v1 the day before.
    r = client.post(
        f"/api/v1/districts/{world.district_x}/policies", json=_doc(effective_from="2027-01-01"), headers=h
    )
    v3 = r.json()
    assert v3["version"] == 3
    r = client.post(f"/api/v1/policies/{v3['id']}/publish", headers=h)
    assert r.status_code == 200, r.text
    old = client.get(f"/api/v1/policies/{v1['id']}", headers=h).json()
    assert old["effective_until"] == "2026-12-31" and old["document"]["effective_until"] == "2026-12-31"
    stored = run(
        lambda: SubsidyPolicy.select(SubsidyPolicy.document).where(SubsidyPolicy.id == v1["id"]).first()
    )
    raw = stored["document"]
    assert (msgspec.json.decode(raw) if isinstance(raw, str) else raw)["effective_until"] is None  # immutable

    listed = client.get(f"/api/v1/districts/{world.district_x}/policies", headers=login("cashier_a")).json()
    assert [p["version"] for p in listed["items"]] == [3, 2, 1]


def test_bad_policies_write_nothing(client, run, world, login) -> None:
    h = login("official_x")
    url = f"/api/v1/districts/{world.district_x}/policies"
    bad_funding = _doc(funding=[{"source": "city", "percent": 60}, {"source": "district", "percent": 30}])
    r = client.post(url, json=bad_funding, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "policy_funding_not_100"
    assert r.json()["detail"]["total_percent"] == 90

    doc = _doc()
    doc["tiers"][0]["categories"] = ["vip"]
    r = client.post(url, json=doc, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "policy_unknown_category"

    doc = _doc()
    doc["tiers"][3]["value"] = -100
    r = client.post(url, json=doc, headers=h)
    assert r.status_code in (400, 422) and r.json()["code"] == "validation_failed"

    assert run(lambda: SubsidyPolicy.count()) == 0


def test_policy_scope(client, world, login) -> None:
    hy = login("official_y")
    r = client.post(f"/api/v1/districts/{world.district_x}/policies", json=_doc(), headers=hy)
    assert r.status_code == 404
    r = client.post(f"/api/v1/districts/{world.district_x}/policies", json=_doc(), headers=login("cashier_a"))
    assert r.status_code == 403
    pub = _publish_demo(client, login("official_x"), world.district_x)
    assert client.get(f"/api/v1/policies/{pub['id']}", headers=hy).status_code == 404
    assert client.post(f"/api/v1/policies/{pub['id']}/retire", headers=hy).status_code == 404


def _quote(client: Any, h: dict[str, str], **body: Any) -> Any:
    payload = {"slot": "lunch", "date": DAY, "mode": "dine_in", "list_price_fen": 1500} | body
    return client.post("/api/v1/quotes", json=payload, headers=h)


def test_quotes_for_the_demo_policy(client, run, world, login) -> None:
    _publish_demo(client, login("official_x"), world.district_x)
    x, cx = world.district_x, world.community_x
    age91 = run(lambda: add_elder(district=x, community=cx, name="陈阿婆", birth_date=dt.date(1935, 3, 1)))
    tekun = run(
        lambda: add_elder(
            district=x,
            community=cx,
            name="周大爷",
            birth_date=dt.date(1950, 6, 1),
            categories=(Category.TEKUN,),
        )
    )
    h = login("cashier_a")

    r = _quote(client, h, elder_id=age91, site_id=world.site_a)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["subsidy_fen"] == 800 and q["copay_fen"] == 700 and q["tier_code"] == "age90"
    assert q["policy_version"] == 1 and q["reason_zh"] and q["reason_en"]
    assert sum(p["fen"] for p in q["funding"]) == 800
    assert {p["source"] for p in q["funding"]} == {"city", "district"}

    q = _quote(client, h, elder_id=tekun, site_id=world.site_a).json()
    assert q["copay_fen"] == 0 and q["subsidy_fen"] == 1500 and q["tier_code"] == "tekun"

    q = _quote(client, h, site_id=world.site_a).json()  # a walk-in
    assert q["copay_fen"] == 1500 and q["subsidy_fen"] == 0 and q["tier_code"] is None

    # By card, and with delivery (90+: 3 yuan off the 5-yuan fee).
    issued = client.post(f"/api/v1/elders/{age91}/cards", json={}, headers=login("official_x")).json()
    q = _quote(client, h, card=issued["token"], site_id=world.site_a, mode="delivery").json()
    assert q["subsidy_fen"] == 800 and q["delivery_fee_fen"] == 500 and q["delivery_copay_fen"] == 200
    assert q["total_due_fen"] == 900


def test_quote_refusals(client, run, world, login) -> None:
    h = login("cashier_a")
    r = _quote(client, h, site_id=world.site_a)
    assert r.status_code == 409 and r.json()["code"] == "policy_not_in_force"
    _publish_demo(client, login("official_x"), world.district_x)
    r = _quote(client, h, site_id=world.site_a, list_price_fen=-100)
    assert r.status_code == 422 and r.json()["code"] == "invalid_price"
    r = _quote(client, h, site_id=world.site_a, slot="supper")
    assert r.status_code == 422 and r.json()["code"] == "invalid_slot"
    r = _quote(client, h, site_id=world.site_c)  # a site of another district than the cashier's
    assert r.status_code == 404
    r = _quote(client, h, site_id=world.site_a, card="K7M-4QXP-9X")
    assert r.status_code == 400 and r.json()["code"] == "invalid_card_number"
