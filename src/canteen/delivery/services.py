"""Kitchen production plans, courier rounds, proof of delivery, welfare checks and alerts.

Orders are ``orders.tables.Order`` rows written by the ordering service; this module only
moves an order along its delivery statuses (out_for_delivery, delivered, not_delivered)
inside its own transactions, and never touches money: the Meal that holds an order's
subsidy stays as the ordering service wrote it.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from anyio import to_thread

from canteen import i18n
from canteen.accounts.roles import COURIER, KITCHEN, OFFICIAL, OPERATOR, Principal
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core import audit, events, outbox, queue
from canteen.core.categories import Category, allergen_labels, diet_label, slot_label, texture_level_label
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.sheets import sheet_row
from canteen.delivery import rules
from canteen.delivery.schemas import (
    AlertList,
    AlertView,
    CommunityAlerts,
    Destination,
    Label,
    LateChange,
    Manifest,
    MissedMealOut,
    PackingRound,
    PlanLine,
    ProductionPlan,
    RoundList,
    RoundPlanOut,
    RoundSummary,
    SetTotal,
    StopView,
    WelfareOut,
)
from canteen.delivery.tables import Alert, DeliveryRound, RoundStop, WelfareCheck
from canteen.meals.tables import Meal
from canteen.menus.tables import DailyMenu, MealSet
from canteen.orders import lifecycle
from canteen.orders.tables import Order
from canteen.regions.tables import Community, Site
from canteen.registry.card_services import resolve_card
from canteen.registry.tables import Elder
from canteen.settings import get_settings

log = logging.getLogger("canteen.delivery")

register("courier_not_allowed", 422)
register("card_mismatch", 409)
register("stop_closed", 409)
register("rounds_changed", 409)
register("alert_closed", 409)
register("missed_meal_too_early", 409)
register("no_kitchen", 422)
# A stop of a later service day: nobody can have been handed tomorrow's lunch today.
register("delivery_too_early", 409)

# Orders that will be (or were) cooked: everything but a cancellation. An order still
# "placed" before cut-off is counted, because the ordering service confirms it at cut-off.
COOKED_STATUSES = ("placed", "confirmed", "cooking", "out_for_delivery", "delivered", "not_delivered")
ROUTABLE_STATUSES = ("confirmed", "cooking")
AT_RISK_CATEGORIES = frozenset(
    {
        Category.LIVING_ALONE.value,
        Category.DISABLED.value,
        Category.SEMI_DISABLED.value,
        Category.SEVERE_DISABILITY.value,
    }
)
# The set time after which a regular diner without a meal raises "no meal today" (local).
MISSED_MEAL_AFTER = {"breakfast": dt.time(9, 30), "lunch": dt.time(13, 30), "dinner": dt.time(19, 0)}
PLAN_WEEKS = 4
STAFF_ROLES = (KITCHEN, OPERATOR, OFFICIAL)


def _tz() -> dt.tzinfo:
    return get_settings().tz


def _local_day(now: dt.datetime) -> dt.date:
    return now.astimezone(_tz()).date()


# --------------------------------------------------------------------------- sites


_SITE_COLS = (
    Site.id,
    Site.name,
    Site.district,
    Site.kind,
    Site.point_type,
    Site.kitchen,
    Site.lat,
    Site.lon,
    Site.address,
    Site.slots,
    Site.status,
)


async def _site(site_id: int) -> dict[str, Any]:
    row = await Site.select(*_SITE_COLS).where(Site.id == site_id).first().output(load_json=True)
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    return row


async def site_names(site_ids: Sequence[int]) -> dict[int, str]:
    """Names of the sites a kitchen or courier page lists (a person reads names, not ids)."""
    if not site_ids:
        return {}
    rows = await Site.select(Site.id, Site.name).where(Site.id.is_in(list(site_ids)))
    return {int(r["id"]): r["name"] for r in rows}


def _check_staff(actor: Principal, site: dict[str, Any], *roles_: str) -> None:
    if not actor.can_site(int(site["id"]), int(site["district"]), *(roles_ or STAFF_ROLES)):
        raise DomainError("not_found", {"site_id": site["id"]})


async def _served_sites(site: dict[str, Any]) -> list[dict[str, Any]]:
    """The site itself and the satellite points it cooks for."""
    sats = (
        await Site.select(*_SITE_COLS)
        .where(Site.kitchen == site["id"])
        .order_by(Site.id)
        .output(load_json=True)
    )
    return [site, *sats]


def _slot_start(sites: Sequence[dict[str, Any]], day: dt.date, slot: str) -> dt.datetime | None:
    for s in sites:
        for cfg in s.get("slots") or []:
            if cfg.get("slot") == slot and cfg.get("start"):
                hh, mm = (int(x) for x in str(cfg["start"]).split(":"))
                return dt.datetime.combine(day, dt.time(hh, mm), _tz()).astimezone(dt.UTC)
    return None


# ----------------------------------------------------------------- production plan


async def _menu(kitchen_id: int, day: dt.date, slot: str) -> tuple[dt.datetime | None, list[str]]:
    menu = (
        await DailyMenu.select(DailyMenu.id, DailyMenu.cutoff_at)
        .where((DailyMenu.site == kitchen_id) & (DailyMenu.service_date == day) & (DailyMenu.slot == slot))
        .first()
    )
    if menu is None:
        return None, []
    sets = (
        await MealSet.select(MealSet.name)
        .where(MealSet.menu == menu["id"])
        .order_by(MealSet.sort_order)
        .order_by(MealSet.id)
    )
    return menu["cutoff_at"], [s["name"] for s in sets]


async def _dine_in_history(site_ids: list[int], day: dt.date, slot: str) -> dict[tuple[int, str | None], int]:
    """Dine-in meals (not voided) per (site, meal set name) over the last 4 same weekdays."""
    days = [day - dt.timedelta(days=7 * k) for k in range(1, PLAN_WEEKS + 1)]
    rows = await Meal.select(Meal.site, Meal.meal_set).where(
        Meal.site.is_in(site_ids)
        & Meal.service_date.is_in(days)
        & (Meal.slot == slot)
        & (Meal.mode == "dine_in")
        & Meal.voided_at.is_null()
    )
    set_ids = sorted({r["meal_set"] for r in rows if r["meal_set"] is not None})
    names: dict[int, str] = {}
    if set_ids:
        names = {
            r["id"]: r["name"]
            for r in await MealSet.select(MealSet.id, MealSet.name).where(MealSet.id.is_in(set_ids))
        }
    counts: dict[tuple[int, str | None], int] = defaultdict(int)
    for r in rows:
        counts[(int(r["site"]), names.get(r["meal_set"]) if r["meal_set"] is not None else None)] += 1
    return counts


_ORDER_COLS = (
    Order.id,
    Order.elder,
    Order.site,
    Order.meal_set_name,
    Order.status,
    Order.payment,
    Order.payment_status,
    Order.total_due_fen,
    Order.created_at,
    Order.updated_at,
    Order.cancelled_at,
    Order.elder.name.as_alias("elder_name"),
    Order.elder.address.as_alias("address"),
    Order.elder.phone.as_alias("phone"),
    Order.elder.diet.as_alias("diet"),
    Order.elder.diet_note.as_alias("diet_note"),
    Order.elder.allergies.as_alias("allergies"),
    Order.elder.allergens.as_alias("allergens"),
    Order.elder.texture_level.as_alias("texture_level"),
    Order.elder.lat.as_alias("lat"),
    Order.elder.lon.as_alias("lon"),
)


async def _orders(
    site_ids: list[int], day: dt.date, slot: str, statuses: Iterable[str]
) -> list[dict[str, Any]]:
    return list(
        await Order.select(*_ORDER_COLS)
        .where(
            Order.site.is_in(site_ids)
            & (Order.service_date == day)
            & (Order.slot == slot)
            & Order.status.is_in(list(statuses))
        )
        .order_by(Order.id)
        .output(load_json=True)
    )


def _variant(diet: Any) -> tuple[str, ...]:
    return tuple(sorted(str(t) for t in (diet or [])))


# A portion kind: (set, diet tags, IDDSI level or None, allergen groups avoided); a plan line
# adds its destination in front.
_SetKey = tuple[str, tuple[str, ...], int | None, tuple[str, ...]]
_PlanKey = tuple[int, str, tuple[str, ...], int | None, tuple[str, ...]]


def _portion(o: dict[str, Any]) -> tuple[tuple[str, ...], int | None, tuple[str, ...]]:
    """An order's portion kind besides its set: the elder's diet, texture level and allergens."""
    level = o.get("texture_level")
    return (
        _variant(o["diet"]),
        None if level is None else int(level),
        tuple(sorted(str(a) for a in (o.get("allergens") or []))),
    )


def _set_totals(totals: dict[_SetKey, int], order_of_set: dict[str, int]) -> list[SetTotal]:
    def rank(kv: tuple[_SetKey, int]) -> tuple[Any, ...]:
        (name, diet, level, avoid), _ = kv
        return (order_of_set.get(name, 99), name, diet, -1 if level is None else level, avoid)

    return [
        SetTotal(meal_set_name=n, diet_variant=list(v), total=t, texture_level=lv, allergens=list(a))
        for (n, v, lv, a), t in sorted(totals.items(), key=rank)
    ]


async def production_plan(
    actor: Principal, kitchen_id: int, day: dt.date, slot: str, *, now: dt.datetime | None = None
) -> ProductionPlan:
    """Portions to cook at ``kitchen_id`` for ``day``/``slot``, per meal set and diet variant,
    split by destination: each served point's expected dine-in (the average of the last four
    same weekdays' dine-in meals, rounded half up per set) plus its delivery orders.

    The plan is locked once the menu's cut-off has passed; orders created, changed or
    cancelled after it are listed as late changes (a cancellation is not cooked).
    """
    now = now or utcnow()
    kitchen = await _site(kitchen_id)
    _check_staff(actor, kitchen)
    if kitchen["kind"] == "meal_point" and kitchen["point_type"] == "satellite":
        raise DomainError("no_kitchen", {"site_id": kitchen_id})
    dests = await _served_sites(kitchen)
    ids = [int(d["id"]) for d in dests]
    cutoff, set_names = await _menu(kitchen_id, day, slot)
    first = set_names[0] if set_names else "—"

    # (destination, set, diet tags, texture level, allergens avoided) -> [dine-in, delivery]
    lines: dict[_PlanKey, list[int]] = {}
    history = await _dine_in_history(ids, day, slot)
    for (site_id, name), count in history.items():
        # A set no longer on today's menu is eaten as today's first set.
        hkey: _PlanKey = (site_id, str(name) if name in set_names else first, (), None, ())
        lines.setdefault(hkey, [0, 0])[0] += count
    for pair in lines.values():
        # The four weeks' total, averaged over the weeks (a week without meals counts as zero).
        pair[0] = rules.expected_dine_in([pair[0]] + [0] * (PLAN_WEEKS - 1)) if pair[0] else 0
    orders = await _orders(ids, day, slot, [*COOKED_STATUSES, "cancelled"])
    late: list[LateChange] = []
    names = {int(d["id"]): d["name"] for d in dests}
    for o in orders:
        changed = max(x for x in (o["created_at"], o["updated_at"], o["cancelled_at"]) if x is not None)
        if cutoff is not None and changed > cutoff:
            late.append(
                LateChange(
                    order_id=o["id"],
                    elder_name=o["elder_name"],
                    destination_name=names.get(int(o["site"]), ""),
                    meal_set_name=o["meal_set_name"],
                    status=o["status"],
                    changed_at=changed,
                )
            )
        if o["status"] == "cancelled":
            continue
        key = (int(o["site"]), o["meal_set_name"], *_portion(o))
        lines.setdefault(key, [0, 0])[1] += 1

    order_of_set = {n: i for i, n in enumerate(set_names)}
    plan_lines = [
        PlanLine(
            destination_id=site_id,
            destination_name=names.get(site_id, ""),
            meal_set_name=name,
            diet_variant=list(variant),
            dine_in_expected=pair[0],
            delivery=pair[1],
            total=pair[0] + pair[1],
            texture_level=texture,
            allergens=list(avoid),
        )
        for (site_id, name, variant, texture, avoid), pair in sorted(
            lines.items(),
            key=lambda kv: (
                ids.index(kv[0][0]),
                order_of_set.get(kv[0][1], 99),
                kv[0][1],
                kv[0][2],
                -1 if kv[0][3] is None else kv[0][3],
                kv[0][4],
            ),
        )
        if pair[0] + pair[1] > 0
    ]
    destinations = []
    for d in dests:
        mine = [ln for ln in plan_lines if ln.destination_id == d["id"]]
        di, dl = sum(x.dine_in_expected for x in mine), sum(x.delivery for x in mine)
        if di + dl or d["id"] != kitchen_id:
            destinations.append(
                Destination(
                    site_id=int(d["id"]), name=d["name"], dine_in_expected=di, delivery=dl, total=di + dl
                )
            )
    by_set: dict[_SetKey, int] = defaultdict(int)
    for ln in plan_lines:
        by_set[(ln.meal_set_name, tuple(ln.diet_variant), ln.texture_level, tuple(ln.allergens))] += ln.total
    dine = sum(x.dine_in_expected for x in plan_lines)
    deliv = sum(x.delivery for x in plan_lines)
    return ProductionPlan(
        kitchen_id=kitchen_id,
        kitchen_name=kitchen["name"],
        service_date=day,
        slot=slot,
        cutoff_at=cutoff,
        locked=cutoff is not None and now >= cutoff,
        lines=plan_lines,
        destinations=destinations,
        by_set=_set_totals(by_set, order_of_set),
        dine_in_expected=dine,
        delivery=deliv,
        total=dine + deliv,
        late_changes=late,
    )


async def _stops_by_order(order_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not order_ids:
        return {}
    rows = await RoundStop.select(
        RoundStop.order, RoundStop.sequence, RoundStop.delivery_round.as_alias("round_id")
    ).where(RoundStop.order.is_in(order_ids))
    return {int(r["order"]): r for r in rows}


def _label(o: dict[str, Any], dest: str, stop: dict[str, Any] | None, day: dt.date, slot: str) -> Label:
    return Label(
        order_id=o["id"],
        elder_name=o["elder_name"],
        address=o["address"] or "",
        phone=o["phone"] or "",
        destination_name=dest,
        meal_set_name=o["meal_set_name"],
        diet=list(o["diet"] or []),
        diet_note=o["diet_note"] or "",
        allergies=o["allergies"] or "",
        allergens=list(o.get("allergens") or []),
        texture_level=o.get("texture_level"),
        round_id=int(stop["round_id"]) if stop else None,
        sequence=int(stop["sequence"]) if stop else None,
        service_date=day,
        slot=slot,
    )


async def labels(actor: Principal, kitchen_id: int, day: dt.date, slot: str) -> list[Label]:
    """One printable label per delivery cooked at ``kitchen_id``: name, address, meal, diet warnings."""
    kitchen = await _site(kitchen_id)
    _check_staff(actor, kitchen)
    dests = await _served_sites(kitchen)
    names = {int(d["id"]): d["name"] for d in dests}
    orders = await _orders(list(names), day, slot, COOKED_STATUSES)
    stops = await _stops_by_order([o["id"] for o in orders])
    out = [_label(o, names.get(int(o["site"]), ""), stops.get(o["id"]), day, slot) for o in orders]
    # Routed boxes first, in the order they go into the bags; the rest after them.
    out.sort(key=lambda x: (x.round_id is None, x.round_id or 0, x.sequence or 0, x.order_id))
    return out


async def kitchen_rounds(actor: Principal, kitchen_id: int, day: dt.date, slot: str) -> RoundList:
    """The rounds that carry this kitchen's food on ``day``/``slot``: leaving from the kitchen
    itself or from a point it cooks for (the rounds its packing lists fill)."""
    kitchen = await _site(kitchen_id)
    _check_staff(actor, kitchen)
    ids = [int(d["id"]) for d in await _served_sites(kitchen)]
    return RoundList(
        items=await _round_rows(
            (DeliveryRound.site.is_in(ids))
            & (DeliveryRound.service_date == day)
            & (DeliveryRound.slot == slot)
        )
    )


async def packing_lists(actor: Principal, kitchen_id: int, day: dt.date, slot: str) -> list[PackingRound]:
    """Per round leaving from the kitchen or its points: what goes in the courier's bag."""
    all_labels = await labels(actor, kitchen_id, day, slot)
    by_round: dict[int, list[Label]] = defaultdict(list)
    for lb in all_labels:
        if lb.round_id is not None:
            by_round[lb.round_id].append(lb)
    rounds = (await kitchen_rounds(actor, kitchen_id, day, slot)).items
    out = []
    for r in rounds:
        mine = by_round.get(r.id, [])
        sets: dict[_SetKey, int] = defaultdict(int)
        for lb in mine:
            sets[(lb.meal_set_name, _variant(lb.diet), lb.texture_level, tuple(sorted(lb.allergens)))] += 1
        out.append(
            PackingRound(
                round_id=r.id,
                courier_name=r.courier_name,
                site_name=r.site_name,
                stops=len(mine),
                sets=_set_totals(sets, {}),
                labels=mine,
            )
        )
    return out


