"""Long work of `reports` run on the job queue (canteen.core.queue); handlers submit, answer 202.

The next-point suggestion measures uncovered elders against candidate sites: seconds on a city
district, so it runs here. Reports never write domain rows: the job's only output is its run's
result (the suggestion), which the coverage page and API read back; running it twice gives the
same suggestion and writes nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from canteen.core import queue
from canteen.reports import services

STAGES = ("Reading the elders and meal points", "Looking for the best place")


def coverage_url(district_id: int, run_id: str) -> str:
    return f"/official/districts/{district_id}/coverage?suggestion={run_id}#h-next"


@queue.job(services.NEXT_POINT_JOB, title="Suggest the next meal point")
async def next_point_job(ctx: queue.JobContext, *, district_id: int, day: str) -> dict[str, Any]:
    """The place for one more point in ``district_id`` on ``day``'s eligibility."""
    await ctx.progress(0, len(STAGES), STAGES[0], force=True)
    found = await services.next_point(
        district_id,
        dt.date.fromisoformat(day),
        read=lambda: ctx.progress(1, len(STAGES), STAGES[1], force=True),
    )
    out: dict[str, Any] = {
        "suggestion": msgspec.to_builtins(found) if found else None,
        "day": day,
        "url": coverage_url(district_id, ctx.run_id),
        "link_text": "Show the suggestion on the map",
    }
    if found:
        out["summary"] = "Near {community}: {n} more elders within reach"
        out["summary_args"] = {"community": found.near_community, "n": found.covers}
    else:
        out["summary"] = "Every eligible elder with a location is already covered."
    return out
