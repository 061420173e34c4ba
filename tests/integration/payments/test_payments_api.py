"""The payments API and the receipt page over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from canteen.payments import ledger
from tests.integration.payments.elders import add_elder


def test_top_up_api_idempotent_and_receipt(client: Any, world: Any, run: Any, login: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    headers = login("cashier_a")
    body = {"site_id": world.site_a, "elder_id": elder, "amount_fen": 5000}
    r = client.post("/api/v1/topups", json=body, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_missing"
    keyed = {**headers, "Idempotency-Key": "counter-1-topup-0001"}
    first = client.post("/api/v1/topups", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/topups", json=body, headers=keyed)
    assert again.json() == first.json()
    assert first.json()["balance_after_fen"] == 5000
    bad = client.post(
        "/api/v1/topups",
        json={**body, "amount_fen": 200_001},
        headers={**headers, "Idempotency-Key": "counter-1-topup-0002"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_amount"
    balance = client.get(f"/api/v1/elders/{elder}/balance", headers=headers).json()
    assert balance["balance_fen"] == 5000 and len(balance["entries"]) == 1
    cash = client.get(f"/api/v1/sites/{world.site_a}/cash", params={"date": "2026-11-23"}, headers=headers)
    assert cash.status_code == 200
    page = client.get(f"/receipts/topups/{first.json()['txn']}", headers=headers)
    assert page.status_code == 200 and "50.00" in page.text
    # Another district's cashier sees nothing of it.
    other = login("cashier_c")
    assert client.get(f"/api/v1/elders/{elder}/balance", headers=other).status_code == 404
    assert (
        client.post(
            "/api/v1/topups", json=body, headers={**other, "Idempotency-Key": "counter-3-topup-0001"}
        ).status_code
        == 404
    )


def test_reverse_api(client: Any, world: Any, run: Any, login: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    cashier = login("cashier_a")
    r = client.post(
        "/api/v1/topups",
        json={"site_id": world.site_a, "elder_id": elder, "amount_fen": 800},
        headers={**cashier, "Idempotency-Key": "counter-1-topup-0003"},
    )
    txn = r.json()["txn"]
    assert (
        client.post(f"/api/v1/ledger/{txn}/reverse", json={"reason": "错收"}, headers=cashier).status_code
        == 403
    )
    operator = login("operator_a")
    ok = client.post(f"/api/v1/ledger/{txn}/reverse", json={"reason": "错收"}, headers=operator)
    assert ok.status_code == 201, ok.text
    again = client.post(f"/api/v1/ledger/{txn}/reverse", json={"reason": "错收"}, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    assert run(lambda: ledger.balance_of(elder)) == 0


def test_concurrent_top_up_retries_post_once(client: Any, world: Any, run: Any, login: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    headers = {**login("cashier_a"), "Idempotency-Key": "counter-1-topup-0009"}
    body = {"site_id": world.site_a, "elder_id": elder, "amount_fen": 1000}
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: client.post("/api/v1/topups", json=body, headers=headers), range(6))
        )
    assert {a.status_code for a in answers} <= {200, 201}
    assert len({a.json()["txn"] for a in answers}) == 1
    assert run(lambda: ledger.balance_of(elder)) == 1000
    assert run(lambda: ledger.verify_balances()) == []