async def plan_xlsx(
    actor: Principal, kitchen_id: int, day: dt.date, slot: str, *, lang: str = "zh-CN"
) -> bytes:
    """The production plan, the labels and the packing lists as an XLSX workbook.

    Headers, sheet names, the slot and the diet tags in the caller's language (the pages' labels).
    """
    from openpyxl import Workbook

    def t(msgid: str) -> str:
        return i18n.gettext(lang, msgid)

    def diets(tags: Sequence[str]) -> str:
        return ", ".join(diet_label(d, lang) for d in tags) or t("standard")

    plan = await production_plan(actor, kitchen_id, day, slot)
    lbls = await labels(actor, kitchen_id, day, slot)
    packs = await packing_lists(actor, kitchen_id, day, slot)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("Production plan")
    ws.append(
        sheet_row(
            [
                plan.kitchen_name,
                plan.service_date.isoformat(),
                slot_label(plan.slot, lang),
                t("Locked at cut-off") if plan.locked else t("Open until cut-off"),
            ]
        )
    )
    ws.append(
        sheet_row(
            map(
                t,
                [
                    "Destination",
                    "Meal set",
                    "Diet",
                    "Texture",
                    "Allergies",
                    "Dine-in expected",
                    "Delivery",
                    "Total",
                ],
            )
        )
    )
    for ln in plan.lines:
        ws.append(
            sheet_row(
                [
                    ln.destination_name,
                    ln.meal_set_name,
                    diets(ln.diet_variant),
                    texture_level_label(ln.texture_level, lang),
                    allergen_labels(ln.allergens, lang),
                    ln.dine_in_expected,
                    ln.delivery,
                    ln.total,
                ]
            )
        )
    ws.append(sheet_row([t("Total"), "", "", "", "", plan.dine_in_expected, plan.delivery, plan.total]))
    ls = wb.create_sheet(t("Labels"))
    ls.append(
        sheet_row(
            map(t, ["Order", "Elder", "Address", "Phone", "Meal set", "Diet", "Allergies", "Round", "Stop"])
        )
    )
    for lb in lbls:
        ls.append(
            sheet_row(
                [
                    lb.order_id,
                    lb.elder_name,
                    lb.address,
                    lb.phone,
                    lb.meal_set_name,
                    diets(lb.diet),
                    lb.allergies,
                    lb.round_id or "",
                    lb.sequence or "",
                ]
            )
        )
    ps = wb.create_sheet(t("Packing lists"))
    ps.append(sheet_row(map(t, ["Round", "Courier", "Meal point", "Meal set", "Diet", "Portions"])))
    for p in packs:
        for st in p.sets:
            ps.append(
                sheet_row(
                    [
                        p.round_id,
                        p.courier_name,
                        p.site_name,
                        st.meal_set_name,
                        diets(st.diet_variant),
                        st.total,
                    ]
                )
            )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------- rounds


