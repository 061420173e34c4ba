"""The job queue (canteen.core.queue) on the test lane's engine: submitted work runs in the
app's worker (procrastinate's in-memory queue on SQLite, its PostgreSQL tables on the PG lane
with CANTEEN_JOBS_WORKER=in-process), a run asked twice while it runs is joined, a run delivered
twice does its work once, a refusal ends it in words and a crash is retried."""

from __future__ import annotations

import time
from typing import Any

from canteen.core import queue
from canteen.core.errors import DomainError
from canteen.core.tables import JobRun

CALLS: dict[str, int] = {}


@queue.job("test.count", title="Background work")
async def _count(ctx: queue.JobContext, *, name: str, steps: int = 3) -> dict[str, Any]:
    for i in range(steps):
        await ctx.progress(i, steps, force=True)
    CALLS[name] = CALLS.get(name, 0) + 1
    return {
        "name": name,
        "calls": CALLS[name],
        "summary": "{done} of {total}",
        "summary_args": {"done": 1, "total": 1},
    }


@queue.job("test.refuse", title="Background work")
async def _refuse(ctx: queue.JobContext) -> dict[str, Any]:
    raise DomainError("not_found", {"what": "nothing"})


@queue.job("test.flaky", title="Background work")
async def _flaky(ctx: queue.JobContext, *, name: str) -> dict[str, Any]:
    CALLS[name] = CALLS.get(name, 0) + 1
    if ctx.attempt < 2:
        raise RuntimeError("the first attempt dies")
    return {"attempt": ctx.attempt}


def _wait(run: Any, run_id: str, timeout: float = 60) -> queue.JobRunView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = run(lambda: queue.get(run_id))
        if view is not None and view.finished:
            return view
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {view}")


def test_a_submitted_run_is_done_by_the_worker_and_shown_to_its_owner(
    client: Any, run: Any, login: Any, world: Any
) -> None:
    first = run(lambda: queue.submit("test.count", {"name": "a"}, user_id=None, key="a"))
    again = run(lambda: queue.submit("test.count", {"name": "a"}, user_id=None, key="a"))
    assert again.id == first.id or again.finished  # joined while it ran
    done = _wait(run, first.id)
    assert done.status == "done" and done.percent == 100
    assert done.result["name"] == "a"
    # Delivered again (a retry after a lost acknowledgement): the work is not done twice.
    calls = CALLS["a"]
    run(lambda: queue.run(first.id))
    assert CALLS["a"] == calls
    admin = login("admin")
    r = client.get(f"/api/v1/jobs/{first.id}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done" and r.json()["percent"] == 100
    page = client.get(f"/jobs/{first.id}", headers=admin)
    assert page.status_code == 200 and "100%" in page.text


def test_a_run_of_no_scope_is_not_found_for_others(client: Any, run: Any, login: Any, world: Any) -> None:
    view = run(lambda: queue.submit("test.count", {"name": "b"}, user_id=None, district_id=999))
    _wait(run, view.id)
    r = client.get(f"/api/v1/jobs/{view.id}", headers=login("cashier_a"))
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"
    bad = client.get("/api/v1/jobs/zz", headers=login("cashier_a"))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"


def test_a_refusal_ends_the_run_with_its_code_and_a_crash_is_retried(client: Any, run: Any) -> None:
    refused = run(lambda: queue.submit("test.refuse", {}, user_id=None))
    out = _wait(run, refused.id)
    assert out.status == "failed" and out.error_code == "not_found" and out.attempts == 1
    flaky = run(lambda: queue.submit("test.flaky", {"name": "f"}, user_id=None))
    out = _wait(run, flaky.id, timeout=90)
    assert out.status == "done" and out.attempts == 2 and out.result == {"attempt": 2}
    assert CALLS["f"] == 2
    rows = run(lambda: JobRun.select(JobRun.active_key).where(JobRun.id == flaky.id))
    assert rows[0]["active_key"] is None
