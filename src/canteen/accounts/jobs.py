"""Who may see a job run (canteen.core.queue): the one who asked, an admin, an official of the
run's district, or staff of its site. Anyone else is told it does not exist (no probing of ids)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.response import Response

from canteen.accounts.roles import SITE_ROLES, Principal
from canteen.core import queue
from canteen.core.errors import DomainError
from canteen.core.queue import JobRunView


def may_see(actor: Principal, run: queue.JobRunView) -> bool:
    if actor.is_admin or (run.user_id is not None and run.user_id == actor.user_id):
        return True
    if run.district_id is not None and actor.can_district(run.district_id):
        return True
    return run.site_id is not None and actor.can_site(run.site_id, run.district_id, *SITE_ROLES)


async def run_for(actor: Principal, run_id: str) -> queue.JobRunView:
    """The run, if ``actor`` may see it; ``job_not_found`` otherwise."""
    run = await queue.get(run_id) if len(run_id) <= 32 else None
    if run is None or not may_see(actor, run):
        raise DomainError("job_not_found", {"job_id": run_id[:32]})
    return run


async def output_for(actor: Principal, run_id: str) -> tuple[bytes, str, str]:
    """The file a finished run produced: (bytes, file name, content type)."""
    await run_for(actor, run_id)
    from canteen.core.tables import JobRun  # the file lives on the run's row

    rows = await JobRun.select(JobRun.output, JobRun.output_name, JobRun.output_type).where(
        (JobRun.id == run_id) & (JobRun.status == "done")
    )
    if not rows or rows[0]["output"] is None:
        raise DomainError("job_not_found", {"job_id": run_id})
    return bytes(rows[0]["output"]), rows[0]["output_name"], rows[0]["output_type"]


class JobRunOut(msgspec.Struct):
    id: str
    kind: str
    status: str
    percent: int
    progress_done: int
    progress_total: int
    result: dict[str, Any]
    error_code: str
    attempts: int
    created_at: str
    finished_at: str | None
    page_url: str
    download_url: str | None


def job_out(run: JobRunView) -> JobRunOut:
    return JobRunOut(
        id=run.id,
        kind=run.kind,
        status=run.status,
        percent=run.percent,
        progress_done=run.progress_done,
        progress_total=run.progress_total,
        result=run.result,
        error_code=run.error_code,
        attempts=run.attempts,
        created_at=run.created_at.isoformat(),
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        page_url=f"/jobs/{run.id}",
        download_url=f"/api/v1/jobs/{run.id}/download" if run.result.get("download") else None,
    )


def accepted(run: queue.JobRunView) -> Response[JobRunOut]:
    """What a handler that queued long work answers: 202, the run, and where to follow it."""
    return Response(job_out(run), status_code=202, headers={"Location": f"/api/v1/jobs/{run.id}"})
