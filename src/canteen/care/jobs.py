"""Long work of `care` run on the job queue (canteen.core.queue): a civil-affairs list checked
(``care.civil_check``, the preview stored on the run) and applied (``care.civil_apply``), row by
row with progress. The upload waits, sealed, in ``import_upload`` (registry's import staging).
Both are idempotent: the check writes nothing, and each applied row's key is unique, so a
retried run applies nothing twice."""

from __future__ import annotations

from typing import Any

from canteen.care import civil
from canteen.core import queue


@queue.job(civil.CHECK_JOB, title="Civil-affairs list check")
async def civil_check_job(
    ctx: queue.JobContext, *, upload_id: int, token: str | None = None
) -> dict[str, Any]:
    return await civil.run_check_job(ctx, upload_id, token)


@queue.job(civil.APPLY_JOB, title="Applying a civil-affairs list")
async def civil_apply_job(ctx: queue.JobContext, *, upload_id: int) -> dict[str, Any]:
    return await civil.run_apply_job(ctx, upload_id)
