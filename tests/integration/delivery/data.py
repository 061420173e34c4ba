"""Data for delivery tests, made the way the product makes it.

Menus are rows (the kitchen's menu editor is not what these tests are about), but every
order and every meal goes through its owner: an order is placed by the district's case
worker with ``orders.services.place_order`` and moved to the status a test asks for
through the order state machine (``set_status`` / ``cancel_order``); a dine-in meal is
recorded by ``meals.services.record_meal`` (past days, in bulk) or served at the counter
with ``checkin.services.check_in``. No test writes an ``Order`` or ``Meal`` row itself.
"""

from __future__ import annotations

import datetime as dt
import random

from canteen.accounts.roles import Principal
from canteen.accounts.services import load_principal
from canteen.accounts.tables import RoleGrant
from canteen.checkin.services import check_in
from canteen.core.audit import SystemActor
from canteen.core.db import write_transaction
from canteen.core.periods import month_of
from canteen.meals import services as meals
from canteen.meals.pricing import elder_for_pricing, list_price_quote, price_meal
from canteen.meals.tables import MonthlyRollup
from canteen.menus.services import menu_for
from canteen.menus.tables import DailyMenu, MealSet
from canteen.orders import lifecycle
from canteen.orders.services import cancel_order, place_order, set_status
from canteen.payments.ledger import top_up_cash
from canteen.regions.lookup import site_info
from canteen.regions.tables import Site
from canteen.registry.tables import Elder
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.services import create_policy, publish_policy
from tests.factories import NOW
from tests.integration.cards.elders import add_elder

DAY = dt.date(2026, 12, 2)  # a Wednesday after NOW
SETS = ("套餐A", "软食套餐")
# 95 on DAY: delivery-eligible by age alone (the registry's 90+ rule), no grant needed.
DELIVERY_AGE_BIRTH = dt.date(1931, 3, 1)
BALANCE_FEN = 5000


async def staff(role: str, *, district: int | None = None, site: int | None = None) -> Principal:
    """The first user holding ``role`` (in that district or at that site) as a Principal."""
    query = RoleGrant.select(RoleGrant.user).where(RoleGrant.role == role)
    if district is not None:
        query = query.where(RoleGrant.district == district)
    if site is not None:
        query = query.where(RoleGrant.site == site)
    row = await query.order_by(RoleGrant.id).first()
    assert row is not None, f"no {role} (district {district}, site {site}) in the world"
    principal = await load_principal(int(row["user"]))
    assert principal is not None
    return principal


async def publish_demo_policy(district: int) -> None:
    """The demo subsidy policy in force for the district (so orders carry a subsidy)."""
    admin = await staff("admin")
    policy = await create_policy(
        admin, district, demo_policy(district_id=district, effective_from=dt.date(2025, 1, 1))
    )
    await publish_policy(admin, policy.id)


async def add_menu(
    site: int, day: dt.date, slot: str = "lunch", cutoff: dt.datetime | None = None
) -> list[int]:
    rows = await DailyMenu.insert(
        DailyMenu(
            site=site,
            service_date=day,
            slot=slot,
            cutoff_at=cutoff or dt.datetime.combine(day, dt.time(1, 0), dt.UTC),  # 09:00 Shanghai
            updated_at=NOW,
        )
    ).returning(DailyMenu.id)
    ids = []
    for i, name in enumerate(SETS):
        r = await MealSet.insert(
            MealSet(menu=rows[0]["id"], name=name, list_price_fen=1500 - 300 * i, sort_order=i)
        ).returning(MealSet.id)
        ids.append(int(r[0]["id"]))
    return ids


def lunch_time(day: dt.date) -> dt.datetime:
    """11:30 in Shanghai on ``day``: inside the factories' lunch hours (10:30-13:00)."""
    return dt.datetime.combine(day, dt.time(11, 30), get_settings().tz).astimezone(dt.UTC)


