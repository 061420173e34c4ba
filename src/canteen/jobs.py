"""The queue's schedule and the kinds of work it runs (canteen.core.queue holds the machinery).

Every kind of long work is registered by its domain (``<domain>/jobs.py``: route plans, claim
checks, card sheets, exports …); importing this module imports them all, so the web process (which
defers them) and ``canteen worker`` (which runs them) know the same kinds.

The schedule is the queue's cron (procrastinate periodic tasks, each tick deferred once however
many workers run): every five minutes the due work is split into one job per district (alerts),
per changed district-day (rollups) or per day (standing orders, cut-offs), so one district's
trouble never stops the rest and several workers share a city. Each job touches only what is due:
alerts are chosen by the database over one district (``delivery.missed``), rollups are rebuilt
only for the days whose meals changed, standing orders skip the ones already placed for the day.
Every step is idempotent: a tick run twice, or a job retried after a worker died, does nothing
twice.

``canteen jobs`` runs the same steps once in the foreground (cron without a worker, and tests).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec

# The domains' own kinds of work (each module registers its jobs with canteen.core.queue.job).
from canteen.care import jobs as _care_jobs  # noqa: F401 - registers civil-affairs list checks and imports
from canteen.core import queue
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.delivery import jobs as _delivery_jobs  # noqa: F401 - registers route plans
from canteen.delivery.services import raise_missed_meal_alerts
from canteen.meals.rollups import dirty_days, rollup_day
from canteen.notify.services import run_notifications
from canteen.orders.services import confirm_due_cutoffs, materialise_standing_orders
from canteen.quality import jobs as _quality_jobs  # noqa: F401 - registers claim checks
from canteen.regions.tables import District
from canteen.registry import jobs as _registry_jobs  # noqa: F401 - registers card sheets and imports
from canteen.reports import jobs as _reports_jobs  # noqa: F401 - registers next-point suggestions and exports
from canteen.settings import get_settings

log = logging.getLogger("canteen.jobs")

SLOTS = ("breakfast", "lunch", "dinner")


class JobReport(msgspec.Struct):
    standing_orders: dict[str, int]
    confirmed: int
    missed_meal_alerts: int
    rollup_rows: int
    notifications_sent: int = 0


# --- the kinds of scheduled work -------------------------------------------------------------------


@queue.job("schedule.standing_orders", title="Standing orders for tomorrow")
async def standing_orders_job(
    ctx: queue.JobContext, *, day: str, now: str, district_id: int | None = None
) -> dict[str, Any]:
    counts = await materialise_standing_orders(
        dt.date.fromisoformat(day), now=dt.datetime.fromisoformat(now), district_id=district_id
    )
    return {"counts": counts}


@queue.job("schedule.cutoffs", title="Orders confirmed at cut-off")
async def cutoffs_job(ctx: queue.JobContext, *, now: str) -> dict[str, Any]:
    return {"confirmed": await confirm_due_cutoffs(now=dt.datetime.fromisoformat(now))}


@queue.job("schedule.missed_meals", title="Missed-meal alerts")
async def missed_meals_job(ctx: queue.JobContext, *, district_id: int, day: str, now: str) -> dict[str, Any]:
    raised = 0
    for i, slot in enumerate(SLOTS):
        await ctx.progress(i, len(SLOTS), "Missed-meal alerts")
        try:
            out = await raise_missed_meal_alerts(
                district_id, dt.date.fromisoformat(day), slot, now=dt.datetime.fromisoformat(now)
            )
            raised += len(out.raised)
        except DomainError as err:  # too early for this slot today: the next tick does it
            if err.code != "missed_meal_too_early":
                raise
    return {"raised": raised}


@queue.job("schedule.rollups", title="Rollups rebuilt")
async def rollups_job(ctx: queue.JobContext, *, district_id: int, day: str) -> dict[str, Any]:
    return {"rows": await rollup_day(district_id, dt.date.fromisoformat(day))}


@queue.job("schedule.notifications", title="Notifications sent")
async def notifications_job(ctx: queue.JobContext, *, now: str) -> dict[str, Any]:
    out = await run_notifications(now=dt.datetime.fromisoformat(now))
    return {"sent": out.dispatch.sent, "logged": out.dispatch.logged}


# --- the schedule ----------------------------------------------------------------------------------


async def enqueue_due(now: dt.datetime) -> list[queue.JobRunView]:
    """Defer what is due at ``now`` as jobs (one per district or day), keyed by the tick so a
    tick deferred twice joins the runs of the first."""
    today = now.astimezone(get_settings().tz).date()
    tick = now.replace(second=0, microsecond=0).isoformat()
    at = now.isoformat()
    runs = [await queue.submit("schedule.cutoffs", {"now": at}, user_id=None, key=tick)]
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    for d in await District.select(District.id):
        # One job per district and day, keyed by the day (not the tick): a district whose orders
        # take longer than a tick is not queued again while it runs; later ticks find them placed.
        runs.append(
            await queue.submit(
                "schedule.standing_orders",
                {"day": tomorrow, "now": at, "district_id": d["id"]},
                user_id=None,
                district_id=d["id"],
                key=f"{d['id']}:{tomorrow}",
            )
        )
        runs.append(
            await queue.submit(
                "schedule.missed_meals",
                {"district_id": d["id"], "day": today.isoformat(), "now": at},
                user_id=None,
                district_id=d["id"],
                key=f"{d['id']}:{tick}",
            )
        )
    # Rollups are kept as meals are written; the rebuild is the safety net, and only for the
    # finished days whose meals changed since their last rebuild (``meals.rollups.dirty_days``).
    # Keyed by the district-day: a day still queued or running is not queued twice.
    for district_id, day in await dirty_days(today):
        runs.append(
            await queue.submit(
                "schedule.rollups",
                {"district_id": district_id, "day": day.isoformat()},
                user_id=None,
                district_id=district_id,
                key=f"{district_id}:{day.isoformat()}",
            )
        )
    return runs


@queue.on_schedule("*/5 * * * *", "due")
async def due_tick(timestamp: int) -> None:
    await enqueue_due(dt.datetime.fromtimestamp(timestamp, dt.UTC))


@queue.on_schedule("* * * * *", "notifications")
async def notifications_tick(timestamp: int) -> None:
    minute = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    await queue.submit(
        "schedule.notifications", {"now": minute.isoformat()}, user_id=None, key=minute.isoformat()
    )


@queue.on_schedule("*/2 * * * *", "requeue")
async def requeue_tick(timestamp: int) -> None:
    await queue.requeue_lost()


# --- the foreground run (``canteen jobs``) ---------------------------------------------------------


async def run_due_jobs(now: dt.datetime | None = None) -> JobReport:
    """Everything that is due at ``now``, in this process, each step a recorded run; returns what
    it did. The same work the schedule defers to the workers."""
    now = now or utcnow()
    today = now.astimezone(get_settings().tz).date()
    at = now.isoformat()
    standing = await queue.run_now(
        "schedule.standing_orders", {"day": (today + dt.timedelta(days=1)).isoformat(), "now": at}
    )
    cut = await queue.run_now("schedule.cutoffs", {"now": at})
    alerts = 0
    rollup_rows = 0
    for d in await District.select(District.id):
        run = await queue.run_now(
            "schedule.missed_meals",
            {"district_id": d["id"], "day": today.isoformat(), "now": at},
            district_id=d["id"],
        )
        _raise_failed(run)
        alerts += run.result.get("raised", 0)
    for district_id, day in await dirty_days(today):
        rolled = await queue.run_now(
            "schedule.rollups", {"district_id": district_id, "day": day.isoformat()}, district_id=district_id
        )
        _raise_failed(rolled)
        rollup_rows += rolled.result.get("rows", 0)
    # Last, so the confirmations and alerts of this run are sent in this run.
    notified = await queue.run_now("schedule.notifications", {"now": at})
    for r in (standing, cut, notified):
        _raise_failed(r)
    report = JobReport(
        standing.result.get("counts", {}),
        cut.result.get("confirmed", 0),
        alerts,
        rollup_rows,
        notified.result.get("sent", 0) + notified.result.get("logged", 0),
    )
    log.info("jobs ran", extra={"code": "jobs"})
    return report


def _raise_failed(run: queue.JobRunView) -> None:
    if run.status == "failed":
        raise DomainError(run.error_code or "job_crashed", run.result.get("detail") or {})
