"""The scheduled jobs run end to end on the demo district and are idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.demo.district import load_demo
from canteen.jobs import run_due_jobs
from canteen.orders.tables import Order


def test_jobs_run_twice_on_the_demo_without_doing_anything_twice(client: Any, run: Any) -> None:
    # 15:00 in Shanghai: lunch alerts are due, tomorrow's standing orders can still be placed.
    now = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
    run(lambda: load_demo(now))
    first = run(lambda: run_due_jobs(now))
    orders = run(lambda: Order.count())
    second = run(lambda: run_due_jobs(now))
    print("jobs:", first, second)
    assert first.rollup_rows > 0
    assert run(lambda: Order.count()) == orders
    assert second.missed_meal_alerts == 0
    assert second.confirmed == 0
