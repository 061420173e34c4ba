"""Five money defects of issue #10, each through the HTTP API: a meal has one owner
(``canteen.meals``) and an order's status one writer (the order state machine).

D1 cash collected at the door is posted; D2 a delivery not made gives back its charge and
its subsidy; D3 the counter cannot void a delivery meal behind its order's back; D4 a card
refund and a late card success cannot contradict the order's status; D5 one price for the
same meal at the counter, in the quotes API and on a delivery order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canteen.payments.ledger import ledger_balance_of, ledger_balanced, verify_balances
from canteen.payments.tables import LedgerEntry
from tests.integration.meals.flows import Api, funding_of, meal_row, meal_world
from tests.integration.orders.test_card_payment import SECRET, _event, _post_hook
from tests.stripe_emulator import localstripe, sign

# --- D1 ---------------------------------------------------------------------------------


def test_d1_cash_on_delivery_scanned_at_the_door_posts_the_cash(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    mw = run(lambda: meal_world(world, n_elders=1, balance_fen=0))
    api = Api(client, login, world, mw)
    elder = mw.elders[0]
    r = api.order(elder, mw.today, payment="cash")
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["payment_status"] == "due_on_delivery" and order["total_due_fen"] > 0
    drawer_before = api.cash_drawer(mw.today)["cash_in_fen"]
    stops = api.dispatch([order["id"]], mw.today)
    r = api.deliver(stops[order["id"]], elder)
    assert r.status_code == 200, r.text
    after = api.get_order(order["id"])
    assert after["status"] == "delivered"
    assert after["payment_status"] == "paid", (
        f"cash collected at the door left the order {after['payment_status']}"
    )
    cash_acct = f"cash:site:{mw.site}:{mw.today.isoformat()}"
    revenue = f"revenue:site:{mw.site}"
    posted = run(
        lambda: LedgerEntry.select(LedgerEntry.amount_fen).where(
            (LedgerEntry.debit == cash_acct)
            & (LedgerEntry.credit == revenue)
            & LedgerEntry.reverses_txn.is_null()
        )
    )
    assert [p["amount_fen"] for p in posted] == [order["total_due_fen"]], (
        f"no cash posting {cash_acct} → {revenue}"
    )
    assert api.cash_drawer(mw.today)["cash_in_fen"] == drawer_before + order["total_due_fen"]
    meal = run(lambda: meal_row(order["meal_id"]))
    assert meal["voided_at"] is None
    assert run(verify_balances) == [] and run(ledger_balanced)


# --- D2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["not_home", "refused"])
def test_d2_delivery_not_made_gives_back_charge_and_subsidy(
    client: Any, world: Any, run: Any, login: Any, outcome: str
) -> None:
    # The monthly cap is one 90+ lunch's subsidy: if the undelivered meal still counted, the
    # next quote this month would get nothing.
    mw = run(lambda: meal_world(world, n_elders=1, balance_fen=5000, monthly_cap_fen=800))
    api = Api(client, login, world, mw)
    elder = mw.elders[0]
    year = mw.today.year
    spent_before = api.spending_fen(year)
    balance_before = api.balance(elder)
    r = api.order(elder, mw.today)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["subsidy_fen"] == 800 and order["payment_status"] == "paid"
    assert api.balance(elder) == balance_before - order["total_due_fen"]
    assert api.spending_fen(year) == spent_before + 800  # the rollups count the ordered meal
    stops = api.dispatch([order["id"]], mw.today)
    r = api.fail(stops[order["id"]], outcome)
    assert r.status_code == 200, r.text

    after = api.get_order(order["id"])
    assert after["status"] == "not_delivered"
    meal = run(lambda: meal_row(order["meal_id"]))
    assert meal["voided_at"] is not None, f"{outcome}: the undelivered meal is not voided"
    assert api.balance(elder) == balance_before, f"{outcome}: the charge was not given back"
    assert after["payment_status"] == "refunded"
    assert api.spending_fen(year) == spent_before, f"{outcome}: the month's subsidy still counts the meal"
    # the next quote sees no usage: neither the slot nor the month's cap
    q = api.quote(elder, mw.today, "delivery", 1500)
    assert q.status_code == 200, q.text
    assert q.json()["subsidy_fen"] == 800, q.json()["reason_en"]
    if mw.tomorrow.month == mw.today.month:
        q = api.quote(elder, mw.tomorrow, "delivery", 1500)
        assert q.json()["subsidy_fen"] == 800, q.json()["reason_en"]
    # the once-per-slot rule is released: the same slot may be ordered again, subsidised
    again = api.order(elder, mw.today)
    assert again.status_code == 201, again.text
    assert again.json()["subsidy_fen"] == 800
    assert run(verify_balances) == [] and run(ledger_balanced)


# --- D3 ---------------------------------------------------------------------------------


def test_d3_counter_void_of_a_delivery_meal_is_refused_and_the_order_can_still_be_cancelled(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    mw = run(lambda: meal_world(world, n_elders=1, balance_fen=5000))
    api = Api(client, login, world, mw)
    elder = mw.elders[0]
    r = api.order(elder, mw.today)
    assert r.status_code == 201, r.text
    order = r.json()
    charged = api.balance(elder)
    assert charged == 5000 - order["total_due_fen"]

    r = api.void(order["meal_id"])
    assert r.status_code == 409, f"the counter voided a delivery meal: {r.status_code} {r.text}"
    body = r.json()
    assert body["code"] == "meal_is_delivery"
    assert "cancel" in r.json()["message"].lower() or "取消" in body["message"]
    en = client.post(
        f"/api/v1/meals/{order['meal_id']}/void",
        json={"reason": "收银员点错了"},
        headers={**api.cashier, "Accept-Language": "en"},
    )
    assert en.status_code == 409 and "cancel" in en.json()["message"].lower(), en.text
    # nothing moved
    assert run(lambda: meal_row(order["meal_id"]))["voided_at"] is None
    same = api.get_order(order["id"])
    assert (same["status"], same["payment_status"]) == ("placed", "paid")
    assert api.balance(elder) == charged
    # the order's own way out still works
    r = api.cancel(order["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["payment_status"] == "refunded"
    assert api.balance(elder) == 5000
    assert run(lambda: meal_row(order["meal_id"]))["voided_at"] is not None
    assert run(verify_balances) == [] and run(ledger_balanced)


# --- D4 ---------------------------------------------------------------------------------


class _Proxy:
    """A loopback HTTP proxy in front of localstripe that can run a hook when a refund is
    asked for: the moment another writer changes the order while the refund is in flight."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.on_refund: Callable[[], None] | None = None
        self.refund_requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "POST" and self.path.startswith("/v1/refunds"):
                    proxy.refund_requests += 1
                    if proxy.on_refund is not None:
                        proxy.on_refund()
                req = urllib.request.Request(  # noqa: S310 - loopback http only
                    proxy.upstream + self.path, data=body, method=self.command
                )
                for k, v in self.headers.items():
                    if k.lower() not in ("host", "content-length", "connection", "accept-encoding"):
                        req.add_header(k, v)
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                        status, headers, data = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as err:
                    status, headers, data = err.code, err.headers, err.read()
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward
            do_POST = _forward
            do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stripe_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, _Proxy]]:
    """localstripe (tests/stripe_emulator.py) behind :class:`_Proxy`; the app talks to the proxy."""
    from canteen.payments.providers import stripe_provider as sp
    from canteen.settings import Settings

    with localstripe() as base:
        proxy = _Proxy(base)
        monkeypatch.setenv("CANTEEN_STRIPE_API_KEY", "sk_test_canteen")
        monkeypatch.setenv("CANTEEN_STRIPE_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("CANTEEN_STRIPE_API_BASE", proxy.base)
        sp.set_provider(sp.StripeProvider(Settings.from_env()))
        try:
            yield base, proxy
        finally:
            sp.set_provider(None)
            proxy.close()


def _refunds_at_provider(base: str, intent_id: str) -> list[dict[str, Any]]:
    import json

    q = urllib.parse.urlencode({"payment_intent": intent_id})
    req = urllib.request.Request(f"{base}/v1/refunds?{q}")  # noqa: S310 - loopback http only
    req.add_header("Authorization", "Bearer sk_test_canteen")
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
        data: list[dict[str, Any]] = json.loads(r.read())["data"]
    return data


def _paid_card_order(
    api: Any, client: Any, elder: int, day: dt.date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A card order paid through localstripe and settled by its signed webhook."""
    r = api.order(elder, day, payment="card")
    assert r.status_code == 201, r.text
    order = r.json()
    pay = _start_card_payment(api, client, order["id"])
    body = _event(
        f"evt_paid_{order['id']}",
        "payment_intent.succeeded",
        {"id": pay["provider_id"], "amount": pay["amount_fen"], "status": "succeeded", "metadata": {}},
    )
    r = _post_hook(client, body, sign(body, SECRET))
    assert r.status_code == 200 and r.json()["outcome"] == "settled", r.text
    assert api.get_order(order["id"])["payment_status"] == "paid"
    return order, pay


def _start_card_payment(api: Any, client: Any, order_id: int) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/orders/{order_id}/card-payment",
        json={"payment_method": "pm_card_visa", "confirm": True},
        headers=api.official,
    )
    assert r.status_code == 200, r.text
    pay: dict[str, Any] = r.json()
    assert pay["status"] == "succeeded"
    return pay


def _confirm_behind_the_cancel(order_id: int) -> Callable[[], None]:
    """What the cut-off job does to a paid placed order, run by another connection while the
    cancel's refund is in flight (the app's event loop is busy with that request)."""
    from tests.conftest import DATABASE_URL, PG_URL

    sql = "UPDATE delivery_order SET status = 'confirmed' WHERE id = {} AND status = 'placed'"

    def hook() -> None:
        if PG_URL:
            import asyncpg

            async def go() -> None:
                conn = await asyncpg.connect(DATABASE_URL)
                try:
                    await conn.execute("SET lock_timeout = '1s'")
                    await conn.execute(sql.format("$1"), order_id)
                except asyncpg.PostgresError:
                    pass  # the cancel holds the row: it decided first
                finally:
                    await conn.close()

            asyncio.run(go())
        else:
            import sqlite3

            db = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"), timeout=1.0)
            try:
                db.execute(sql.format("?"), (order_id,))
                db.commit()
            except sqlite3.OperationalError:
                pass  # the cancel holds the write lock: it decided first
            finally:
                db.close()

    return hook


def test_d4a_cancel_of_a_card_order_no_longer_cancellable_sends_no_refund(
    client: Any, world: Any, run: Any, login: Any, stripe_proxy: tuple[str, _Proxy]
) -> None:
    base, proxy = stripe_proxy
    mw = run(lambda: meal_world(world, n_elders=2, balance_fen=0))
    api = Api(client, login, world, mw)
    first, second = mw.elders

    # (1) confirmed before the cancel: 409, and Stripe never hears of a refund
    order, pay = _paid_card_order(api, client, first, mw.tomorrow)
    assert api.set_status(order["id"], "confirmed").status_code == 200
    r = api.cancel(order["id"])
    assert r.status_code == 409 and r.json()["code"] == "order_not_cancellable", r.text
    assert _refunds_at_provider(base, pay["provider_id"]) == []
    assert proxy.refund_requests == 0
    o = api.get_order(order["id"])
    assert (o["status"], o["payment_status"]) == ("confirmed", "paid")

    # (2) confirmed while the cancel is deciding (the cut-off job, at the moment the refund
    # would go out): whichever wins, a refund at the provider ⇔ the order cancelled.
    order, pay = _paid_card_order(api, client, second, mw.tomorrow)
    proxy.on_refund = _confirm_behind_the_cancel(order["id"])
    r = api.cancel(order["id"])
    proxy.on_refund = None
    o = api.get_order(order["id"])
    refunds = _refunds_at_provider(base, pay["provider_id"])
    if r.status_code == 409:
        assert r.json()["code"] == "order_not_cancellable", r.text
        assert refunds == [], (
            f"cancel answered 409 (order {o['status']}), but the card was refunded at Stripe: {refunds}"
        )
        assert (o["status"], o["payment_status"]) == ("confirmed", "paid")
    else:
        assert r.status_code == 200, r.text
        assert (o["status"], o["payment_status"]) == ("cancelled", "refunded")
        assert len(refunds) == 1 and refunds[0]["amount"] == pay["amount_fen"]
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_d4b_card_success_after_the_cancel_is_refunded_not_paid(
    client: Any, world: Any, run: Any, login: Any, stripe_proxy: tuple[str, _Proxy]
) -> None:
    base, _ = stripe_proxy
    mw = run(lambda: meal_world(world, n_elders=1, balance_fen=0))
    api = Api(client, login, world, mw)
    elder = mw.elders[0]
    r = api.order(elder, mw.tomorrow, payment="card")
    assert r.status_code == 201, r.text
    order = r.json()
    pay = _start_card_payment(api, client, order["id"])  # captured at Stripe; the webhook is late
    r = api.cancel(order["id"], "住院")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"

    body = _event(
        "evt_late_success",
        "payment_intent.succeeded",
        {"id": pay["provider_id"], "amount": pay["amount_fen"], "status": "succeeded", "metadata": {}},
    )
    r = _post_hook(client, body, sign(body, SECRET))
    assert r.status_code == 200, r.text
    o = api.get_order(order["id"])
    assert o["status"] == "cancelled"
    assert o["payment_status"] == "refunded", (
        f"a late success marked the cancelled order {o['payment_status']}"
    )
    refunds = _refunds_at_provider(base, pay["provider_id"])
    assert len(refunds) == 1 and refunds[0]["amount"] == pay["amount_fen"], refunds
    assert run(lambda: ledger_balance_of("clearing:stripe")) == 0
    assert run(lambda: ledger_balance_of(f"revenue:site:{mw.site}")) == 0
    # the same event again changes nothing more
    r = _post_hook(client, body, sign(body, SECRET))
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert len(_refunds_at_provider(base, pay["provider_id"])) == 1
    assert run(verify_balances) == [] and run(ledger_balanced)


# --- D5 ---------------------------------------------------------------------------------


def _meal_part(q: dict[str, Any]) -> tuple[int, int, int, dict[str, int]]:
    return (q["list_price_fen"], q["subsidy_fen"], q["copay_fen"], funding_of(q["funding"]))


@pytest.mark.parametrize("site_street", [True, False], ids=["site_street_set", "site_street_null"])
def test_d5_one_price_at_the_counter_in_quotes_and_on_a_delivery_order(
    client: Any, world: Any, run: Any, login: Any, site_street: bool
) -> None:
    mw = run(lambda: meal_world(world, n_elders=1, balance_fen=5000, site_street=site_street))
    api = Api(client, login, world, mw)
    elder = mw.elders[0]
    price = 1500  # 套餐A

    r = api.preview(elder)
    assert r.status_code == 200, r.text
    preview = _meal_part(r.json())
    r = api.quote(elder, mw.today, "dine_in", price)
    assert r.status_code == 200, r.text
    quote_dine = _meal_part(r.json())
    r = api.quote(elder, mw.today, "delivery", price)
    assert r.status_code == 200, r.text
    quote_delivery = _meal_part(r.json())
    # the delivery order: its price, and the funding split its meal carries
    r = api.order(elder, mw.today)
    assert r.status_code == 201, r.text
    order = r.json()
    meal = run(lambda: meal_row(order["meal_id"]))
    ordered = (order["list_price_fen"], order["subsidy_fen"], order["copay_fen"], funding_of(meal["funding"]))
    assert api.cancel(order["id"]).status_code == 200  # frees the slot for the counter
    r = api.check_in(elder)
    assert r.status_code == 201, r.text
    served = _meal_part(r.json())
    counter_meal = run(lambda: meal_row(r.json()["meal_id"]))
    served_row = funding_of(counter_meal["funding"])

    prices = {
        "counter preview": preview,
        "quotes api (dine_in)": quote_dine,
        "quotes api (delivery, meal part)": quote_delivery,
        "delivery order": ordered,
        "counter check-in": served,
    }
    assert len(set(map(repr, prices.values()))) == 1, "different prices for the same meal:\n" + "\n".join(
        f"  {k}: list {v[0]} subsidy {v[1]} copay {v[2]} funding {v[3]}" for k, v in prices.items()
    )
    assert served_row == served[3]
    assert sum(served[3].values()) == served[1]
    if site_street:  # at home: every source pays
        assert set(served[3]) == {"city", "district", "street"}