async def add_meal(
    *,
    district: int,
    site: int,
    elder: int | None,
    day: dt.date,
    slot: str = "lunch",
    meal_set: int | None = None,
    mode: str = "dine_in",
    voided: bool = False,
) -> int:
    """One past dine-in meal paid in cash, recorded by ``meals.record_meal`` as the counter
    would have (priced for the elder; ``elder=None`` is a walk-in at the list price), and
    voided at the counter by the site's operator when asked. ``meal_set`` None: the first
    set on the menu served at ``site`` that day (the menu must exist)."""
    if mode != meals.DINE_IN:
        # A delivery meal exists only with its order: use add_order (status="delivered").
        raise ValueError("a delivery meal comes with its order: use add_order")
    info = await site_info(site)
    assert info.district_id == district
    menu = await menu_for(site, day, slot)
    assert menu is not None and menu.sets, f"no menu at site {site} on {day}"
    chosen = next((s for s in menu.sets if s.id == meal_set), None) if meal_set else menu.sets[0]
    assert chosen is not None, f"set {meal_set} is not on the menu"
    categories: list[str] = []
    if elder is None:
        quote = list_price_quote(chosen.list_price_fen)
    else:
        brief, _ = await elder_for_pricing(elder, day)
        categories = list(brief.categories)
        quote = (
            await price_meal(
                site=info,
                elder_id=elder,
                day=day,
                slot=slot,
                mode=meals.DINE_IN,
                list_price_fen=chosen.list_price_fen,
            )
        ).quote
    served_at = lunch_time(day)
    async with write_transaction():
        recorded = await meals.record_meal(
            meals.MealDraft(
                site=info,
                elder_id=elder,
                day=day,
                slot=slot,
                mode=meals.DINE_IN,
                meal_set_id=chosen.id,
                meal_set_name=chosen.name,
                quote=quote,
                payment="cash",
                categories=categories,
                device="history",
            ),
            actor=SystemActor("history"),
            now=served_at,
        )
        if voided:
            await meals.void_meal(
                await staff("admin"), recorded.meal_id, "收银错误", now=served_at + dt.timedelta(minutes=5)
            )
    return recorded.meal_id


async def serve_at_counter(site: int, elder: int, at: dt.datetime, *, payment: str = "cash") -> int:
    """The elder served at the site's counter by its cashier (no card at hand); returns the meal."""
    cashier = await staff("cashier", site=site)
    _, out = await check_in(
        cashier, site_id=site, elder_id=elder, manual_reason="卡忘在家里", payment=payment, now=at
    )
    assert out.meal_id
    return int(out.meal_id)


async def top_up(elder: int, fen: int = BALANCE_FEN, *, at: dt.datetime = NOW) -> None:
    """Cash onto the elder's card at the first canteen of their district (never a delivering
    point's drawer on a delivery day, so the door's cash stays apart)."""
    row = await Elder.select(Elder.district).where(Elder.id == elder).first()
    assert row is not None
    site = (
        await Site.select(Site.id)
        .where((Site.district == row["district"]) & (Site.point_type == "canteen"))
        .order_by(Site.id)
        .first()
    )
    assert site is not None
    await top_up_cash(
        await staff("admin"), int(site["id"]), elder, fen, idempotency_key=f"delivery-topup-{elder}", now=at
    )


async def add_located_elder(
    district: int,
    community: int,
    i: int,
    rng: random.Random | None = None,
    *,
    balance_fen: int = BALANCE_FEN,
    birth_date: dt.date = DELIVERY_AGE_BIRTH,
    **kw: object,
) -> int:
    """An elder with a location, phone, diet and emergency contact, old enough for delivery,
    with ``balance_fen`` topped up in cash (0: none)."""
    rng = rng or random.Random(i)
    elder = await add_elder(
        district=district,
        community=community,
        name=f"送餐长者{i}",
        birth_date=birth_date,
        **kw,  # type: ignore[arg-type]
    )
    await Elder.update(
        {
            Elder.lat: 30.318 + rng.uniform(-0.02, 0.02),
            Elder.lon: 120.152 + rng.uniform(-0.02, 0.02),
            Elder.phone: f"1380000{i:04d}",
            Elder.diet: ["low_salt"] if i % 3 == 0 else [],
            Elder.allergies: "花生" if i % 5 == 0 else "",
            Elder.emergency_name: "王小明",
            Elder.emergency_phone: "13900001111",
        }
    ).where(Elder.id == elder)
    if balance_fen:
        await top_up(elder, balance_fen)
    return elder


