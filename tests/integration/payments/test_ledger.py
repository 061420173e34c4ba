"""The ledger through its services: top-ups, charges, reversals, and the invariants."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.payments import ledger
from canteen.payments.schemas import Movement
from canteen.payments.tables import ElderBalance, LedgerEntry
from tests.factories import NOW
from tests.integration.payments.elders import add_elder, admin, cashier_a, operator_a


def _err(run: Any, fn: Any) -> DomainError:
    with pytest.raises(DomainError) as info:
        run(fn)
    return info.value


def test_top_up_is_idempotent_and_posts_one_entry(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    actor = cashier_a(world)

    def top_up(key: str = "topup-key-0001") -> Any:
        return run(lambda: ledger.top_up_cash(actor, world.site_a, elder, 5000, idempotency_key=key, now=NOW))

    first = top_up()
    again = top_up()
    assert first == again
    assert first.balance_after_fen == 5000 and first.amount_fen == 5000 and first.site_id == world.site_a
    assert run(lambda: LedgerEntry.count()) == 1
    assert run(lambda: ledger.balance_of(elder)) == 5000
    assert run(lambda: ledger.ledger_balance_of(f"elder:{elder}")) == 5000
    assert run(lambda: ledger.ledger_balance_of(f"cash:site:{world.site_a}:2026-11-23")) == 5000
    second = top_up("topup-key-0002")
    assert second.txn != first.txn and second.balance_after_fen == 10000
    # The same key for a different request is refused, not replayed.
    err = _err(
        run,
        lambda: ledger.top_up_cash(
            actor, world.site_a, elder, 100, idempotency_key="topup-key-0001", now=NOW
        ),
    )
    assert err.code == "idempotency_key_reused"
    drawer = run(lambda: ledger.cash_drawer(world.site_a, dt.date(2026, 11, 23), actor=actor))
    assert drawer.cash_in_fen == 10000 and len(drawer.entries) == 2


@pytest.mark.parametrize("amount", [0, -1, 200_001])
def test_top_up_amount_bounds(world: Any, run: Any, amount: int) -> None:
    elder = run(lambda: add_elder(world, 1))
    err = _err(
        run,
        lambda: ledger.top_up_cash(
            cashier_a(world), world.site_a, elder, amount, idempotency_key=None, now=NOW
        ),
    )
    assert err.code == "invalid_amount" and err.status == 422


def test_top_up_scope(world: Any, run: Any) -> None:
    elder_y = run(lambda: add_elder(world, 2, district=world.district_y, community=world.community_y))
    elder_x = run(lambda: add_elder(world, 3))
    # A cashier of site A cannot take cash at site C, nor for an elder of another district.
    assert (
        _err(
            run,
            lambda: ledger.top_up_cash(
                cashier_a(world), world.site_c, elder_y, 100, idempotency_key=None, now=NOW
            ),
        ).code
        == "not_found"
    )
    assert (
        _err(
            run,
            lambda: ledger.top_up_cash(
                cashier_a(world), world.site_a, elder_y, 100, idempotency_key=None, now=NOW
            ),
        ).code
        == "not_found"
    )
    run(lambda: ledger.top_up_cash(admin(world), world.site_a, elder_x, 100, idempotency_key=None, now=NOW))


def test_charge_refuses_overdraft(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    run(
        lambda: ledger.top_up_cash(cashier_a(world), world.site_a, elder, 1000, idempotency_key=None, now=NOW)
    )

    async def charge(amount: int) -> str:
        async with write_transaction():
            txn, _ = await ledger.charge_elder(
                elder,
                amount,
                ledger.revenue_account(world.site_a),
                site_id=world.site_a,
                actor=cashier_a(world),
                now=NOW,
            )
            return txn

    run(lambda: charge(600))
    err = _err(run, lambda: charge(600))
    assert err.code == "insufficient_balance" and err.status == 409
    assert err.detail["balance_fen"] == 400 and err.detail["needed_fen"] == 600
    assert run(lambda: ledger.balance_of(elder)) == 400
    assert run(lambda: ledger.ledger_balance_of(f"revenue:site:{world.site_a}")) == 600
    assert run(lambda: LedgerEntry.count()) == 2  # the refused charge wrote nothing


def test_concurrent_charges_never_overdraw(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    run(
        lambda: ledger.top_up_cash(cashier_a(world), world.site_a, elder, 1000, idempotency_key=None, now=NOW)
    )

    async def charge() -> bool:
        try:
            async with write_transaction():
                await ledger.charge_elder(
                    elder,
                    300,
                    ledger.revenue_account(world.site_a),
                    site_id=world.site_a,
                    actor=cashier_a(world),
                    now=NOW,
                )
            return True
        except DomainError as err:
            assert err.code == "insufficient_balance"
            return False

    async def many() -> list[bool]:
        return list(await asyncio.gather(*(charge() for _ in range(8))))

    results = run(many)
    assert sum(results) == 3
    assert run(lambda: ledger.balance_of(elder)) == 100
    assert run(lambda: ledger.verify_balances()) == []
    assert run(ledger.ledger_balanced)


def test_reverse_top_up(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    receipt = run(
        lambda: ledger.top_up_cash(cashier_a(world), world.site_a, elder, 2000, idempotency_key=None, now=NOW)
    )
    # A cashier may not reverse; the site's operator may.
    assert (
        _err(run, lambda: ledger.reverse(cashier_a(world), receipt.txn, "录错金额", now=NOW)).code
        == "forbidden"
    )
    rev = run(lambda: ledger.reverse(operator_a(world), receipt.txn, "录错金额", now=NOW))
    assert rev.reverses_txn == receipt.txn and rev.amount_fen == 2000
    assert run(lambda: ledger.balance_of(elder)) == 0
    assert run(lambda: ledger.ledger_balance_of(f"cash:site:{world.site_a}:2026-11-23")) == 0
    assert (
        _err(run, lambda: ledger.reverse(admin(world), receipt.txn, "again", now=NOW)).code
        == "already_reversed"
    )
    assert _err(run, lambda: ledger.reverse(admin(world), rev.txn, "undo", now=NOW)).code == "not_reversible"
    assert _err(run, lambda: ledger.reverse(admin(world), "nope", "x", now=NOW)).code == "not_found"
    receipt_view = run(lambda: ledger.topup_receipt(cashier_a(world), receipt.txn))
    assert receipt_view.balance_after_fen == 2000 and receipt_view.reversed


def test_reversing_a_spent_top_up_is_refused(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    receipt = run(
        lambda: ledger.top_up_cash(cashier_a(world), world.site_a, elder, 1000, idempotency_key=None, now=NOW)
    )

    async def charge() -> str:
        async with write_transaction():
            txn, balance_after = await ledger.charge_elder(
                elder,
                800,
                ledger.revenue_account(world.site_a),
                site_id=world.site_a,
                actor=cashier_a(world),
                now=NOW,
            )
            assert balance_after == 200
            return txn

    meal_txn = run(charge)
    err = _err(run, lambda: ledger.reverse(operator_a(world), receipt.txn, "退款", now=NOW))
    assert err.code == "insufficient_balance"
    # Reversing the meal first gives the money back; then the top-up can go.
    run(lambda: ledger.reverse(operator_a(world), meal_txn, "作废", now=NOW))
    run(lambda: ledger.reverse(operator_a(world), receipt.txn, "退款", now=NOW))
    assert run(lambda: ledger.balance_of(elder)) == 0


def test_concurrent_reversals_reverse_once(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))
    receipt = run(
        lambda: ledger.top_up_cash(cashier_a(world), world.site_a, elder, 1000, idempotency_key=None, now=NOW)
    )

    async def attempt() -> str:
        try:
            await ledger.reverse(admin(world), receipt.txn, "重复提交", now=NOW)
            return "ok"
        except DomainError as err:
            return err.code

    async def many() -> list[str]:
        return list(await asyncio.gather(*(attempt() for _ in range(5))))

    results = run(many)
    assert results.count("ok") == 1 and set(results) == {"ok", "already_reversed"}
    assert run(lambda: ledger.balance_of(elder)) == 0


def test_post_updates_cache_and_verify_finds_drift(world: Any, run: Any) -> None:
    elder = run(lambda: add_elder(world, 1))

    async def subsidy() -> str:
        # A charity gift onto the balance: any movement touching elder:{id} moves the cache.
        return await ledger.post(
            "adjustment",
            [Movement("receivable:charity:op:1", f"elder:{elder}", 1500)],
            elder_id=elder,
            actor=admin(world),
            now=NOW,
            note="慈善捐赠",
        )

    run(subsidy)
    assert run(lambda: ledger.balance_of(elder)) == 1500
    assert run(lambda: ledger.verify_balances([elder])) == []
    run(lambda: ElderBalance.update({ElderBalance.balance_fen: 99}).where(ElderBalance.elder == elder))
    drift = run(lambda: ledger.verify_balances())
    assert [(m.elder_id, m.cached_fen, m.ledger_fen) for m in drift] == [(elder, 99, 1500)]
    statement = run(lambda: ledger.elder_statement(elder, 10))
    assert [e.amount_fen for e in statement.items] == [1500]
