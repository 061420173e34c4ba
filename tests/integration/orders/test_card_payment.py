"""A card payment through localstripe: paid by a signed webhook; the same webhook twice and a
forged one change nothing more; a cancellation refunds through the provider."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from canteen.orders.tables import Order, PaymentIntentRecord, ProviderEvent
from canteen.payments.ledger import ledger_balanced, verify_balances
from canteen.payments.tables import LedgerEntry
from tests.integration.orders.setup import delivery_world
from tests.stripe_emulator import localstripe, sign

SECRET = "whsec_canteen_test_secret"


@pytest.fixture
def stripe_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from canteen.payments.providers import stripe_provider as sp
    from canteen.settings import Settings

    with localstripe() as base:
        monkeypatch.setenv("CANTEEN_STRIPE_API_KEY", "sk_test_canteen")
        monkeypatch.setenv("CANTEEN_STRIPE_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("CANTEEN_STRIPE_API_BASE", base)
        sp.set_provider(sp.StripeProvider(Settings.from_env()))
        try:
            yield base
        finally:
            sp.set_provider(None)


def _event(event_id: str, kind: str, pi: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "api_version": "2017-08-15",
            "created": 1700000000,
            "data": {"object": {"object": "payment_intent", **pi}},
        }
    ).encode()


def _post_hook(client: Any, body: bytes, signature: str) -> Any:
    return client.post(
        "/api/v1/payments/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


def test_card_order_paid_by_webhook_once_and_refunded_on_cancel(
    client: Any, world: Any, run: Any, login: Any, stripe_provider: str
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1, balance_fen=0))
    staff = login("official_x")
    elder = d.elders[0]
    r = client.post(
        "/api/v1/orders",
        json={
            "elder_id": elder,
            "site_id": d.site,
            "service_date": d.tomorrow.isoformat(),
            "slot": "lunch",
            "meal_set_id": d.sets_tomorrow["套餐A"],
            "payment": "card",
        },
        headers={**staff, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["payment_status"] == "pending" and order["total_due_fen"] > 0
    r = client.post(
        f"/api/v1/orders/{order['id']}/card-payment",
        json={"payment_method": "pm_card_visa", "confirm": True},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    pay = r.json()
    assert pay["status"] == "succeeded" and pay["amount_fen"] == order["total_due_fen"]
    assert run(lambda: Order.select(Order.payment_status).first())["payment_status"] == "pending"

    body = _event(
        "evt_canteen_1",
        "payment_intent.succeeded",
        {"id": pay["provider_id"], "amount": pay["amount_fen"], "status": "succeeded", "metadata": {}},
    )
    r = _post_hook(client, body, sign(body, SECRET))
    assert r.status_code == 200 and r.json()["outcome"] == "settled", r.text
    entries_after_pay = run(lambda: LedgerEntry.count())
    assert run(lambda: Order.select(Order.payment_status).first())["payment_status"] == "paid"

    # the same event again, re-signed later: nothing more
    r = _post_hook(client, body, sign(body, SECRET))
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    # a forged signature (wrong secret) and a tampered body: refused, nothing moves
    forged = _event("evt_forged", "payment_intent.succeeded", {"id": pay["provider_id"], "amount": 1})
    r = _post_hook(client, forged, sign(forged, "whsec_wrong"))
    assert r.status_code == 400 and r.json()["code"] == "webhook_rejected"
    r = _post_hook(client, forged, sign(body, SECRET))
    assert r.status_code == 400
    # a late failure event about the paid intent: harmless
    late = _event("evt_canteen_2", "payment_intent.payment_failed", {"id": pay["provider_id"], "amount": 1})
    r = _post_hook(client, late, sign(late, SECRET))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored_after_success"
    assert run(lambda: LedgerEntry.count()) == entries_after_pay
    assert run(lambda: ProviderEvent.count()) == 2
    assert run(lambda: Order.select(Order.payment_status).first())["payment_status"] == "paid"

    r = client.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "住院"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["payment_status"] == "refunded"
    rec = run(lambda: PaymentIntentRecord.select().first())
    assert rec["status"] == "refunded" and rec["refund_id"].startswith("re_")
    assert run(verify_balances) == [] and run(ledger_balanced)
