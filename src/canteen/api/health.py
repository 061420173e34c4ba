"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from canteen.core import cache
from canteen.core.db import ping
from canteen.core.migrate import pending_migrations
from canteen.core.queue import QueueHealth, health


class Check(msgspec.Struct):
    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    ready: bool
    checks: list[Check]
    # The job queue: runs waiting and running, workers with a heartbeat in the last 30 s. A queue
    # without a worker does not make the web unready (it still serves); monitoring alerts on it.
    queue: QueueHealth | None = None


@get("/healthz", tags=["ops"], summary="The process is alive", include_in_schema=True)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    tags=["ops"],
    summary="Database reachable, migrations current, Redis reachable when set; job queue depth and workers",
    responses={
        503: ResponseSpec(data_container=Readiness, description="Not ready: the failing checks are named")
    },
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Readiness]:
    checks: list[Check] = []
    try:
        await ping()
        checks.append(Check("database", True, "reachable"))
        pending = await pending_migrations()
        checks.append(
            Check(
                "migrations",
                not pending,
                "current" if not pending else f"{len(pending)} pending: {pending[:3]}",
            )
        )
    except Exception as exc:  # the probe reports every failure, whatever its kind
        checks.append(Check("database", False, f"unreachable: {type(exc).__name__}"))
    kv = request.app.state.kv
    if kv.backend == "redis":
        try:
            await kv.ping()
            checks.append(Check("redis", True, "reachable"))
        except Exception as exc:  # any Redis failure means degraded, not crashed
            checks.append(
                Check("redis", False, f"unreachable: {type(exc).__name__}; sign-in and live updates degraded")
            )
    else:
        checks.append(
            Check("redis", True, "not configured: in-memory stores and channels (single process only)")
        )
    queue: QueueHealth | None = None
    try:
        queue = await health()
        detail = f"{queue.queued} queued, {queue.running} running, {queue.workers_alive} worker(s) alive"
        if queue.queued and not queue.workers_alive:
            detail += "; no worker is running: start `canteen worker`"
        checks.append(Check("jobs", True, detail))
    except Exception as exc:  # reported, not raised: the probe names what it could not read
        checks.append(Check("jobs", True, f"queue not readable: {type(exc).__name__}"))
    # Per-process cache figures (entries, hit rate, the eviction bus): informational.
    checks.append(Check("caches", True, cache.summary()))
    ready = all(c.ok for c in checks)
    return Response(Readiness(ready, checks, queue), status_code=200 if ready else 503)
