"""Property: after any mix of top-ups, charges and reversals, every cached balance equals
its ledger sum, no balance is negative, and the ledger balances. (The check-in adds meals
and voids to the mix.)"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.payments import ledger
from canteen.payments.tables import ElderBalance
from tests.factories import NOW
from tests.integration.payments.elders import add_elder, admin, cashier_a

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(0, 2), st.integers(1, 5000)),
        st.tuples(st.just("charge"), st.integers(0, 2), st.integers(1, 3000)),
        st.tuples(st.just("reverse"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("burst"), st.integers(0, 2), st.integers(100, 900)),
    ),
    min_size=1,
    max_size=25,
)


def test_random_mix_keeps_the_invariants(world: Any, run: Any) -> None:
    elders = [run(lambda i=i: add_elder(world, 100 + i)) for i in range(3)]
    cashier, boss = cashier_a(world), admin(world)
    revenue = ledger.revenue_account(world.site_a)

    async def charge(elder: int, amount: int) -> str | None:
        try:
            async with write_transaction():
                txn, _ = await ledger.charge_elder(
                    elder, amount, revenue, site_id=world.site_a, actor=cashier, now=NOW
                )
                return txn
        except DomainError as err:
            assert err.code == "insufficient_balance"
            return None

    async def apply(ops: list[tuple[str, int, int]]) -> None:
        txns: list[str] = []
        for op, a, b in ops:
            if op == "topup":
                receipt = await ledger.top_up_cash(
                    cashier, world.site_a, elders[a], b, idempotency_key=None, now=NOW
                )
                txns.append(receipt.txn)
            elif op == "charge":
                if (txn := await charge(elders[a], b)) is not None:
                    txns.append(txn)
            elif op == "burst":  # concurrent charges against one balance
                done = await asyncio.gather(*(charge(elders[a], b) for _ in range(4)))
                txns.extend(t for t in done if t is not None)
            elif txns:
                try:
                    await ledger.reverse(boss, txns[a % len(txns)], "随机冲正", now=NOW)
                except DomainError as err:
                    assert err.code in ("already_reversed", "insufficient_balance")

    async def check() -> None:
        assert await ledger.verify_balances() == []
        assert await ledger.ledger_balanced()
        balances = [r["balance_fen"] for r in await ElderBalance.select(ElderBalance.balance_fen)]
        assert all(b >= 0 for b in balances)
        for e in elders:
            assert await ledger.balance_of(e) == await ledger.ledger_balance_of(ledger.elder_account(e))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(OPS)
    def prop(ops: list[tuple[str, int, int]]) -> None:
        run(lambda: apply(ops))
        run(check)

    prop()
