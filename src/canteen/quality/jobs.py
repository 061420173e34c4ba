"""Long work of `quality` run on the job queue (canteen.core.queue); handlers submit, answer 202."""

from __future__ import annotations

from typing import Any

from canteen.accounts.roles import Principal
from canteen.core import audit, queue
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.quality import services

KIND = "quality.claim_checks"


@queue.job(KIND, title="Claim checks")
async def claim_checks(ctx: queue.JobContext, *, district_id: int, month: str) -> dict[str, Any]:
    """Every claim check over one district-month, in the database; flags upserted, so a retry
    (or a second run) ends with the same flags and decided ones keep their decisions."""
    summary = await services.check_month(district_id, month, run_id=ctx.run_id, progress=ctx.progress)
    return {
        "url": f"/official/districts/{district_id}/claims?month={month}",
        "link_text": "Show the claim flags",
        "summary": "{findings} findings, {new} new flags, {open} open",
        "summary_args": {"findings": summary.findings, "new": summary.new_flags, "open": summary.open},
        "findings": summary.findings,
        "new_flags": summary.new_flags,
        "open": summary.open,
        "by_kind": summary.by_kind,
    }


async def start_claim_checks(actor: Principal, district_id: int, month: str) -> queue.JobRunView:
    """Queue the claim checks of a district-month after checking the caller may run them.

    Asking again while a run of the same district and month is queued or running joins it (the
    key). The request is audited here, with the person; the job itself runs as the system."""
    services.authorize_claim_checks(actor, district_id, month)
    run = await queue.submit(
        KIND,
        {"district_id": district_id, "month": month},
        user_id=actor.user_id,
        district_id=district_id,
        key=f"{district_id}:{month}",
    )
    async with write_transaction():
        await audit.record(
            actor,
            "claim_checks.run",
            "district",
            district_id,
            after={"month": month, "job_id": run.id},
            district_id=district_id,
            now=utcnow(),
        )
    return run
