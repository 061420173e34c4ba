"""Demo courier rounds: today's and tomorrow's delivery orders of the demo district, planned
for the couriers who work at the delivering points (run after ``demo.orders.load_orders``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from canteen.accounts.roles import ADMIN, Grant, Principal
from canteen.accounts.tables import RoleGrant
from canteen.core.clock import utcnow
from canteen.delivery.services import plan_rounds
from canteen.orders.services import confirm_at_cutoff
from canteen.orders.tables import Order


async def load_rounds(
    district_id: int, *, today: dt.date, now: dt.datetime | None = None, slot: str = "lunch"
) -> dict[str, int]:
    """Plan today's and tomorrow's ``slot`` rounds (see :func:`load_rounds_for`): the courier
    has today's round to deliver and tomorrow's to look at. Returns the counts added up."""
    now = now or utcnow()
    # Today's orders are past their cut-off by the time most demos are looked at: confirm
    # them as the cut-off job would, so today's round is what a courier really gets.
    placed = await Order.select(Order.site).where(
        (Order.district == district_id)
        & (Order.service_date == today)
        & (Order.slot == slot)
        & (Order.status == "placed")
    )
    for site in sorted({int(o["site"]) for o in placed}):
        await confirm_at_cutoff(site, today, slot, now=now)
    counts = await load_rounds_for(district_id, day=today, now=now, slot=slot)
    later = await load_rounds_for(district_id, day=today + dt.timedelta(days=1), now=now, slot=slot)
    return {k: counts[k] + later[k] for k in counts}


async def load_rounds_for(
    district_id: int, *, day: dt.date, now: dt.datetime | None = None, slot: str = "lunch"
) -> dict[str, int]:
    """Plan ``day``'s ``slot`` rounds at every point of the district with orders and a courier.

    Idempotent: planning again replaces rounds that have not left. Orders still ``placed``
    (before the cut-off) are routed too, so the demo shows rounds the evening before.
    Returns counts: rounds, stops and unassigned orders.
    """
    orders = await Order.select(Order.site).where(
        (Order.district == district_id)
        & (Order.service_date == day)
        & (Order.slot == slot)
        & Order.status.is_in(["placed", "confirmed", "cooking"])
    )
    sites = sorted({int(o["site"]) for o in orders})
    if not sites:
        return {"rounds": 0, "stops": 0, "unassigned": 0}
    grants = await RoleGrant.select(RoleGrant.user, RoleGrant.site).where(
        (RoleGrant.role == "courier") & RoleGrant.site.is_in(sites)
    )
    couriers: dict[int, list[int]] = defaultdict(list)
    for g in grants:
        couriers[int(g["site"])].append(int(g["user"]))
    system = Principal(user_id=0, username="demo", display_name="demo", grants=(Grant(ADMIN),))
    rounds = stops = unassigned = 0
    for site in sites:
        if not couriers.get(site):
            continue
        out = await plan_rounds(
            system,
            site,
            day,
            slot,
            sorted(couriers[site]),
            capacity=40,
            window_minutes=240,
            now=now,
            include_placed=True,
            time_limit_s=1.0,
        )
        rounds += len(out.rounds)
        stops += sum(r.stops for r in out.rounds)
        unassigned += len(out.unassigned_order_ids)
    return {"rounds": rounds, "stops": stops, "unassigned": unassigned}