async def _round_rows(where: Any) -> list[RoundSummary]:
    rows = (
        await DeliveryRound.select(
            DeliveryRound.id,
            DeliveryRound.site,
            DeliveryRound.site.name.as_alias("site_name"),
            DeliveryRound.courier,
            DeliveryRound.service_date,
            DeliveryRound.slot,
            DeliveryRound.status,
            DeliveryRound.planned_distance_m,
        )
        .where(where)
        .order_by(DeliveryRound.id)
    )
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    stops = await RoundStop.select(RoundStop.delivery_round, RoundStop.status).where(
        RoundStop.delivery_round.is_in(ids)
    )
    total: dict[int, int] = defaultdict(int)
    done: dict[int, int] = defaultdict(int)
    for s in stops:
        total[s["delivery_round"]] += 1
        done[s["delivery_round"]] += s["status"] == "delivered"
    couriers = await _user_names({int(r["courier"]) for r in rows})
    return [
        RoundSummary(
            id=r["id"],
            site_id=r["site"],
            site_name=r["site_name"],
            courier_id=r["courier"],
            courier_name=couriers.get(int(r["courier"]), ""),
            service_date=r["service_date"],
            slot=r["slot"],
            status=r["status"],
            planned_distance_m=r["planned_distance_m"],
            stops=total[r["id"]],
            delivered=done[r["id"]],
        )
        for r in rows
    ]


