"""A `canteen worker` killed with ``kill -9`` mid-job: the job is retried by another worker and
finishes without a duplicate (PostgreSQL; issue #15).

The test runs no app (test apps run an in-process worker that would take the job): it writes the
district, submits the missed-meal job through ``canteen.core.queue`` and starts
``canteen worker`` processes of its own. To kill the worker at a known point, the test holds an
uncommitted alert of the last window's elder: the job's INSERT … ON CONFLICT waits on it (the
windows before it are committed), the worker is killed there, the test rolls back, a second
worker takes the job once its first worker's heartbeats are missing (``queue.retry_stalled``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from canteen import jobs  # noqa: F401 - registers the kinds of scheduled work
from canteen.core import queue
from canteen.delivery.tables import Alert
from tests.factories import make_world
from tests.integration.jobs import city

pytestmark = pytest.mark.postgres

# Three windows of the job (the 40,000-elder run is test_city_scale.py): the kill lands in the last.
N = 14_000
CANTEEN = str(Path(sys.executable).with_name("canteen"))


def _worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "CANTEEN_JOBS_SCHEDULE": "false", "CANTEEN_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([CANTEEN, "worker"], env=env)  # noqa: S603 - our own command


async def _until(what: str, check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _scenario() -> None:
    w = await make_world()
    ids = await city.build(w, N)
    want = city.expected(N)
    last = ids[max(want)]  # the elder of the last window the job reaches
    url = os.environ["CANTEEN_DATABASE_URL"]
    holder = await asyncpg.connect(url)
    tx = holder.transaction()
    await tx.start()
    await holder.execute(
        "INSERT INTO delivery_alert (district, community, elder, kind, service_date, slot, detail, "
        "raised_at, status) VALUES ($1, $2, $3, 'missed_meal', $4, 'lunch', '{}', now(), 'open')",
        w.district_x,
        w.community_x,
        last,
        city.DAY,
    )
    first = _worker()
    second: subprocess.Popen[bytes] | None = None
    try:
        async with queue.opened():
            submitted = await queue.submit(
                "schedule.missed_meals",
                {"district_id": w.district_x, "day": str(city.DAY), "now": city.AFTER_LUNCH.isoformat()},
                user_id=None,
                district_id=w.district_x,
                key="kill-9",
            )

            async def running() -> bool:
                view = await queue.get(submitted.id)
                return view is not None and view.status == "running"

            async def waiting_on_the_alert() -> bool:
                rows = await holder.fetch(
                    # The statement opens with its CTEs (the text shown is cut at 1 kB).
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND query LIKE '%WITH at_risk AS%'"
                )
                return bool(rows)

            await _until("the job to run", running, 60)
            await _until("the job to wait on the held alert", waiting_on_the_alert, 60)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            await tx.rollback()
            committed = await Alert.count().where(Alert.kind == "missed_meal")
            assert 0 < committed < len(want)  # the windows before the last were done once already
            view = await queue.get(submitted.id)
            assert view is not None and view.status == "running" and view.attempts == 1

            second = _worker()

            async def retried() -> bool:
                return await queue.retry_stalled() > 0

            # Missing heartbeats for STALLED_AFTER_SECONDS make the first worker's job stalled.
            await _until("the stalled job to be retried", retried, queue.STALLED_AFTER_SECONDS + 60)

            async def finished() -> Any:
                v = await queue.get(submitted.id)
                return v if v is not None and v.finished else None

            done = await _until("the retried job to finish", finished, 90)
        assert done.status == "done", done
        assert done.attempts == 2
        assert done.result == {"raised": len(want) - committed}
        rows = (
            await Alert.select(Alert.elder, Alert.detail)
            .where(Alert.kind == "missed_meal")
            .output(load_json=True)
        )
        g_of = {e: g for g, e in ids.items()}
        alerted = {g_of[int(r["elder"])]: r["detail"]["reason"] for r in rows}
        assert len(rows) == len(alerted)  # nobody alerted twice
        assert alerted == want
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        await holder.close()


def test_a_worker_killed_mid_job_is_retried_without_duplicates() -> None:
    asyncio.run(_scenario())
