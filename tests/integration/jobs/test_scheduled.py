"""Each kind of scheduled work, run twice, gives the same state and writes nothing twice; the
schedule touches only what changed (issue #15): rollups are rebuilt only for the district-days
whose meals changed since their last rebuild."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from piccolo.conf.apps import Finder

from canteen.core import queue
from canteen.delivery.tables import Alert
from canteen.demo.district import load_demo
from canteen.jobs import enqueue_due, run_due_jobs
from canteen.meals import services as meals
from canteen.meals.rollups import dirty_days, rollup_day
from canteen.meals.tables import DailyRollup, MonthlyRollup, RollupDirty
from canteen.orders.tables import Order
from canteen.regions.tables import District
from canteen.settings import get_settings
from tests.integration.delivery.data import add_located_elder, add_meal, add_menu, staff

# 15:00 in Shanghai: lunch alerts are due, tomorrow's standing orders can still be placed.
NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
# The bookkeeping of the runs themselves (one row per run) is not the work.
NOT_WORK = {"job_run"}


async def _counts() -> dict[str, int]:
    out = {}
    for table in Finder().get_table_classes():
        name = table._meta.tablename
        if name not in NOT_WORK:
            out[name] = await table.count()
    return out


async def _rollups() -> list[tuple[Any, ...]]:
    """Every rollup row without its id (a rebuild writes new ids for the same rows)."""
    rows = [
        tuple(sorted((k, v) for k, v in r.items() if k != "id"))
        for table in (DailyRollup, MonthlyRollup)
        for r in await table.select()
    ]
    return sorted(rows, key=repr)


async def _alert_keys() -> list[tuple[int, Any, str]]:
    rows = await Alert.select(Alert.elder, Alert.service_date, Alert.slot).where(Alert.kind == "missed_meal")
    return sorted((int(r["elder"]), r["service_date"], r["slot"]) for r in rows)


def test_every_scheduled_kind_run_twice_writes_nothing_twice(client: Any, run: Any) -> None:
    run(lambda: load_demo(NOW))
    today = NOW.astimezone(get_settings().tz).date()
    at = NOW.isoformat()
    districts = [int(d["id"]) for d in run(lambda: District.select(District.id))]

    def twice(kind: str, args: dict[str, Any], **kw: Any) -> tuple[queue.JobRunView, queue.JobRunView]:
        first = run(lambda: queue.run_now(kind, args, **kw))
        after_first = run(_counts)
        rollups_first = run(_rollups)
        second = run(lambda: queue.run_now(kind, args, **kw))
        assert first.status == second.status == "done", (first, second)
        assert run(_counts) == after_first, f"{kind} wrote again"
        assert run(_rollups) == rollups_first, f"{kind} changed the rollups"
        return first, second

    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    # As the schedule runs them: one job per district; together they place what one run for the
    # whole city would, and a second round places nothing.
    per_district: dict[str, int] = {}
    for d in districts:
        first, second = twice(
            "schedule.standing_orders", {"day": tomorrow, "now": at, "district_id": d}, district_id=d
        )
        assert first.result == second.result  # what the first placed is counted, not placed again
        for code, n in first.result["counts"].items():
            per_district[code] = per_district.get(code, 0) + n
    first, second = twice("schedule.standing_orders", {"day": tomorrow, "now": at})
    assert sum(first.result["counts"].values()) > 0
    assert first.result["counts"] == per_district

    first, second = twice("schedule.cutoffs", {"now": at})
    assert second.result == {"confirmed": 0}

    raised = 0
    for d in districts:
        first, second = twice(
            "schedule.missed_meals", {"district_id": d, "day": today.isoformat(), "now": at}, district_id=d
        )
        raised += first.result["raised"]
        assert second.result == {"raised": 0}
    keys = run(_alert_keys)
    assert raised > 0 and len(keys) == raised == len(set(keys))  # one alert per elder, day and slot

    dirty = run(lambda: dirty_days(today))
    assert dirty, "the demo's past meals left days to rebuild"
    for d, day in dirty:
        first, second = twice("schedule.rollups", {"district_id": d, "day": day.isoformat()}, district_id=d)
        assert first.result == second.result and first.result["rows"] > 0
    assert run(lambda: dirty_days(today)) == []

    twice("schedule.notifications", {"now": at})


def _local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), get_settings().tz).astimezone(dt.UTC)


def test_only_changed_days_are_rebuilt_and_a_rebuild_clears_the_mark(world: Any, run: Any) -> None:
    w = world
    past = dt.date(2026, 11, 20)
    today = dt.date(2026, 11, 23)

    async def seed() -> tuple[int, int]:
        for day in (past, today):
            await add_menu(w.site_a, day)
        elder = await add_located_elder(w.district_x, w.community_x, 1)
        old = await add_meal(district=w.district_x, site=w.site_a, elder=elder, day=past)
        await add_meal(district=w.district_x, site=w.site_a, elder=elder, day=today)
        return elder, old

    _, old_meal = run(seed)
    # Each meal marked its own district-day in its transaction; today's is not over yet.
    assert run(lambda: dirty_days(today)) == [(w.district_x, past)]
    assert run(lambda: RollupDirty.count()) == 2

    report = run(lambda: run_due_jobs(_local(today, 15)))
    assert report.rollup_rows > 0
    assert run(lambda: dirty_days(today)) == []
    again = run(lambda: run_due_jobs(_local(today, 15)))
    assert again.rollup_rows == 0  # nothing changed since: nothing rebuilt

    # A void of the old meal (its own transaction) marks that day again, and only that day.
    async def void() -> None:
        from canteen.core.db import write_transaction

        async with write_transaction():
            await meals.void_meal(await staff("admin"), old_meal, "收银错误", now=_local(today, 10))

    before = run(_rollups)
    run(void)
    assert run(lambda: dirty_days(today)) == [(w.district_x, past)]
    after_void = run(_rollups)
    assert after_void != before  # the void took the meal out of the rollups at once
    assert run(lambda: run_due_jobs(_local(today, 16))).rollup_rows == 0  # the day now has no meals
    assert run(_rollups) == after_void and run(lambda: dirty_days(today)) == []
    # A rebuild of a day nobody marked changes nothing.
    assert run(lambda: rollup_day(w.district_x, today)) > 0
    assert run(_rollups) == after_void


def test_the_schedule_defers_rollups_only_for_changed_days(world: Any, run: Any) -> None:
    w = world
    past = dt.date(2026, 11, 20)
    today = dt.date(2026, 11, 23)

    async def seed() -> None:
        await add_menu(w.site_a, past)
        elder = await add_located_elder(w.district_x, w.community_x, 1)
        await add_meal(district=w.district_x, site=w.site_a, elder=elder, day=past)

    run(seed)
    runs = run(lambda: enqueue_due(_local(today, 15)))
    standing = [r for r in runs if r.kind == "schedule.standing_orders"]
    assert sorted(r.district_id or 0 for r in standing) == sorted([w.district_x, w.district_y])
    rollups = [r for r in runs if r.kind == "schedule.rollups"]
    assert [(r.district_id, r.kind) for r in rollups] == [(w.district_x, "schedule.rollups")]
    deadline = time.monotonic() + 60
    while run(lambda: dirty_days(today)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for r in runs:  # every deferred run ends (the test app's worker runs them)
        while not (view := run(lambda r=r: queue.get(r.id))).finished and time.monotonic() < deadline:
            time.sleep(0.1)
        assert view.status == "done", view
    assert run(lambda: dirty_days(today)) == []
    later = run(lambda: enqueue_due(_local(today, 16)))
    assert [r for r in later if r.kind == "schedule.rollups"] == []
    assert run(lambda: Order.count()) == 0