async def _user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await StaffUser.select(StaffUser.id, StaffUser.display_name, StaffUser.username).where(
        StaffUser.id.is_in(sorted(ids))
    )
    return {int(r["id"]): r["display_name"] or r["username"] for r in rows}


async def _check_couriers(couriers: Sequence[int], site_ids: Sequence[int]) -> None:
    grants = await RoleGrant.select(RoleGrant.user, RoleGrant.site).where(
        RoleGrant.user.is_in(list(couriers)) & (RoleGrant.role == COURIER)
    )
    ok = {int(g["user"]) for g in grants if g["site"] is not None and int(g["site"]) in set(site_ids)}
    bad = [c for c in couriers if c not in ok]
    if bad:
        raise DomainError("courier_not_allowed", {"courier_ids": bad})


PLAN_ROUNDS_JOB = "delivery.plan_rounds"
# The stages of a route plan, as the progress page names them (catalog msgids).
PLAN_STAGES = ("Loading the orders", "Planning the routes", "Saving the rounds")
Progress = Callable[[int, int, str], Awaitable[None]]


async def round_couriers(actor: Principal, site_id: int) -> list[tuple[int, str]]:
    """The couriers who may carry rounds leaving from ``site_id`` (a courier grant at the site
    or one of the points it cooks for), by name: what the planning form offers."""
    site = await _site(site_id)
    _check_staff(actor, site)
    site_ids = [int(s["id"]) for s in await _served_sites(site)]
    grants = await RoleGrant.select(RoleGrant.user).where(
        RoleGrant.site.is_in(site_ids) & (RoleGrant.role == COURIER)
    )
    names = await _user_names({int(g["user"]) for g in grants})
    return sorted(names.items(), key=lambda kv: (kv[1], kv[0]))


async def start_plan_rounds(
    actor: Principal,
    site_id: int,
    day: dt.date,
    slot: str,
    couriers: Sequence[int],
    capacity: int = 40,
    window_minutes: int = 240,
    *,
    include_placed: bool = False,
    time_limit_s: float = 2.0,
) -> queue.JobRunView:
    """Queue a route plan (the work of :func:`plan_rounds`, seconds of solver time) after the
    checks it would make at once: the site, the caller's scope, the couriers. Two requests for
    the same site, day and slot while one runs join it."""
    site = await _site(site_id)
    _check_staff(actor, site)
    site_ids = [int(s["id"]) for s in await _served_sites(site)]
    couriers = list(dict.fromkeys(couriers))
    await _check_couriers(couriers, site_ids)
    # The job module imports this one; importing it here registers the kind before submitting.
    from canteen.delivery import jobs as _jobs  # noqa: F401

    return await queue.submit(
        PLAN_ROUNDS_JOB,
        {
            "site_id": site_id,
            "day": day.isoformat(),
            "slot": slot,
            "couriers": couriers,
            "capacity": capacity,
            "window_minutes": window_minutes,
            "include_placed": include_placed,
            "time_limit_s": time_limit_s,
        },
        user_id=actor.user_id,
        district_id=int(site["district"]),
        site_id=site_id,
        key=f"{site_id}:{day.isoformat()}:{slot}",
    )


async def plan_rounds(
    actor: Principal,
    site_id: int,
    day: dt.date,
    slot: str,
    couriers: Sequence[int],
    capacity: int = 40,
    window_minutes: int = 240,
    *,
    now: dt.datetime | None = None,
    include_placed: bool = False,
    time_limit_s: float = 2.0,
    progress: Progress | None = None,
) -> RoundPlanOut:
    """Group the confirmed deliveries leaving from ``site_id`` (a kitchen or a meal point,
    with the satellite points it cooks for) into one round per courier and order each
    round with OR-Tools' routing solver (see ``rules.plan_routes``), starting at the site.

    Planning again replaces the rounds still ``planned`` with every stop pending; orders on
    a round that has left stay where they are. Each courier must hold the courier role at
    one of the sites served. ``include_placed`` also routes orders not yet confirmed (the
    demo plans tomorrow before the cut-off).

    Pages and the API queue this (:func:`start_plan_rounds`, the job in ``delivery.jobs``);
    the demo loader and tests call it directly.
    """
    site = await _site(site_id)
    _check_staff(actor, site)
    return await plan_rounds_checked(
        actor,
        site_id,
        day,
        slot,
        couriers,
        capacity,
        window_minutes,
        now=now,
        include_placed=include_placed,
        time_limit_s=time_limit_s,
        progress=progress,
    )


