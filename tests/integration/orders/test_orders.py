"""Delivery orders over HTTP: the one-subsidised-meal rule across the counter and the door,
cancellation refunds, idempotent retries, standing orders."""

from __future__ import annotations

import uuid
from typing import Any

from canteen.meals.tables import Meal
from canteen.orders.tables import Order
from canteen.payments.ledger import balance_of, ledger_balanced, verify_balances
from tests.factories import add_user
from tests.integration.orders.setup import delivery_world


def _order(client: Any, headers: dict[str, str], d: Any, elder: int, day: Any, set_id: int, **kw: Any) -> Any:
    return client.post(
        "/api/v1/orders",
        json={
            "elder_id": elder,
            "site_id": d.site,
            "service_date": day.isoformat(),
            "slot": "lunch",
            "meal_set_id": set_id,
            **kw,
        },
        headers={**headers, "Idempotency-Key": kw.pop("key", None) or uuid.uuid4().hex},
    )


def _scan(client: Any, headers: dict[str, str], site: int, card: str) -> Any:
    return client.post(
        "/api/v1/checkins",
        json={"site_id": site, "card": card, "payment": "balance", "slot": "lunch"},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def test_delivery_then_counter_and_counter_then_delivery_are_already_served(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=2))
    run(lambda: add_user("cashier_counter", [("cashier", None, d.site)]))
    staff = login("official_x")
    cashier = login("cashier_counter")
    first, second = d.elders
    # (a) a subsidised delivery lunch today, then the counter refuses a second subsidised lunch
    r = _order(client, staff, d, first, d.today, d.sets_today["套餐A"])
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["subsidy_fen"] > 0 and order["placed_by_kind"] == "staff"
    assert order["list_price_fen"] - order["subsidy_fen"] == order["copay_fen"]
    r = _scan(client, cashier, d.site, d.cards[first])
    assert r.status_code == 409 and r.json()["code"] == "already_served", r.text
    assert r.json()["detail"]["mode"] == "delivery"
    # (b) a counter lunch first, then the delivery order is refused
    r = _scan(client, cashier, d.site, d.cards[second])
    assert r.status_code == 201, r.text
    r = _order(client, staff, d, second, d.today, d.sets_today["套餐A"])
    assert r.status_code == 409 and r.json()["code"] == "already_served", r.text
    meals = run(lambda: Meal.select(Meal.mode, Meal.subsidised).where(Meal.voided_at.is_null()))
    assert sorted(m["mode"] for m in meals) == ["delivery", "dine_in"]
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_cancel_refunds_balance_frees_subsidy_and_retry_replays(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1))
    run(lambda: add_user("cashier_counter", [("cashier", None, d.site)]))
    staff = login("official_x")
    elder = d.elders[0]
    key = uuid.uuid4().hex
    body = {
        "elder_id": elder,
        "site_id": d.site,
        "service_date": d.today.isoformat(),
        "slot": "lunch",
        "meal_set_id": d.sets_today["软食套餐"],
    }
    r1 = client.post("/api/v1/orders", json=body, headers={**staff, "Idempotency-Key": key})
    r2 = client.post("/api/v1/orders", json=body, headers={**staff, "Idempotency-Key": key})
    assert r1.status_code == 201 and r2.status_code == 200 and r1.json()["id"] == r2.json()["id"]
    assert run(lambda: Order.count()) == 1
    order = r1.json()
    assert run(lambda: balance_of(elder)) == 5000 - order["total_due_fen"]
    listed = client.get(f"/api/v1/orders?elder_id={elder}", headers=staff).json()["items"]
    assert [o["id"] for o in listed] == [order["id"]]
    r = client.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "家人送饭"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["payment_status"] == "refunded"
    assert run(lambda: balance_of(elder)) == 5000
    meal = run(lambda: Meal.select(Meal.voided_at).where(Meal.id == order["meal_id"]).first())
    assert meal["voided_at"] is not None
    # the subsidy is free again: the counter serves a subsidised lunch
    r = _scan(client, login("cashier_counter"), d.site, d.cards[elder])
    assert r.status_code == 201 and r.json()["subsidy_fen"] > 0, r.text
    r = client.post(f"/api/v1/orders/{order['id']}/cancel", json={}, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "order_not_cancellable"
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_refusals_not_eligible_cutoff_and_missing_key(client: Any, world: Any, run: Any, login: Any) -> None:
    import datetime as dt

    from canteen.registry.tables import Elder

    d = run(lambda: delivery_world(world, n_elders=1))
    staff = login("official_x")
    elder = d.elders[0]
    run(lambda: Elder.update({Elder.birth_date: dt.date(1950, 1, 1)}).where(Elder.id == elder))
    r = _order(client, staff, d, elder, d.tomorrow, d.sets_tomorrow["套餐A"])
    assert r.status_code == 403 and r.json()["code"] == "not_eligible_for_delivery"
    run(lambda: Elder.update({Elder.birth_date: dt.date(1931, 1, 1)}).where(Elder.id == elder))
    r = client.post(
        "/api/v1/orders",
        json={
            "elder_id": elder,
            "site_id": d.site,
            "service_date": d.tomorrow.isoformat(),
            "slot": "lunch",
            "meal_set_id": d.sets_tomorrow["套餐A"],
        },
        headers=staff,
    )
    assert r.status_code == 400 or r.json()["code"] == "idempotency_key_missing", r.text
    yesterday = d.today - dt.timedelta(days=1)
    from canteen.accounts.services import load_principal
    from canteen.menus.schemas import MealSetIn
    from canteen.menus.services import set_menu

    async def old_menu() -> int:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        m = await set_menu(admin, d.site, yesterday, "lunch", [MealSetIn(name="套餐A", list_price_fen=1500)])
        return m.sets[0].id

    set_id = run(old_menu)
    r = _order(client, staff, d, elder, yesterday, set_id)
    assert r.status_code == 409 and r.json()["code"] == "order_cutoff_passed", r.text
    r = _order(client, login("official_y"), d, elder, d.tomorrow, d.sets_tomorrow["套餐A"])
    assert r.status_code == 404


def test_standing_order_materialises_once(client: Any, world: Any, run: Any, login: Any) -> None:
    from canteen.orders.services import materialise_standing_orders

    d = run(lambda: delivery_world(world, n_elders=1))
    staff = login("official_x")
    elder = d.elders[0]
    r = client.post(
        "/api/v1/standing-orders",
        json={
            "elder_id": elder,
            "site_id": d.site,
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
            "meal_set_name": "软食套餐",
        },
        headers=staff,
    )
    assert r.status_code == 201, r.text
    first = run(lambda: materialise_standing_orders(d.tomorrow))
    again = run(lambda: materialise_standing_orders(d.tomorrow))
    assert first == {"placed": 1} and again == {"placed": 1}
    rows = run(lambda: Order.select(Order.meal_set_name, Order.standing_order).where(Order.elder == elder))
    assert len(rows) == 1 and rows[0]["meal_set_name"] == "软食套餐" and rows[0]["standing_order"]
