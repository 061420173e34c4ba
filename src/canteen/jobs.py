"""Scheduled work, safe to run as often as you like (every step is idempotent): from cron
(`canteen jobs` every few minutes) or as a long-running loop (`canteen jobs --loop 300`).

- standing orders become orders for tomorrow (once per standing order and day);
- at each menu's cut-off, placed delivery orders are confirmed;
- after each slot's set time, "no meal today" alerts are raised for regular diners at risk;
- yesterday's rollups are rebuilt from the meals (a safety net: they are kept as meals are written);
- notifications: living-alone regulars missing meals and low balances become events, events are
  fanned out to their recipients and due messages are sent (canteen.notify).
"""

from __future__ import annotations

import datetime as dt
import logging

import msgspec

from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.delivery.services import raise_missed_meal_alerts
from canteen.meals.rollups import rollup_day
from canteen.notify.services import run_notifications
from canteen.orders.services import confirm_at_cutoff, materialise_standing_orders
from canteen.regions.tables import District, Site
from canteen.settings import get_settings

log = logging.getLogger("canteen.jobs")


class JobReport(msgspec.Struct):
    standing_orders: dict[str, int]
    confirmed: int
    missed_meal_alerts: int
    rollup_rows: int
    notifications_sent: int = 0


async def run_due_jobs(now: dt.datetime | None = None) -> JobReport:
    """Everything that is due at ``now``; returns what it did."""
    now = now or utcnow()
    today = now.astimezone(get_settings().tz).date()
    standing = await materialise_standing_orders(today + dt.timedelta(days=1), now=now)
    confirmed = 0
    sites = (
        await Site.select(Site.id, Site.slots)
        .where((Site.kind == "meal_point") & (Site.status == "open"))
        .output(load_json=True)
    )
    for site in sites:
        for slot in site["slots"] or []:
            for day in (today, today + dt.timedelta(days=1)):
                confirmed += await confirm_at_cutoff(site["id"], day, slot["slot"], now=now)
    alerts = 0
    rollup_rows = 0
    for district in await District.select(District.id):
        for slot in ("breakfast", "lunch", "dinner"):
            try:
                out = await raise_missed_meal_alerts(district["id"], today, slot, now=now)
                alerts += len(out.raised)
            except DomainError as err:  # too early for this slot today: the next run does it
                if err.code != "missed_meal_too_early":
                    raise
        rollup_rows += await rollup_day(district["id"], today - dt.timedelta(days=1))
    # Last, so the confirmations and alerts of this run are sent in this run.
    notified = await run_notifications(now=now)
    report = JobReport(
        standing, confirmed, alerts, rollup_rows, notified.dispatch.sent + notified.dispatch.logged
    )
    log.info("jobs ran", extra={"code": "jobs"})
    return report