async def plan_rounds_checked(
    actor: audit.Actor,
    site_id: int,
    day: dt.date,
    slot: str,
    couriers: Sequence[int],
    capacity: int = 40,
    window_minutes: int = 240,
    *,
    now: dt.datetime | None = None,
    include_placed: bool = False,
    time_limit_s: float = 2.0,
    progress: Progress | None = None,
) -> RoundPlanOut:
    """:func:`plan_rounds` once the caller's scope is checked (the queue's job runs this for the
    person who asked; ``actor`` is who the audit trail and the rounds name). The couriers are
    checked again: a grant may have ended since the work was queued."""

    async def stage(i: int) -> None:
        if progress is not None:
            await progress(i, len(PLAN_STAGES), PLAN_STAGES[i])

    now = now or utcnow()
    await stage(0)
    site = await _site(site_id)
    sites = await _served_sites(site)
    site_ids = [int(s["id"]) for s in sites]
    couriers = list(dict.fromkeys(couriers))
    await _check_couriers(couriers, site_ids)

    statuses = [*ROUTABLE_STATUSES, *(["placed"] if include_placed else [])]
    old = await DeliveryRound.select(DeliveryRound.id).where(
        (DeliveryRound.site == site_id)
        & (DeliveryRound.service_date == day)
        & (DeliveryRound.slot == slot)
        & (DeliveryRound.status == "planned")
    )
    old_ids = [int(r["id"]) for r in old]
    if old_ids:
        touched = await RoundStop.select(RoundStop.delivery_round).where(
            RoundStop.delivery_round.is_in(old_ids) & (RoundStop.status != "pending")
        )
        keep = {int(t["delivery_round"]) for t in touched}
        old_ids = [i for i in old_ids if i not in keep]
    orders = await _orders(site_ids, day, slot, statuses)
    taken_rows = (
        await RoundStop.select(RoundStop.order, RoundStop.delivery_round).where(
            RoundStop.order.is_in([o["id"] for o in orders])
        )
        if orders
        else []
    )
    taken = {int(t["order"]) for t in taken_rows if int(t["delivery_round"]) not in old_ids}
    orders = [o for o in orders if o["id"] not in taken]

    depot = rules.Point(float(site["lat"] or 0.0), float(site["lon"] or 0.0))
    points = [
        rules.Point(float(o["lat"]), float(o["lon"]))
        if o["lat"] is not None and o["lon"] is not None
        else depot
        for o in orders
    ]
    await stage(1)

    def solve() -> tuple[rules.RoutePlan, list[list[int]], int]:
        plan = rules.plan_routes(
            depot, points, len(couriers), capacity, window_minutes, time_limit_s=time_limit_s
        )
        matrix = rules.distance_matrix(depot, points)
        baseline = rules.nearest_neighbour(depot, points, len(couriers), capacity, matrix=matrix).distance_m
        return plan, matrix, baseline

    # Seconds of solver CPU: on a thread, so the event loop (the web process itself, when it
    # runs the queue's worker in-process) keeps answering requests meanwhile.
    result, matrix, baseline = await to_thread.run_sync(solve)
    await stage(2)
    depart = _slot_start(sites, day, slot)
    if depart is not None:
        depart -= dt.timedelta(minutes=30)  # leave half an hour before serving starts

    new_ids: list[int] = []
    try:
        async with write_transaction():
            if old_ids:
                await RoundStop.delete().where(RoundStop.delivery_round.is_in(old_ids))
                await DeliveryRound.delete().where(DeliveryRound.id.is_in(old_ids))
            for courier, route in zip(couriers, result.routes, strict=False):
                if not route.stops:
                    continue
                rows = await DeliveryRound.insert(
                    DeliveryRound(
                        site=site_id,
                        courier=courier,
                        service_date=day,
                        slot=slot,
                        status="planned",
                        planned_distance_m=route.distance_m,
                        depart_at=depart,
                        created_by=actor.user_id,
                        created_at=now,
                        updated_at=now,
                    )
                ).returning(DeliveryRound.id)
                rid = int(rows[0]["id"])
                new_ids.append(rid)
                here = 0
                stops = []
                for seq, (idx, arrival) in enumerate(
                    zip(route.stops, route.arrival_min, strict=True), start=1
                ):
                    o = orders[idx]
                    stops.append(
                        RoundStop(
                            delivery_round=rid,
                            order=o["id"],
                            elder=o["elder"],
                            sequence=seq,
                            eta=depart + dt.timedelta(minutes=arrival) if depart else None,
                            leg_m=matrix[here][idx + 1],
                            status="pending",
                            updated_at=now,
                        )
                    )
                    here = idx + 1
                await RoundStop.insert(*stops)
            await audit.record(
                actor,
                "rounds.plan",
                "site",
                site_id,
                after={
                    "date": day.isoformat(),
                    "slot": slot,
                    "rounds": new_ids,
                    "unassigned": len(result.unassigned),
                },
                district_id=int(site["district"]),
                now=now,
            )
    except UniqueViolation as exc:
        raise DomainError("rounds_changed", {"site_id": site_id}) from exc
    summaries = await _round_rows(DeliveryRound.id.is_in(new_ids)) if new_ids else []
    return RoundPlanOut(
        rounds=summaries,
        unassigned_order_ids=[orders[i]["id"] for i in result.unassigned],
        planned_distance_m=result.distance_m,
        baseline_distance_m=baseline,
    )


async def _round(actor: Principal, round_id: int, *, acting: bool = False) -> dict[str, Any]:
    """The round if ``actor`` may see it: its courier, or staff of its site (not to act)."""
    row = (
        await DeliveryRound.select(
            *DeliveryRound.all_columns(), DeliveryRound.site.district.as_alias("district")
        )
        .where(DeliveryRound.id == round_id)
        .first()
    )
    if row is None:
        raise DomainError("not_found", {"round_id": round_id})
    if actor.is_admin or int(row["courier"]) == actor.user_id:
        return row
    if not acting and actor.can_site(int(row["site"]), int(row["district"]), *STAFF_ROLES):
        return row
    raise DomainError("not_found", {"round_id": round_id})


