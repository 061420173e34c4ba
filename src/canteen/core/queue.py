"""The job queue: long work off the request path, on procrastinate.

A handler calls :func:`submit` and answers 202 with the run's id; a worker (``canteen worker``, or
the web process itself on the embedded SQLite demo) runs it; the page polls :func:`get` and shows
the progress bar and then the result.

Two layers, each the referee of one thing:

- **procrastinate** delivers the work: on PostgreSQL its own tables (``procrastinate_jobs``), so a
  job is as durable as the meals it is about and correctness never rests on Redis; on SQLite its
  in-memory connector inside the web process (the queue's in-process mode), so ``make run`` shows
  the same 202 → progress → result as production. It retries a failed attempt with exponential
  backoff; a worker killed with ``kill -9`` stops sending heartbeats and a periodic task hands its
  jobs to another worker (:func:`retry_stalled`).
- **JobRun** (``job_run``, a Piccolo table on both engines) is what people see and what decides
  whether work is done: who asked, in which scope, how far it got, what came out. An attempt that
  finds its run already ``done`` does nothing, so a delivery twice never does the work twice; the
  work itself is written to be idempotent too (a plan replaced, flags upserted, alerts keyed).

Domains register their work with :func:`job` (their own ``jobs.py``); ``canteen.jobs`` imports
them and adds the schedule (the queue's cron). Core knows no domain: a run names its kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import procrastinate
from procrastinate.schema import SchemaManager
from procrastinate.testing import InMemoryConnector

from canteen.core.clock import utcnow
from canteen.core.db import engine, is_sqlite
from canteen.core.errors import DomainError, register
from canteen.core.tables import JobRun
from canteen.settings import Settings, get_settings

log = logging.getLogger("canteen.queue")

register("job_not_found", 404)
# Stored on a run that ended without a DomainError of its own (worded on the run's page).
register("job_crashed", 500)
register("job_unknown", 500)

TASK_NAME = "canteen.run_job"
STALLED_AFTER_SECONDS = 30.0
STATUSES = ("queued", "running", "done", "failed")


class JobRunView(msgspec.Struct):
    id: str
    kind: str
    status: str
    progress_done: int
    progress_total: int
    stage: str
    result: dict[str, Any]
    error_code: str
    attempts: int
    district_id: int | None
    site_id: int | None
    user_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        if self.progress_total <= 0:
            return 0
        return min(99, self.progress_done * 100 // self.progress_total)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass
class JobContext:
    """What a job function gets besides its arguments: its run, and a way to report progress."""

    run_id: str
    kind: str
    attempt: int
    district_id: int | None
    site_id: int | None
    user_id: int | None
    _last: float = field(default=0.0, repr=False)

    async def progress(self, done: int, total: int, stage: str = "", *, force: bool = False) -> None:
        """Record how far the work got (at most every half second unless ``force``); also the
        run's heartbeat."""
        now = time.monotonic()
        if not force and now - self._last < 0.5 and done < total:
            return
        self._last = now
        await JobRun.update(
            {
                JobRun.progress_done: max(0, done),
                JobRun.progress_total: max(0, total),
                JobRun.stage: stage[:64],
                JobRun.heartbeat_at: utcnow(),
            }
        ).where(JobRun.id == self.run_id)