# The moves that take a freshly placed order to each status, as the state machine allows them.
_PATHS: dict[str, list[str]] = {
    lifecycle.PLACED: [],
    lifecycle.CONFIRMED: [lifecycle.CONFIRMED],
    lifecycle.COOKING: [lifecycle.CONFIRMED, lifecycle.COOKING],
    lifecycle.OUT: [lifecycle.CONFIRMED, lifecycle.OUT],
    lifecycle.DELIVERED: [lifecycle.CONFIRMED, lifecycle.DELIVERED],
    lifecycle.NOT_DELIVERED: [lifecycle.CONFIRMED, lifecycle.NOT_DELIVERED],
}


async def add_order(
    *,
    elder: int,
    district: int,
    site: int,
    day: dt.date = DAY,
    slot: str = "lunch",
    meal_set: int = 0,
    meal_set_name: str = SETS[0],
    status: str = "confirmed",
    updated_at: dt.datetime | None = None,
    payment: str = "balance",
    placed_at: dt.datetime | None = None,
    standing_order: int | None = None,
) -> int:
    """A delivery order placed by the district's case worker, then moved to ``status``.

    ``meal_set`` 0 picks the set by ``meal_set_name`` on the menu served at ``site``.
    Placed at ``placed_at`` (default NOW, or half a day before the cut-off when NOW is
    already past it); moved at ``updated_at`` (default: the placing time, and lunch time
    on the service day for delivered / not delivered). Delivered and not delivered are the
    kitchen's or courier's word through ``set_status`` (not delivered: "not_home")."""
    menu = await menu_for(site, day, slot)
    assert menu is not None, f"no menu served at site {site} on {day} {slot}"
    chosen = next((s for s in menu.sets if (s.id == meal_set if meal_set else s.name == meal_set_name)), None)
    assert chosen is not None, f"{meal_set or meal_set_name} is not on the menu"
    at = placed_at or min(NOW, menu.cutoff_at - dt.timedelta(hours=12))
    official = await staff("official", district=district)
    _, order = await place_order(
        official,
        elder_id=elder,
        site_id=site,
        day=day,
        slot=slot,
        meal_set_id=chosen.id,
        payment=payment,
        now=at,
        standing_order_id=standing_order,
    )
    assert order.site_id == site and order.status == lifecycle.PLACED
    final = status in (lifecycle.DELIVERED, lifecycle.NOT_DELIVERED)
    moved_at = updated_at or (max(lunch_time(day), at) if final else at)
    if status == lifecycle.CANCELLED:
        await cancel_order(official, order.id, reason="家人接回家吃", now=moved_at)
        return order.id
    path = _PATHS[status]
    for n, step in enumerate(path):
        when = moved_at if n == len(path) - 1 else at  # the last move at ``updated_at``
        if step == lifecycle.NOT_DELIVERED:
            await set_status(official, order.id, step, outcome="not_home", reason="敲门无人应答", now=when)
        else:
            await set_status(official, order.id, step, now=when)
    return order.id


async def district_month_subsidy(district: int, day: dt.date) -> int:
    """The meal subsidy of the district's live meals in ``day``'s month, from the monthly rollup."""
    return (await district_month_totals(district, day))["subsidy_fen"]


async def district_month_totals(district: int, day: dt.date) -> dict[str, int]:
    """The district's month in the monthly rollup: the meal rows' subsidy and delivery subsidy
    (``source = ''``) and what the funders' rows (one per source) add up to."""
    rows = await MonthlyRollup.select(
        MonthlyRollup.source, MonthlyRollup.subsidy_fen, MonthlyRollup.delivery_subsidy_fen
    ).where((MonthlyRollup.district == district) & (MonthlyRollup.month == month_of(day)))
    meal_rows = [r for r in rows if r["source"] == ""]
    return {
        "subsidy_fen": sum(r["subsidy_fen"] for r in meal_rows),
        "delivery_subsidy_fen": sum(r["delivery_subsidy_fen"] for r in meal_rows),
        "funded_fen": sum(r["subsidy_fen"] for r in rows if r["source"] != ""),
    }