async def list_rounds(
    actor: Principal, day: dt.date, *, site_id: int | None = None, slot: str | None = None
) -> RoundList:
    """Rounds on ``day``: a courier's own, or every round of a site its staff may see."""
    where: Any = DeliveryRound.service_date == day
    if slot:
        where &= DeliveryRound.slot == slot
    if site_id is not None:
        site = await _site(site_id)
        if actor.can_site(site_id, int(site["district"]), *STAFF_ROLES):
            where &= DeliveryRound.site == site_id
        else:
            where &= (DeliveryRound.site == site_id) & (DeliveryRound.courier == actor.user_id)
    elif not actor.is_admin:
        where &= DeliveryRound.courier == actor.user_id
    return RoundList(items=await _round_rows(where))


async def _stop_views(where: Any) -> list[StopView]:
    rows = (
        await RoundStop.select(
            *RoundStop.all_columns(),
        )
        .where(where)
        .order_by(RoundStop.delivery_round)
        .order_by(RoundStop.sequence)
    )
    if not rows:
        return []
    orders = {
        o["id"]: o
        for o in await Order.select(
            Order.id, Order.meal_set_name, Order.payment, Order.payment_status, Order.total_due_fen
        ).where(Order.id.is_in([r["order"] for r in rows]))
    }
    elders = {
        e["id"]: e
        for e in await Elder.select(
            Elder.id,
            Elder.name,
            Elder.phone,
            Elder.address,
            Elder.lat,
            Elder.lon,
            Elder.diet,
            Elder.allergies,
            Elder.emergency_name,
            Elder.emergency_phone,
        )
        .where(Elder.id.is_in(sorted({r["elder"] for r in rows})))
        .output(load_json=True)
    }
    rounds = {
        r["id"]: r
        for r in await DeliveryRound.select(
            DeliveryRound.id, DeliveryRound.service_date, DeliveryRound.slot
        ).where(DeliveryRound.id.is_in(sorted({r["delivery_round"] for r in rows})))
    }
    checks: dict[int, str] = {}
    for w in (
        await WelfareCheck.select(WelfareCheck.stop, WelfareCheck.level)
        .where(WelfareCheck.stop.is_in([r["id"] for r in rows]))
        .order_by(WelfareCheck.id)
    ):
        checks[int(w["stop"])] = w["level"]
    out = []
    for r in rows:
        o, e = orders.get(r["order"], {}), elders.get(r["elder"], {})
        cash = o.get("payment") == "cash" and o.get("payment_status") not in ("paid", "refunded")
        out.append(
            StopView(
                id=r["id"],
                round_id=r["delivery_round"],
                sequence=r["sequence"],
                order_id=r["order"],
                elder_id=r["elder"],
                elder_name=e.get("name", ""),
                phone=e.get("phone", ""),
                address=e.get("address", ""),
                lat=e.get("lat"),
                lon=e.get("lon"),
                meal_set_name=o.get("meal_set_name", ""),
                diet=list(e.get("diet") or []),
                allergies=e.get("allergies", ""),
                payment=o.get("payment", ""),
                to_collect_fen=int(o.get("total_due_fen") or 0) if cash else 0,
                eta=r["eta"],
                leg_m=r["leg_m"],
                status=r["status"],
                delivered_at=r["delivered_at"],
                card_scanned=bool(r["card_scanned"]),
                reason=r["reason"],
                emergency_name=e.get("emergency_name", ""),
                emergency_phone=e.get("emergency_phone", ""),
                welfare_level=checks.get(r["id"]),
                service_date=rounds[r["delivery_round"]]["service_date"],
                slot=rounds[r["delivery_round"]]["slot"],
            )
        )
    return out


async def manifest(actor: Principal, round_id: int) -> Manifest:
    """A round's stops in visiting order with phone, address and emergency contact.

    The courier of the round sees it (the registry lets couriers read contact details);
    so do the kitchen, operator and officials of its site, for printing.
    """
    row = await _round(actor, round_id)
    summary = (await _round_rows(DeliveryRound.id == round_id))[0]
    site = await _site(int(row["site"]))
    return Manifest(
        round=summary,
        start_name=site["name"],
        start_address=site["address"] or "",
        stops=await _stop_views(RoundStop.delivery_round == round_id),
    )


async def start_round(actor: Principal, round_id: int, *, now: dt.datetime | None = None) -> RoundSummary:
    """The courier leaves: the round is out and its pending orders are out for delivery."""
    now = now or utcnow()
    await _round(actor, round_id, acting=True)
    async with write_transaction():
        await DeliveryRound.update({DeliveryRound.status: "out", DeliveryRound.updated_at: now}).where(
            (DeliveryRound.id == round_id) & (DeliveryRound.status == "planned")
        )
        pending = await RoundStop.select(RoundStop.order).where(
            (RoundStop.delivery_round == round_id) & (RoundStop.status == "pending")
        )
        await lifecycle.move_many([p["order"] for p in pending], lifecycle.OUT, actor=actor, now=now)
    return (await _round_rows(DeliveryRound.id == round_id))[0]


async def _stop(actor: Principal, stop_id: int) -> dict[str, Any]:
    row = await RoundStop.select(*RoundStop.all_columns()).where(RoundStop.id == stop_id).first()
    if row is None:
        raise DomainError("not_found", {"stop_id": stop_id})
    try:
        found = await _round(actor, int(row["delivery_round"]), acting=True)
    except DomainError as exc:
        raise DomainError("not_found", {"stop_id": stop_id}) from exc
    return {**row, "service_date": found["service_date"]}


def _check_day(stop: dict[str, Any], now: dt.datetime) -> None:
    """An outcome is recorded on the stop's service day or later (local), never before it."""
    day = stop["service_date"]
    if isinstance(day, str):  # SQLite hands some dates back as text
        day = dt.date.fromisoformat(day)
    if _local_day(now) < day:
        raise DomainError("delivery_too_early", {"stop_id": int(stop["id"]), "service_date": day.isoformat()})


async def stop_view(actor: Principal, stop_id: int) -> StopView:
    """One stop for the courier at the door (with the emergency contact)."""
    row = await RoundStop.select(RoundStop.delivery_round).where(RoundStop.id == stop_id).first()
    if row is None:
        raise DomainError("not_found", {"stop_id": stop_id})
    try:
        await _round(actor, int(row["delivery_round"]))
    except DomainError as exc:
        raise DomainError("not_found", {"stop_id": stop_id}) from exc
    return (await _stop_views(RoundStop.id == stop_id))[0]


async def _close_round_if_done(round_id: int, now: dt.datetime) -> None:
    left = await RoundStop.count().where(
        (RoundStop.delivery_round == round_id) & (RoundStop.status == "pending")
    )
    status = "done" if left == 0 else "out"
    await DeliveryRound.update({DeliveryRound.status: status, DeliveryRound.updated_at: now}).where(
        DeliveryRound.id == round_id
    )


