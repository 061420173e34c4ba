"""Seed and audit a Canteen database from a separate process.

The fault and multi-process suites drive real ``canteen serve`` processes against a
PostgreSQL instance of their own; the pytest process itself is bound to the lane's
database (conftest sets CANTEEN_DATABASE_URL before any import). So the database
work runs here, in a child process whose environment points at the isolated
instance::

    CANTEEN_DATABASE_URL=postgresql://... python -m tests.fault.dbtool seed 300
    CANTEEN_DATABASE_URL=postgresql://... python -m tests.fault.dbtool audit

Both print one JSON document on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def seed(n_elders: int) -> dict[str, Any]:
    from canteen.accounts.services import create_api_token, load_principal
    from canteen.core.db import close_pool, open_pool
    from canteen.core.migrate import migrate
    from tests.factories import PASSWORD, make_world
    from tests.integration.checkin.test_counter import _counter

    await migrate(quiet=True)
    await open_pool(1, 4)
    try:
        world = await make_world()
        counter = await _counter(world, n_elders=n_elders, balance_fen=5000)
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        from canteen.accounts.tables import StaffUser

        row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "cashier_all").first()
        assert row is not None
        cashier = int(row["id"])
        token, _ = await create_api_token(admin, user_id=cashier, name="fault-suite counter")
    finally:
        await close_pool()
    return {
        "sites": counter.sites,
        "district": world.district_x,
        "elders": counter.elders,
        "cards": {str(k): v for k, v in counter.cards.items()},
        "token": token,
        "password": PASSWORD,
    }


async def audit() -> dict[str, Any]:
    """What is in the database: meals per idempotency key and elder, and the ledger's verdict."""
    from canteen.core.db import close_pool, open_pool
    from canteen.meals.tables import Meal
    from canteen.payments.ledger import ledger_balanced, verify_balances

    await open_pool(1, 2)
    try:
        rows = await Meal.select(Meal.id, Meal.elder, Meal.idempotency_key, Meal.subsidised, Meal.voided_at)
        mismatches = await verify_balances()
        balanced = await ledger_balanced()
    finally:
        await close_pool()
    by_key: dict[str, list[int]] = {}
    by_elder: dict[str, int] = {}
    for r in rows:
        if r["idempotency_key"]:
            by_key.setdefault(r["idempotency_key"], []).append(r["id"])
        if r["subsidised"] and r["voided_at"] is None and r["elder"] is not None:
            by_elder[str(r["elder"])] = by_elder.get(str(r["elder"]), 0) + 1
    return {
        "meals": len(rows),
        "by_key": by_key,
        "subsidised_by_elder": by_elder,
        "balance_mismatches": [str(m) for m in mismatches],
        "ledger_balanced": bool(balanced),
    }


def main(argv: list[str]) -> None:
    if argv[0] == "seed":
        out = asyncio.run(seed(int(argv[1])))
    elif argv[0] == "audit":
        out = asyncio.run(audit())
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