JobFn = Callable[..., Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    fn: JobFn
    # The catalog msgid that names this work for people ("线路规划"), shown on the progress page.
    title: str


_REGISTRY: dict[str, JobSpec] = {}


def job(kind: str, *, title: str) -> Callable[[JobFn], JobFn]:
    """Register ``fn(ctx: JobContext, **args) -> result dict`` as the work of ``kind``."""

    def register(fn: JobFn) -> JobFn:
        if kind in _REGISTRY and _REGISTRY[kind].fn is not fn:
            raise ValueError(f"job kind {kind!r} registered twice")
        _REGISTRY[kind] = JobSpec(kind, fn, title)
        return fn

    return register


def spec(kind: str) -> JobSpec | None:
    return _REGISTRY.get(kind)


def kinds() -> list[str]:
    return sorted(_REGISTRY)


# --- the procrastinate app ---------------------------------------------------------------------

_app: procrastinate.App | None = None
_app_url: str | None = None


def _connector(settings: Settings) -> Any:
    if settings.is_postgres:
        return procrastinate.PsycopgConnector(conninfo=settings.database_url, min_size=1, max_size=4)
    return InMemoryConnector()


def app(settings: Settings | None = None) -> procrastinate.App:
    """The one procrastinate app of this process, built for the configured database."""
    global _app, _app_url
    settings = settings or get_settings()
    if _app is None or _app_url != settings.database_url:
        _app = procrastinate.App(connector=_connector(settings), import_paths=[])
        _app_url = settings.database_url
        _register_tasks(_app)
        for cron, name, fn in _SCHEDULE:
            _add_periodic(_app, cron, name, fn)
    return _app


def _register_tasks(a: procrastinate.App) -> None:
    retry = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)

    @a.task(name=TASK_NAME, retry=retry, pass_context=False)
    async def run_job(run_id: str) -> None:
        await run(run_id)

    # A worker killed mid-job (kill -9, OOM) stops its heartbeat; its jobs go back in the queue.
    @a.periodic(cron="* * * * *", periodic_id="stalled")
    @a.task(name="canteen.retry_stalled", queueing_lock="canteen.retry_stalled")
    async def retry_stalled_task(timestamp: int) -> None:
        await retry_stalled()


_SCHEDULE: list[tuple[str, str, Callable[[int], Awaitable[None]]]] = []


def on_schedule(cron: str, name: str) -> Callable[[Callable[[int], Awaitable[None]]], Any]:
    """A periodic task of the queue's cron (``canteen.jobs`` holds the schedule); one run per
    tick whatever the number of workers (procrastinate defers each tick once)."""

    def register(fn: Callable[[int], Awaitable[None]]) -> Any:
        _SCHEDULE.append((cron, name, fn))
        if _app is not None:
            _add_periodic(_app, cron, name, fn)
        return fn

    return register


def _add_periodic(a: procrastinate.App, cron: str, name: str, fn: Callable[[int], Awaitable[None]]) -> None:
    a.periodic(cron=cron, periodic_id=name)(a.task(name=f"canteen.cron.{name}", queueing_lock=name)(fn))


@contextlib.asynccontextmanager
async def opened(settings: Settings | None = None) -> AsyncIterator[procrastinate.App]:
    """Open the queue's connections for this process (web: to defer; worker: to run)."""
    a = app(settings)
    async with a.open_async():
        yield a


async def apply_schema() -> bool:
    """Create procrastinate's tables on PostgreSQL if they are missing (``canteen migrate``).
    Returns True when it created them."""
    if is_sqlite():
        return False
    rows = await JobRun.raw("SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present")
    if rows and rows[0]["present"]:
        return False
    # asyncpg's simple protocol runs a script of many statements (a prepared one cannot).
    conn = await engine().get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine only
    try:
        await conn.execute(SchemaManager.get_schema())
    finally:
        await conn.close()
    return True


# --- submitting and reading ----------------------------------------------------------------------


