"""Demo service pause (报停): one elder (with a weekly order if one is free on those days) is in
hospital from today for four days, so the elder page shows "已暂停送餐至…", the standing-order
job skips those days and the missed-meal check leaves the elder alone. Called from ``load_demo``
after ``load_orders``.

Idempotent: nothing is added while the demo district already has a pause (run twice = same data).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.roles import ADMIN, Grant, Principal
from canteen.core.clock import utcnow
from canteen.orders.tables import Order, StandingOrder
from canteen.registry import pauses
from canteen.registry.tables import Elder, ServicePause

PAUSE_DAYS = 4
NOTE = "住院观察，女儿陪护"


async def load_pauses(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> int | None:
    """The demo pause's id (the existing one on a second run); None if no elder fits."""
    now = now or utcnow()
    existing = (
        await ServicePause.select(ServicePause.id)
        .where(ServicePause.district == district.district_id)
        .first()
    )
    if existing is not None:
        return int(existing["id"])
    last = today + dt.timedelta(days=PAUSE_DAYS - 1)
    standing = {
        int(r["elder"])
        for r in await StandingOrder.select(StandingOrder.elder).where(StandingOrder.active.eq(True))
    }
    elders = (
        await Elder.select(Elder.id)
        .where((Elder.district == district.district_id) & (Elder.status == "active"))
        .order_by(Elder.id)
    )
    # An elder with a weekly order and nothing ordered yet for the days away: the pause then
    # contradicts no order already placed.
    # The demo's first elders all have orders for today or tomorrow; then any elder free on those days.
    ids = [int(e["id"]) for e in elders]
    chosen = None
    for eid in [i for i in ids if i in standing] + [i for i in ids if i not in standing]:
        busy = await Order.exists().where(
            (Order.elder == eid)
            & (Order.service_date >= today)
            & (Order.service_date <= last)
            & (Order.status != "cancelled")
        )
        if not busy:
            chosen = eid
            break
    if chosen is None:
        return None
    admin = Principal(user_id=0, username="demo", display_name="demo", grants=(Grant(ADMIN),))
    view = await pauses.create_pause(
        admin,
        chosen,
        pauses.PauseIn(kinds="delivery", first_day=today, last_day=last, reason="hospital", note=NOTE),
        now=now,
    )
    return view.id
