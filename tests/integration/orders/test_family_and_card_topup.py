"""Family accounts linked with consent, and a balance topped up by card through localstripe."""

from __future__ import annotations

import uuid
from typing import Any

from canteen.core.tables import AuditEntry
from canteen.orders.tables import FamilyLink
from canteen.payments.ledger import balance_of, ledger_balanced, verify_balances
from tests.integration.orders.setup import delivery_world
from tests.integration.orders.test_card_payment import SECRET, _event, _post_hook, stripe_provider  # noqa: F401
from tests.stripe_emulator import sign


def test_family_account_is_linked_with_consent(client: Any, world: Any, run: Any, login: Any) -> None:
    d = run(lambda: delivery_world(world, n_elders=1, balance_fen=0))
    staff = login("official_x")
    body = {"phone": "13912345678", "password": "Family-pass-2026", "name": "王建华（儿子）"}
    r = client.post("/api/v1/family-accounts", json=body, headers=staff)
    assert r.status_code == 201, r.text
    family = r.json()["id"]
    again = client.post("/api/v1/family-accounts", json=body, headers=staff)
    assert again.status_code == 409 and again.json()["code"] == "duplicate"
    weak = client.post(
        "/api/v1/family-accounts",
        json={**body, "phone": "13912345679", "password": "1234567890"},
        headers=staff,
    )
    assert weak.status_code == 422 and weak.json()["code"] == "password_too_weak"
    no_consent = client.post(
        f"/api/v1/family-accounts/{family}/links", json={"elder_id": d.elders[0]}, headers=staff
    )
    assert no_consent.status_code in (400, 422)
    r = client.post(
        f"/api/v1/family-accounts/{family}/links",
        json={"elder_id": d.elders[0], "consent_note": "老人本人电话同意，社区工作人员记录"},
        headers=staff,
    )
    assert r.status_code == 201, r.text
    assert run(lambda: FamilyLink.count().where(FamilyLink.elder == d.elders[0])) == 1
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "family.link")) == 1
    unknown = client.post(
        "/api/v1/family-accounts/999999/links",
        json={"elder_id": d.elders[0], "consent_note": "同意"},
        headers=staff,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    # Staff of another district cannot link to this elder; a cashier cannot create accounts at all.
    other = client.post(
        f"/api/v1/family-accounts/{family}/links",
        json={"elder_id": d.elders[0], "consent_note": "同意"},
        headers=login("official_y"),
    )
    assert other.status_code in (403, 404)
    assert client.post("/api/v1/family-accounts", json=body, headers=login("cashier_a")).status_code == 403


def test_card_topup_credits_the_balance_once_by_webhook(
    client: Any,
    world: Any,
    run: Any,
    login: Any,
    stripe_provider: str,  # noqa: F811
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1, balance_fen=0))
    elder = d.elders[0]
    staff = login("official_x")
    key = uuid.uuid4().hex
    r = client.post(
        f"/api/v1/elders/{elder}/card-topups",
        json={"amount_fen": 5000, "payment_method": "pm_card_visa", "confirm": True},
        headers={**staff, "Idempotency-Key": key},
    )
    assert r.status_code == 200, r.text
    pay = r.json()
    assert pay["status"] == "succeeded" and pay["amount_fen"] == 5000
    assert run(lambda: balance_of(elder)) == 0  # nothing until the verified webhook says so
    body = _event(
        "evt_topup_1",
        "payment_intent.succeeded",
        {"id": pay["provider_id"], "amount": 5000, "status": "succeeded", "metadata": {}},
    )
    assert _post_hook(client, body, sign(body, SECRET)).status_code == 200
    assert _post_hook(client, body, sign(body, SECRET)).json()["outcome"] == "duplicate"
    assert run(lambda: balance_of(elder)) == 5000
    assert run(verify_balances) == [] and run(ledger_balanced)
    missing = client.post(f"/api/v1/elders/{elder}/card-topups", json={"amount_fen": 5000}, headers=staff)
    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_missing"
    assert (
        client.post(
            f"/api/v1/elders/{elder}/card-topups",
            json={"amount_fen": 5000},
            headers={**login("official_y"), "Idempotency-Key": key},
        ).status_code
        == 404
    )