def _view(row: dict[str, Any]) -> JobRunView:
    return JobRunView(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        stage=row["stage"],
        result=row["result"] or {},
        error_code=row["error_code"],
        attempts=row["attempts"],
        district_id=row["district"],
        site_id=row["site"],
        user_id=row["user"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


async def get(run_id: str) -> JobRunView | None:
    rows = await JobRun.select().where(JobRun.id == run_id).output(load_json=True)
    return _view(rows[0]) if rows else None


async def latest(
    kind: str, *, district_id: int | None = None, site_id: int | None = None, limit: int = 5
) -> list[JobRunView]:
    q = JobRun.select().where(JobRun.kind == kind)
    if district_id is not None:
        q = q.where(JobRun.district == district_id)
    if site_id is not None:
        q = q.where(JobRun.site == site_id)
    rows = await q.order_by(JobRun.created_at, ascending=False).limit(limit).output(load_json=True)
    return [_view(r) for r in rows]


async def submit(
    kind: str,
    args: dict[str, Any],
    *,
    user_id: int | None,
    district_id: int | None = None,
    site_id: int | None = None,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> JobRunView:
    """Queue ``kind`` with JSON ``args``; return its run (the one already queued or running under
    the same ``key``, if any: asking twice while it runs joins the first)."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown job kind {kind!r}")
    now = now or utcnow()
    run_id = secrets.token_hex(8)
    active_key = f"{kind}:{key}"[:160] if key else None
    inserted = (
        await JobRun.insert(
            JobRun(
                id=run_id,
                kind=kind,
                args=args,
                status="queued",
                active_key=active_key,
                user=user_id,
                district=district_id,
                site=site_id,
                created_at=now,
            )
        )
        .on_conflict(action="DO NOTHING")
        .returning(JobRun.id)
    )
    if not inserted:
        assert active_key is not None
        rows = await JobRun.select().where(JobRun.active_key == active_key).output(load_json=True)
        if rows:
            return _view(rows[0])
        # It ended between the insert and the read: queue a fresh one.
        return await submit(
            kind, args, user_id=user_id, district_id=district_id, site_id=site_id, key=key, now=now
        )
    await defer(run_id)
    view = await get(run_id)
    assert view is not None
    return view


async def defer(run_id: str) -> None:
    """Hand a queued run to procrastinate (also used to re-queue a run whose hand-over was lost)."""
    await app().configure_task(TASK_NAME).defer_async(run_id=run_id)


async def run(run_id: str) -> JobRunView | None:
    """One attempt at a run: what the queue's task calls. Idempotent: a run already done or failed
    is left as it is. A DomainError ends the run as failed with its code (retrying would not help);
    any other exception is re-raised so procrastinate retries with backoff, and marks the run
    failed once the attempts are spent."""
    now = utcnow()
    claimed = (
        await JobRun.update(
            {
                JobRun.status: "running",
                JobRun.attempts: JobRun.attempts + 1,
                JobRun.started_at: now,
                JobRun.heartbeat_at: now,
            }
        )
        .where((JobRun.id == run_id) & JobRun.status.is_in(["queued", "running"]))
        .returning(JobRun.kind, JobRun.args, JobRun.attempts, JobRun.district, JobRun.site, JobRun.user)
    )
    if not claimed:
        return await get(run_id)
    row = dict(claimed[0])
    if isinstance(row["args"], str | bytes):
        row["args"] = json.loads(row["args"] or "{}")
    job_spec = _REGISTRY.get(row["kind"])
    if job_spec is None:
        await _finish(run_id, "failed", {}, "job_unknown")
        return await get(run_id)
    ctx = JobContext(
        run_id=run_id,
        kind=row["kind"],
        attempt=row["attempts"],
        district_id=row["district"],
        site_id=row["site"],
        user_id=row["user"],
    )
    started = time.monotonic()
    try:
        result = await job_spec.fn(ctx, **(row["args"] or {}))
    except DomainError as err:
        await _finish(run_id, "failed", {"detail": _jsonable(err.detail)}, err.code)
        log.info("job failed", extra={"code": err.code, "job": row["kind"], "run_id": run_id})
        return await get(run_id)
    except Exception:
        if row["attempts"] >= 5:
            await _finish(run_id, "failed", {}, "job_crashed")
        log.exception("job attempt crashed", extra={"job": row["kind"], "run_id": run_id})
        raise
    await _finish(run_id, "done", result or {}, "")
    log.info(
        "job done",
        extra={"job": row["kind"], "run_id": run_id, "ms": round((time.monotonic() - started) * 1000, 1)},
    )
    return await get(run_id)


def _jsonable(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value, enc_hook=str)) if value is not None else {}


async def _finish(run_id: str, status: str, result: dict[str, Any], error_code: str) -> None:
    await JobRun.update(
        {
            JobRun.status: status,
            JobRun.result: result,
            JobRun.error_code: error_code,
            JobRun.active_key: None,
            JobRun.finished_at: utcnow(),
        }
    ).where(JobRun.id == run_id)


async def run_now(
    kind: str, args: dict[str, Any], *, key: str | None = None, district_id: int | None = None
) -> JobRunView:
    """Run ``kind`` in this process as a recorded run (the schedule's ticks, ``canteen jobs``)."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown job kind {kind!r}")
    run_id = secrets.token_hex(8)
    active_key = f"{kind}:{key}"[:160] if key else None
    inserted = (
        await JobRun.insert(
            JobRun(
                id=run_id,
                kind=kind,
                args=args,
                status="queued",
                active_key=active_key,
                district=district_id,
                created_at=utcnow(),
            )
        )
        .on_conflict(action="DO NOTHING")
        .returning(JobRun.id)
    )
    if not inserted:
        rows = await JobRun.select().where(JobRun.active_key == active_key).output(load_json=True)
        return _view(rows[0])
    view = await run(run_id)
    assert view is not None
    return view


# --- the worker and its health -------------------------------------------------------------------


async def retry_stalled() -> int:
    """Put back in the queue the jobs of workers that stopped sending heartbeats."""
    manager = app().job_manager
    n = 0
    for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS):
        await manager.retry_job(stalled)
        n += 1
    if n:
        log.warning("stalled jobs retried", extra={"count": n})
    return n


async def requeue_lost(older_than_seconds: float = 60.0) -> int:
    """Runs still ``queued`` after a minute whose hand-over to procrastinate may have been lost
    (the process died between the insert and the defer): defer them again. Safe when they were
    not lost: :func:`run` skips a run that is already done."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
    rows = (
        await JobRun.select(JobRun.id)
        .where((JobRun.status == "queued") & (JobRun.created_at < cutoff))
        .limit(500)
    )
    for r in rows:
        await defer(r["id"])
    return len(rows)


async def run_worker(
    settings: Settings | None = None, *, wait: bool = True, install_signal_handlers: bool = True
) -> None:
    """Run the worker until stopped (``canteen worker``; the web process in in-process mode)."""
    settings = settings or get_settings()
    a = app(settings)
    if not settings.jobs_schedule:
        # Tests (and a worker meant only for on-demand work) run no cron: nothing fires by the
        # wall clock in the middle of a test.
        a.periodic_registry.periodic_tasks.clear()
    await a.run_worker_async(
        concurrency=settings.jobs_concurrency,
        wait=wait,
        install_signal_handlers=install_signal_handlers,
        update_heartbeat_interval=5.0,
        stalled_worker_timeout=STALLED_AFTER_SECONDS,
        delete_jobs="successful",
        listen_notify=settings.is_postgres,
        fetch_job_polling_interval=1.0 if settings.is_postgres else 0.2,
    )


class QueueHealth(msgspec.Struct):
    queued: int
    running: int
    workers_alive: int
    oldest_queued_seconds: int


_in_process_task: asyncio.Task[None] | None = None


def in_process_worker_alive() -> bool:
    return _in_process_task is not None and not _in_process_task.done()


def start_in_process_worker(settings: Settings) -> asyncio.Task[None]:
    global _in_process_task
    _in_process_task = asyncio.create_task(
        run_worker(settings, install_signal_handlers=False), name="canteen-worker"
    )
    return _in_process_task


async def stop_in_process_worker() -> None:
    global _in_process_task
    task, _in_process_task = _in_process_task, None
    if task is not None:
        task.cancel()
        # Bounded, like every step of a shutdown: a worker stuck on a dead link must not hold it.
        await asyncio.wait({task}, timeout=10.0)


async def health(now: dt.datetime | None = None) -> QueueHealth:
    """Queue depth and worker liveness for ``/readyz``."""
    now = now or utcnow()
    counts = {s: 0 for s in STATUSES}
    rows = await JobRun.raw(
        "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM job_run "
        "WHERE status IN ('queued', 'running') GROUP BY status"
    )
    oldest = 0
    for r in rows:
        counts[r["status"]] = r["n"]
        if r["status"] == "queued" and r["oldest"] is not None:
            created = r["oldest"]
            if isinstance(created, str):
                created = dt.datetime.fromisoformat(created)
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            oldest = max(0, int((now - created).total_seconds()))
    alive = 1 if in_process_worker_alive() else 0
    if not is_sqlite():
        present = await JobRun.raw("SELECT to_regclass('procrastinate_workers') IS NOT NULL AS p")
        if present and present[0]["p"]:
            w = await JobRun.raw(
                "SELECT COUNT(*) AS n FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => {})",
                STALLED_AFTER_SECONDS,
            )
            alive = max(alive, int(w[0]["n"]))
    return QueueHealth(counts["queued"], counts["running"], alive, oldest)
