"""Demo delivery: standing orders and tomorrow's lunch orders for the demo district's elders
who are eligible for delivery (40+ of them, enough for a courier round), and a PIN for the
first few so the ordering page can be tried (card number + PIN ``DEMO_PIN``).

Call from ``load_demo`` after ``load_menus``:  ``await load_orders(district, today=today_of(now), now=now)``.
Idempotent: orders carry a fixed idempotency key per (elder, day); standing orders are made once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.passwords import hash_password
from canteen.accounts.roles import ADMIN, Grant, Principal
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.menus.services import menu_for
from canteen.orders import services
from canteen.orders.schemas import StandingOrderIn
from canteen.orders.tables import FamilyAccount, StandingOrder
from canteen.regions.tables import Site
from canteen.registry.tables import Elder

DEMO_PIN = "2580"
MAX_ORDERS = 48
STANDING = 10
PIN_ELDERS = 5
TODAY_ORDERS = 8  # today's lunch for the first few: the courier's round of today has stops
# A family member who orders for the first eligible elder (the family pages have someone to show).
DEMO_FAMILY = {"name": "王志明", "phone": "13957100001"}
DEMO_FAMILY_PASSWORD = "jiashu2580demo"  # noqa: S105 - demo data only, like the staff users' password


async def _site_for(elder: dict[str, Any], points: list[dict[str, Any]]) -> int | None:
    same = [p for p in points if p["community"] == elder["community"]]
    chosen = same or points
    return int(chosen[0]["id"]) if chosen else None


async def load_orders(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> dict[str, int]:
    """Returns counts: eligible elders, orders placed (by outcome), standing orders, PINs set."""
    now = now or utcnow()
    actor = SystemActor("demo-loader")
    tomorrow = today + dt.timedelta(days=1)
    points = (
        await Site.select(Site.id, Site.community)
        .where(
            (Site.district == district.district_id) & (Site.kind == "meal_point") & (Site.status == "open")
        )
        .order_by(Site.id)
    )
    elders = (
        await Elder.select(Elder.id, Elder.community, Elder.pin_hash)
        .where((Elder.district == district.district_id) & (Elder.status == "active"))
        .order_by(Elder.id)
    )
    counts: dict[str, int] = {"eligible": 0, "standing": 0, "pins": 0}
    eligible: list[dict[str, Any]] = []
    for e in elders:
        ok, _ = await services.delivery_eligible(int(e["id"]), today)
        if ok:
            eligible.append(e)
    counts["eligible"] = len(eligible)
    for i, e in enumerate(eligible[:MAX_ORDERS]):
        site_id = await _site_for(e, points)
        if site_id is None:
            continue
        if i < PIN_ELDERS and e["pin_hash"] is None:
            await Elder.update({Elder.pin_hash: hash_password(DEMO_PIN)}).where(Elder.id == e["id"])
            counts["pins"] += 1
        if i < STANDING and not await StandingOrder.exists().where(StandingOrder.elder == e["id"]):
            await services.create_standing_order(
                actor,
                StandingOrderIn(elder_id=int(e["id"]), site_id=site_id, payment="cash"),
                now=now,
            )
            counts["standing"] += 1

        if i < TODAY_ORDERS:
            await _today_order(actor, int(e["id"]), site_id, today, i, now, counts)
        menu = await menu_for(site_id, tomorrow, "lunch")
        if menu is None or not menu.sets:
            counts["no_menu"] = counts.get("no_menu", 0) + 1
            continue
        meal_set = menu.sets[i % len(menu.sets)]
        try:
            await services.place_order(
                actor,
                elder_id=int(e["id"]),
                site_id=site_id,
                day=tomorrow,
                slot="lunch",
                meal_set_id=meal_set.id,
                payment="cash",
                now=now,
                idempotency_key=f"demo-order-{e['id']}-{tomorrow.isoformat()}",
            )
            counts["placed"] = counts.get("placed", 0) + 1
        except DomainError as err:
            counts[err.code] = counts.get(err.code, 0) + 1
    if eligible:
        await _demo_family(int(eligible[0]["id"]), now)
    return counts


async def _today_order(
    actor: SystemActor,
    elder_id: int,
    site_id: int,
    today: dt.date,
    i: int,
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    """Today's lunch, ordered early this morning (before the cut-off, whatever the hour the demo
    is loaded), so today's courier round has stops to deliver."""
    menu = await menu_for(site_id, today, "lunch")
    if menu is None or not menu.sets:
        return
    placed_at = min(now, menu.cutoff_at - dt.timedelta(hours=2))
    try:
        await services.place_order(
            actor,
            elder_id=elder_id,
            site_id=site_id,
            day=today,
            slot="lunch",
            meal_set_id=menu.sets[i % len(menu.sets)].id,
            payment="cash",
            now=placed_at,
            idempotency_key=f"demo-order-{elder_id}-{today.isoformat()}",
        )
        counts["placed_today"] = counts.get("placed_today", 0) + 1
    except DomainError as err:
        counts[f"today_{err.code}"] = counts.get(f"today_{err.code}", 0) + 1


async def _demo_family(elder_id: int, now: dt.datetime) -> None:
    """The demo family account, linked to ``elder_id`` with the consent recorded (once)."""
    if await FamilyAccount.exists().where(FamilyAccount.phone == DEMO_FAMILY["phone"]):
        return
    admin = Principal(user_id=0, username="demo", display_name="demo", grants=(Grant(ADMIN),))
    family_id = await services.create_family_account(
        admin, phone=DEMO_FAMILY["phone"], password=DEMO_FAMILY_PASSWORD, name=DEMO_FAMILY["name"], now=now
    )
    await services.link_family(admin, family_id, elder_id, consent_note="本人当面同意（演示数据）", now=now)