async def deliver_stop(
    actor: Principal, stop_id: int, card: str, *, now: dt.datetime | None = None
) -> StopView:
    """Proof of delivery: the elder's card, scanned at the door, must be the stop's elder.

    The stop becomes delivered with the time and the card; the order becomes delivered.
    Raises ``delivery_too_early`` before the stop's service day (local), the card codes of
    ``resolve_card``, ``card_mismatch`` or ``stop_closed``.
    """
    now = now or utcnow()
    stop = await _stop(actor, stop_id)
    _check_day(stop, now)
    hit = await resolve_card(card.strip())
    if hit.elder_id != int(stop["elder"]):
        raise DomainError("card_mismatch", {"stop_id": stop_id})
    async with write_transaction():
        changed = (
            await RoundStop.update(
                {
                    RoundStop.status: "delivered",
                    RoundStop.delivered_at: now,
                    RoundStop.card_scanned: True,
                    RoundStop.card_id: hit.card_id,
                    RoundStop.updated_at: now,
                }
            )
            .where((RoundStop.id == stop_id) & (RoundStop.status == "pending"))
            .returning(RoundStop.id)
        )
        if not changed:
            raise DomainError("stop_closed", {"stop_id": stop_id})
        # The order's own transition posts the cash collected at the door for a cash order.
        await lifecycle.move(actor, int(stop["order"]), lifecycle.DELIVERED, now=now)
        await _close_round_if_done(int(stop["delivery_round"]), now)
    return (await _stop_views(RoundStop.id == stop_id))[0]


async def fail_stop(
    actor: Principal, stop_id: int, outcome: str, reason: str, *, now: dt.datetime | None = None
) -> StopView:
    """Not home, refused or failed, with the reason; the order becomes not_delivered through its
    own transition (the meal voided: co-pay back, subsidy and the once-per-slot rule released;
    a card payment refunded after commit). The view returned carries the elder's emergency
    contact for the courier to call. Like a delivery, refused before the stop's service day
    (``delivery_too_early``)."""
    now = now or utcnow()
    if outcome not in lifecycle.NOT_DELIVERED_OUTCOMES:
        raise DomainError("validation_failed", {"field": "outcome"})
    stop = await _stop(actor, stop_id)
    _check_day(stop, now)
    async with write_transaction():
        changed = (
            await RoundStop.update(
                {RoundStop.status: outcome, RoundStop.reason: reason[:200], RoundStop.updated_at: now}
            )
            .where((RoundStop.id == stop_id) & (RoundStop.status == "pending"))
            .returning(RoundStop.id)
        )
        if not changed:
            raise DomainError("stop_closed", {"stop_id": stop_id})
        moved = await lifecycle.move(
            actor, int(stop["order"]), lifecycle.NOT_DELIVERED, now=now, reason=reason, outcome=outcome
        )
        await _close_round_if_done(int(stop["delivery_round"]), now)
        if outcome in ("not_home", "refused"):  # notify: family, emergency contact, community worker
            o = (
                await Order.select(Order.district, Order.elder, Order.service_date, Order.slot)
                .where(Order.id == stop["order"])
                .first()
            ) or {}
            await outbox.emit(
                f"door_{outcome}",
                district_id=int(o["district"]),
                elder_id=int(o["elder"]),
                payload={
                    "order_id": stop["order"],
                    "stop_id": stop_id,
                    "service_date": str(o["service_date"]),
                    "slot": o["slot"],
                },
                dedupe_key=f"stop:{stop_id}:{outcome}",
                now=now,
            )
    await lifecycle.refund_card(moved.refund, now=now)
    return (await _stop_views(RoundStop.id == stop_id))[0]


async def _elder_place(elder_id: int) -> dict[str, Any]:
    row = await Elder.select(Elder.id, Elder.district, Elder.community).where(Elder.id == elder_id).first()
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    return row


async def record_welfare(
    actor: Principal, stop_id: int, level: str, note: str = "", *, now: dt.datetime | None = None
) -> WelfareOut:
    """One-tap welfare check at the door. ``urgent`` raises an alert for the elder's district,
    published live to the officials' view, open until someone acknowledges it."""
    now = now or utcnow()
    if level not in ("fine", "attention", "urgent"):
        raise DomainError("validation_failed", {"field": "level"})
    stop = await _stop(actor, stop_id)
    place = await _elder_place(int(stop["elder"]))
    alert_id: int | None = None
    async with write_transaction():
        rows = await WelfareCheck.insert(
            WelfareCheck(
                elder=stop["elder"],
                order=stop["order"],
                stop=stop_id,
                courier=actor.user_id,
                at=now,
                level=level,
                note=note[:500],
            )
        ).returning(WelfareCheck.id)
        check_id = int(rows[0]["id"])
        if level in ("attention", "urgent"):  # notify: per canteen.notify.rules.ROUTING
            await outbox.emit(
                f"welfare_{level}",
                district_id=int(place["district"]),
                elder_id=int(stop["elder"]),
                payload={
                    "welfare_check_id": check_id,
                    "stop_id": stop_id,
                    "service_date": str(stop["service_date"]),
                },
                dedupe_key=f"welfare:{check_id}",
                now=now,
            )
        if level == "urgent":
            alert_id = await _insert_alert(
                place,
                "urgent_welfare",
                _local_day(now),
                "",
                {
                    "note": note[:500],
                    "courier_id": actor.user_id,
                    "stop_id": stop_id,
                    "welfare_check_id": check_id,
                },
                now,
            )
            await audit.record(
                actor,
                "welfare.urgent",
                "elder",
                stop["elder"],
                after={"alert_id": alert_id, "note": note[:500]},
                district_id=int(place["district"]),
                now=now,
            )
    if alert_id is not None:
        _publish_alert(int(place["district"]), alert_id, "urgent_welfare", place)
    return WelfareOut(id=check_id, stop_id=stop_id, level=level, alert_id=alert_id)


# ------------------------------------------------------------------------- alerts


async def _insert_alert(
    place: dict[str, Any], kind: str, day: dt.date, slot: str, detail: dict[str, Any], now: dt.datetime
) -> int:
    rows = await Alert.insert(
        Alert(
            district=place["district"],
            community=place["community"],
            elder=place["id"],
            kind=kind,
            service_date=day,
            slot=slot,
            detail=detail,
            raised_at=now,
            status="open",
        )
    ).returning(Alert.id)
    return int(rows[0]["id"])


