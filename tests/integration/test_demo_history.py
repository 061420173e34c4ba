"""The demo's month of history: meals at every open point, one subsidy per slot, the ledger
and the balance cache in agreement, and a second load that adds nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from canteen.core.clock import utcnow
from canteen.meals.tables import Meal
from canteen.payments.ledger import ledger_balanced, verify_balances
from canteen.payments.tables import ElderBalance, LedgerEntry
from canteen.regions.tables import Site


def test_demo_history(run: Callable[..., Any]) -> None:
    from canteen.demo.district import load_demo
    from canteen.registry.services import today_of

    now = utcnow()
    today = today_of(now)
    district = run(lambda: load_demo(now))
    points = run(
        lambda: Site.select(Site.id).where(
            (Site.district == district.district_id) & (Site.kind == "meal_point") & (Site.status == "open")
        )
    )
    assert len(points) == 6
    first, last = today - dt.timedelta(days=30), today - dt.timedelta(days=1)
    for p in points:
        rows = run(
            lambda p=p: (
                Meal.select(Meal.service_date)
                .where((Meal.site == p["id"]) & (Meal.service_date < today))
                .distinct()
            )
        )
        days = {r["service_date"] for r in rows}
        assert min(days) >= first and max(days) <= last
        assert len(days) >= 28, (p["id"], len(days))  # every day but the odd empty one

    meals = run(lambda: Meal.count().where(Meal.service_date < today))
    assert meals > 4000
    walk_ins = run(lambda: Meal.count().where(Meal.elder.is_null()))
    assert 0.02 < walk_ins / meals < 0.09
    assert run(lambda: Meal.count().where(Meal.payment == "balance")) > meals / 2
    assert run(lambda: Meal.count().where(Meal.voided_at.is_not_null())) > 0

    twice = run(
        lambda: Meal.raw(
            "SELECT elder, service_date, slot, COUNT(*) AS n FROM meal "
            "WHERE subsidised AND voided_at IS NULL GROUP BY elder, service_date, slot HAVING COUNT(*) > 1"
        )
    )
    assert twice == []
    # Each counter meal's txn moves exactly its list price into the site's revenue. (A delivery
    # meal's txn also carries the delivery fee, and cash on delivery is booked at the door.)
    off = run(
        lambda: Meal.raw(
            "SELECT m.id FROM meal m JOIN ledger_entry l ON l.txn = m.ledger_txn WHERE m.mode = 'dine_in' "
            "GROUP BY m.id, m.list_price_fen HAVING SUM(l.amount_fen) <> m.list_price_fen"
        )
    )
    assert off == []
    assert run(verify_balances) == []
    assert run(ledger_balanced) is True
    assert run(lambda: ElderBalance.count().where(ElderBalance.balance_fen < 0)) == 0

    counts = (run(lambda: Meal.count()), run(lambda: LedgerEntry.count()), run(lambda: ElderBalance.count()))
    run(lambda: load_demo(now))
    assert (
        run(lambda: Meal.count()),
        run(lambda: LedgerEntry.count()),
        run(lambda: ElderBalance.count()),
    ) == counts
