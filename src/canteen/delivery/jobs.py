"""Long work of `delivery` run on the job queue (canteen.core.queue); handlers submit, answer 202.

A route plan is seconds of OR-Tools CPU: ``services.start_plan_rounds`` checks the caller and
queues it, this job plans (the solver on a thread), and the progress page links to the rounds.
Planning again replaces the rounds still planned, so a retried attempt leaves one set of rounds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from canteen.accounts.tables import StaffUser
from canteen.core import queue
from canteen.core.audit import SystemActor
from canteen.delivery import services


@dataclass(frozen=True, slots=True)
class _Requester:
    """Who asked for the work, as the audit trail and the rounds' ``created_by`` name them."""

    user_id: int | None
    username: str


async def _requester(user_id: int | None) -> _Requester | SystemActor:
    if user_id is None:
        return SystemActor("queue")
    row = await StaffUser.select(StaffUser.username).where(StaffUser.id == user_id).first()
    return _Requester(user_id, row["username"] if row else "")


def rounds_url(site_id: int, day: str, slot: str) -> str:
    return f"/kitchen/{site_id}/rounds?date={day}&slot={slot}"


@queue.job(services.PLAN_ROUNDS_JOB, title="Courier round planning")
async def plan_rounds_job(
    ctx: queue.JobContext,
    *,
    site_id: int,
    day: str,
    slot: str,
    couriers: list[int],
    capacity: int = 40,
    window_minutes: int = 240,
    include_placed: bool = False,
    time_limit_s: float = 2.0,
) -> dict[str, Any]:
    """The rounds of ``site_id`` on ``day``/``slot``; the result carries the plan (as the API's
    RoundPlanOut) and the link to the page that shows the rounds."""
    out = await services.plan_rounds_checked(
        await _requester(ctx.user_id),
        site_id,
        dt.date.fromisoformat(day),
        slot,
        couriers,
        capacity,
        window_minutes,
        include_placed=include_placed,
        time_limit_s=time_limit_s,
        progress=lambda done, total, stage: ctx.progress(done, total, stage, force=True),
    )
    stops = sum(r.stops for r in out.rounds)
    return {
        **msgspec.to_builtins(out),
        "url": rounds_url(site_id, day, slot),
        "link_text": "Show the planned rounds",
        "summary": "{rounds} rounds, {stops} stops, {unassigned} not assigned",
        "summary_args": {
            "rounds": len(out.rounds),
            "stops": stops,
            "unassigned": len(out.unassigned_order_ids),
        },
    }