def _publish_alert(district_id: int, alert_id: int, kind: str, place: dict[str, Any]) -> None:
    events.publish(
        [events.district_channel(district_id)],
        {
            "type": "alert",
            "alert_id": alert_id,
            "kind": kind,
            "elder_id": place["id"],
            "community_id": place["community"],
        },
    )


async def list_alerts(
    actor: Principal, district_id: int, *, status: str | None = None, limit: int = 200
) -> AlertList:
    """A district's alerts, newest first, and grouped per community (open ones first)."""
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    where: Any = Alert.district == district_id
    if status:
        where &= Alert.status == status
    rows = (
        await Alert.select(*Alert.all_columns())
        .where(where)
        .order_by(Alert.id, ascending=False)
        .limit(limit)
        .output(load_json=True)
    )
    elders = {}
    comms = {}
    if rows:
        elders = {
            e["id"]: e
            for e in await Elder.select(Elder.id, Elder.name, Elder.address, Elder.phone).where(
                Elder.id.is_in(sorted({r["elder"] for r in rows}))
            )
        }
        cids = sorted({r["community"] for r in rows if r["community"] is not None})
        if cids:
            comms = {
                c["id"]: c["name"]
                for c in await Community.select(Community.id, Community.name).where(Community.id.is_in(cids))
            }
    items = [
        AlertView(
            id=r["id"],
            district_id=r["district"],
            community_id=r["community"],
            community_name=comms.get(r["community"], ""),
            elder_id=r["elder"],
            elder_name=elders.get(r["elder"], {}).get("name", ""),
            address=elders.get(r["elder"], {}).get("address", ""),
            phone=elders.get(r["elder"], {}).get("phone", ""),
            kind=r["kind"],
            service_date=r["service_date"],
            slot=r["slot"],
            detail=dict(r["detail"] or {}),
            raised_at=r["raised_at"],
            status=r["status"],
            acknowledged_by=r["acknowledged_by"],
            acknowledged_at=r["acknowledged_at"],
            closed_at=r["closed_at"],
            resolution_note=r["resolution_note"],
        )
        for r in rows
    ]
    groups: dict[int | None, list[AlertView]] = defaultdict(list)
    for a in items:
        groups[a.community_id].append(a)
    communities = [
        CommunityAlerts(
            community_id=cid,
            community_name=comms.get(cid, "") if cid is not None else "",
            open=sum(a.status == "open" for a in lst),
            items=lst,
        )
        for cid, lst in groups.items()
    ]
    communities.sort(key=lambda c: (-c.open, c.community_name))
    return AlertList(
        district_id=district_id,
        open=sum(a.status == "open" for a in items),
        items=items,
        communities=communities,
    )


async def acknowledge_alert(
    actor: Principal, alert_id: int, note: str, *, close: bool = False, now: dt.datetime | None = None
) -> AlertView:
    """The community worker records what they found: acknowledged, or closed with the note."""
    now = now or utcnow()
    row = await Alert.select(Alert.id, Alert.district, Alert.status).where(Alert.id == alert_id).first()
    if row is None or not actor.can_district(int(row["district"])):
        raise DomainError("not_found", {"alert_id": alert_id})
    if row["status"] == "closed":
        raise DomainError("alert_closed", {"alert_id": alert_id})
    values: dict[Any, Any] = {
        Alert.resolution_note: note[:500],
        Alert.status: "closed" if close else "acknowledged",
    }
    if row["status"] == "open":
        values[Alert.acknowledged_by] = actor.user_id
        values[Alert.acknowledged_at] = now
    if close:
        values[Alert.closed_at] = now
    async with write_transaction():
        await Alert.update(values).where(Alert.id == alert_id)
        await audit.record(
            actor,
            "alert.close" if close else "alert.acknowledge",
            "alert",
            alert_id,
            before={"status": row["status"]},
            after={"status": values[Alert.status], "note": note[:500]},
            district_id=int(row["district"]),
            now=now,
        )
    events.publish(
        [events.district_channel(int(row["district"]))], {"type": "alert_update", "alert_id": alert_id}
    )
    result = await list_alerts(actor, int(row["district"]))
    for a in result.items:
        if a.id == alert_id:
            return a
    raise DomainError("not_found", {"alert_id": alert_id})  # pragma: no cover - beyond the list limit


async def raise_missed_meal_alerts(
    district_id: int, day: dt.date, slot: str, *, now: dt.datetime | None = None
) -> MissedMealOut:
    """Raise "no meal today" for regular diners at risk who have not eaten by the set time.

    At risk: living alone (the ``living_alone`` category or the registry's living
    situation) or disabled (``disabled``, ``semi_disabled``, ``severe_disability``).
    Regular: an active standing order for this slot and weekday, or dine-in on at least
    60% of the district's last (up to) 20 serving days in this slot. Missed: no dine-in
    meal (not voided) and no delivered order for the day and slot; an order the elder
    cancelled counts as a choice, not a miss. Runs after ``MISSED_MEAL_AFTER[slot]``
    (local time, ``missed_meal_too_early`` before); raising twice alerts once.
    """
    # One district in bounded memory, chosen and inserted by the database (issue #15).
    from canteen.delivery.missed import raise_missed_meal_alerts as in_sql  # imports this module

    return await in_sql(district_id, day, slot, now=now)


async def check_missed_meals(actor: Principal, district_id: int, day: dt.date, slot: str) -> MissedMealOut:
    """``raise_missed_meal_alerts`` on behalf of an official of the district (or a scheduler's admin)."""
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    return await raise_missed_meal_alerts(district_id, day, slot)


# ------------------------------------------------------------- hook for care (issue #17 visits)


async def raise_urgent_visit_alert(
    elder_id: int, *, visit_id: int, visitor_id: int, note: str, now: dt.datetime
) -> tuple[int, Any]:
    """The urgent-welfare alert for a home visit recorded by ``canteen.care`` (a community worker
    or volunteer, not a courier at the door). Call it inside the visit's write transaction; call
    the returned ``publish()`` after the commit, so officials see it live only once it exists."""
    place = await _elder_place(elder_id)
    alert_id = await _insert_alert(
        place,
        "urgent_welfare",
        _local_day(now),
        "",
        {"note": note[:500], "visitor_id": visitor_id, "visit_id": visit_id},
        now,
    )
    return alert_id, lambda: _publish_alert(int(place["district"]), alert_id, "urgent_welfare", place)
