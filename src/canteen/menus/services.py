"""Dishes, daily menus and meal-set capacity.

Who cooks decides whose menu it is: a canteen, a partner restaurant or a central kitchen
holds menus; a satellite point serves its kitchen's menu (``Site.kitchen``), so
``menu_for(satellite, …)`` answers with the kitchen's menu and a satellite cannot hold
one of its own (``menu_not_cooking_site``).

Decisions written down here:

- **Set diet tags** are the *intersection* of the tags of the set's dishes: a set is
  "soft" only if every dish in it is soft — what the counter tells a soft-diet elder must
  hold for the whole tray. A set without dishes carries no tags.
- **Default cut-off** (last moment to order the menu for delivery) comes from the site's
  slot config ``{"start", "cutoff"}`` (``"HH:MM"`` in the service zone): on the day before
  the service day when ``cutoff > start`` (breakfast at 06:30 with cut-off 18:00 means
  18:00 the evening before), otherwise on the same day. A central kitchen has no serving
  hours of its own: it takes the earliest cut-off among its satellites for that slot, and
  falls back to ``DEFAULT_SLOT_TIMES`` when none serves the slot.
- **Editing a menu** matches sets by name: a set with the same name is updated in place
  (its portions sold are kept, and capacity cannot go below them); a set left out is
  deleted only if nothing was sold from it (``meal_set_in_use`` otherwise).
- **Capacity**: ``take_portion`` is one conditional UPDATE, so concurrent check-ins can
  never sell more than ``portions_available``; call it inside the caller's transaction
  so a refused payment rolls the portion back too.

Actors: a ``Principal`` is checked against the site or district; a ``SystemActor`` (CLI,
demo loader) is trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from canteen.accounts.roles import KITCHEN, OFFICIAL, OPERATOR, SITE_ROLES, Principal
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.cache import TTLCache, invalidate
from canteen.core.categories import DIET_TAGS, SLOTS, sorted_allergens
from canteen.core.clock import UTC, utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.menus.rules import set_allergens, set_texture
from canteen.menus.schemas import (
    CopyWeekResult,
    DishCreate,
    DishList,
    DishUpdate,
    DishView,
    MealSetIn,
    MealSetView,
    MenuList,
    MenuView,
)
from canteen.menus.tables import DailyMenu, Dish, MealSet
from canteen.regions.lookup import meal_types_of
from canteen.regions.tables import District, Site
from canteen.settings import get_settings
from canteen.subsidies.schemas import DEFAULT_MEAL_TYPE

register("sold_out", 409)
register("menu_not_cooking_site", 409)
register("slot_not_served", 422)
register("meal_set_in_use", 409)
register("portions_below_sold", 409)
# Same text as canteen.checkin.services registers (a code is registered once, identically).
register("no_menu", 409)
register("meal_type_not_served", 422)

Actor = Principal | SystemActor
MENU_WRITE_CODES = (
    "not_found",
    "menu_not_cooking_site",
    "meal_type_not_served",
    "slot_not_served",
    "meal_set_in_use",
    "portions_below_sold",
    "duplicate",
)
# Serving hours a central kitchen falls back to when no satellite serves the slot.
DEFAULT_SLOT_TIMES: dict[str, dict[str, str]] = {
    "breakfast": {"start": "06:30", "cutoff": "18:00"},
    "lunch": {"start": "10:30", "cutoff": "09:00"},
    "dinner": {"start": "16:30", "cutoff": "14:00"},
}
MAX_RANGE_DAYS = 62


# --- scope ---------------------------------------------------------------------------------


# The counter reads the menu for every scan; it changes rarely. Prices and sets come from this
# cache, keyed by the site that serves (a satellite's entry holds its kitchen's menu); a menu
# write evicts the cooking site's and its satellites' entries in every process (``_forget``),
# a dish edit the whole cache; the TTL is the bound only while Redis is away. Portions are not
# decided here but by take_portion's conditional UPDATE in the check-in transaction.
# A city: 1,500 points x 3 slots today, and the days ahead that delivery orders price.
_SERVED: TTLCache[tuple[int, dt.date, str], MenuView | None] = TTLCache("menus", ttl=15.0, maxsize=32768)


async def _forget(site_id: int, menus: Sequence[tuple[dt.date, str]]) -> None:
    """After menus of a cooking site have been written: evict them where they are served."""
    if not menus:
        return
    satellites = await Site.select(Site.id).where(Site.kitchen == site_id)
    sites = [site_id, *(int(r["id"]) for r in satellites)]
    await invalidate("menus", *((s, day, slot) for s in sites for day, slot in menus))


async def _site(site_id: int) -> dict[str, Any]:
    row = (
        await Site.select(
            Site.id, Site.district, Site.kind, Site.point_type, Site.kitchen, Site.slots, Site.name
        )
        .where(Site.id == site_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    return row


async def site_brief(actor: Actor, site_id: int) -> dict[str, Any]:
    """id, district, kind, point_type, kitchen, slots and name of a site the actor may see."""
    site = await _site(site_id)
    if not _may_read_site(actor, site):
        raise DomainError("not_found", {"site_id": site_id})
    return site


def _may_read_site(actor: Actor, site: dict[str, Any]) -> bool:
    if not isinstance(actor, Principal):
        return True
    return actor.can_site(site["id"], site["district"], OFFICIAL, *SITE_ROLES)


def _check_menu_writer(actor: Actor, site: dict[str, Any]) -> None:
    if not isinstance(actor, Principal):
        return
    if actor.can_site(site["id"], site["district"], OPERATOR, KITCHEN, OFFICIAL):
        return
    if _may_read_site(actor, site):
        raise DomainError("forbidden", {"site_id": site["id"]})
    raise DomainError("not_found", {"site_id": site["id"]})


def _check_dish_writer(actor: Actor, district_id: int) -> None:
    if not isinstance(actor, Principal) or actor.can_district(district_id):
        return
    sites = actor.site_ids(OPERATOR, KITCHEN)
    if any(actor.site_districts.get(s) == district_id for s in sites):
        return
    raise DomainError("forbidden", {"district_id": district_id})


def _check_dish_reader(actor: Actor, district_id: int) -> None:
    if not isinstance(actor, Principal):
        return
    visible = actor.visible_district_ids()
    if visible is not None and district_id not in visible:
        raise DomainError("not_found", {"district_id": district_id})


async def _cooking_site(site: dict[str, Any]) -> dict[str, Any]:
    """The site whose menu ``site`` serves: itself, or a satellite's kitchen."""
    if site["point_type"] == "satellite" and site["kitchen"]:
        return await _site(int(site["kitchen"]))
    return site


# --- dishes --------------------------------------------------------------------------------


def _dish_view(row: dict[str, Any]) -> DishView:
    return DishView(
        id=row["id"],
        district_id=row["district"],
        name=row["name"],
        diet_tags=list(row["diet_tags"] or []),
        allergens=sorted_allergens(row["allergens"] or []),
        active=bool(row["active"]),
        allergen_note=row.get("allergen_note") or "",
        texture_level=row.get("texture_level"),
    )


_DISH_COLS = (
    Dish.id,
    Dish.district,
    Dish.name,
    Dish.diet_tags,
    Dish.allergens,
    Dish.active,
    Dish.allergen_note,
    Dish.texture_level,
)


async def _dish_row(dish_id: int) -> dict[str, Any]:
    row = await Dish.select(*_DISH_COLS).where(Dish.id == dish_id).first().output(load_json=True)
    if row is None:
        raise DomainError("not_found", {"dish_id": dish_id})
    return row


def _tags(tags: Iterable[str]) -> list[str]:
    # Canonical order, unknown codes dropped: the Struct already refused them at the edge.
    wanted = set(tags)
    return [
        t
        for t in ("low_salt", "low_sugar", "soft", "no_pork", "vegetarian")
        if t in wanted and t in DIET_TAGS
    ]


async def create_dish(actor: Actor, data: DishCreate, *, now: dt.datetime | None = None) -> DishView:
    """Add a dish to a district's list (admin, the district's official, its operators and kitchens)."""
    now = now or utcnow()
    _check_dish_writer(actor, data.district_id)
    if not await District.exists().where(District.id == data.district_id):
        raise DomainError("not_found", {"district_id": data.district_id})  # found by fuzzing: was a 500
    async with write_transaction():
        rows = await Dish.insert(
            Dish(
                district=data.district_id,
                name=data.name,
                diet_tags=_tags(data.diet_tags),
                allergens=sorted_allergens(data.allergens),
                allergen_note=data.allergen_note.strip(),
                texture_level=data.texture_level,
                active=True,
                created_at=now,
                updated_at=now,
            )
        ).returning(Dish.id)
        dish_id = int(rows[0]["id"])
        await audit.record(
            actor,
            "dish.create",
            "dish",
            dish_id,
            after={
                "name": data.name,
                "allergens": sorted_allergens(data.allergens),
                "texture_level": data.texture_level,
            },
            district_id=data.district_id,
            now=now,
        )
    return _dish_view(await _dish_row(dish_id))


async def _refresh_sets_with(dish_id: int | None, district_id: int, since: dt.date) -> None:
    """Recompute allergens and texture of the sets holding ``dish_id`` (every set when None) on
    menus from ``since`` on (inside the caller's transaction): a dish found to contain shrimp
    tomorrow makes tomorrow's sets with it refuse a shrimp-allergic elder. Past menus keep what
    was served."""
    sets = (
        await MealSet.select(MealSet.id, MealSet.dish_ids)
        .where(
            (MealSet.menu.service_date >= since - dt.timedelta(days=1))
            # Piccolo types a two-step join's column as Column | Any: the join is real.
            & (MealSet.menu.site.district == district_id)  # type: ignore[union-attr]
        )
        .output(load_json=True)
    )
    holding = [s for s in sets if dish_id is None or dish_id in (s["dish_ids"] or [])]
    if not holding:
        return
    wanted = {int(d) for s in holding for d in s["dish_ids"] or []}
    dishes = {
        int(r["id"]): r
        for r in await Dish.select(Dish.id, Dish.allergens, Dish.texture_level)
        .where(Dish.id.is_in(list(wanted)))
        .output(load_json=True)
    }
    for s in holding:
        parts = [dishes[int(d)] for d in s["dish_ids"] or [] if int(d) in dishes]
        await MealSet.update(
            {
                MealSet.allergens: set_allergens([p["allergens"] or [] for p in parts]),
                MealSet.texture_level: set_texture([p["texture_level"] for p in parts]),
            }
        ).where(MealSet.id == s["id"])


async def refresh_set_contents(district_id: int, since: dt.date) -> None:
    """Recompute every set's allergens and texture on the district's menus from ``since`` on
    (the demo loader, after it gave its dishes codes and levels)."""
    async with write_transaction():
        await _refresh_sets_with(None, district_id, since)
    await invalidate("menus")


async def update_dish(
    actor: Actor, dish_id: int, data: DishUpdate, *, now: dt.datetime | None = None
) -> DishView:
    """Rename a dish, change its tags or allergens, or retire it (``active=False``)."""
    now = now or utcnow()
    async with write_transaction():
        row = await _dish_row(dish_id)
        _check_dish_reader(actor, row["district"])
        _check_dish_writer(actor, row["district"])
        values: dict[Any, Any] = {Dish.updated_at: now}
        after: dict[str, Any] = {}
        if data.name is not None:
            values[Dish.name] = after["name"] = data.name
        if data.diet_tags is not None:
            values[Dish.diet_tags] = after["diet_tags"] = _tags(data.diet_tags)
        if data.allergens is not None:
            values[Dish.allergens] = after["allergens"] = sorted_allergens(data.allergens)
        if data.allergen_note is not None:
            values[Dish.allergen_note] = after["allergen_note"] = data.allergen_note.strip()
        if data.texture_level is not None:
            level = None if data.texture_level < 0 else data.texture_level
            values[Dish.texture_level] = after["texture_level"] = level
        if data.active is not None:
            values[Dish.active] = after["active"] = data.active
        await Dish.update(values).where(Dish.id == dish_id)
        if "allergens" in after or "texture_level" in after:
            await _refresh_sets_with(dish_id, row["district"], (now or utcnow()).date())
        before = {k: row[k] for k in after}
        await audit.record(
            actor,
            "dish.update",
            "dish",
            dish_id,
            before=before,
            after=after,
            district_id=row["district"],
            now=now,
        )
    # A dish's name, tags or allergens show on every menu that holds it: read them afresh.
    await invalidate("menus")
    return _dish_view(await _dish_row(dish_id))


async def get_dish(actor: Actor, dish_id: int) -> DishView:
    row = await _dish_row(dish_id)
    _check_dish_reader(actor, row["district"])
    return _dish_view(row)


async def list_dishes(actor: Actor, district_id: int, *, include_inactive: bool = False) -> DishList:
    """The district's dishes by name."""
    _check_dish_reader(actor, district_id)
    query = Dish.select(*_DISH_COLS).where(Dish.district == district_id)
    if not include_inactive:
        query = query.where(Dish.active.eq(True))
    rows = await query.order_by(Dish.name).output(load_json=True)
    return DishList([_dish_view(r) for r in rows])


# --- menus ---------------------------------------------------------------------------------


def _hhmm(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def cutoff_from_config(cfg: dict[str, str], day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The cut-off moment (UTC) for ``day`` from a slot config: the day before when the
    cut-off time is after the start time, else the same day."""
    start, cutoff = _hhmm(cfg["start"]), _hhmm(cfg["cutoff"])
    cut_day = day - dt.timedelta(days=1) if cutoff > start else day
    return dt.datetime.combine(cut_day, cutoff, tzinfo=tz).astimezone(UTC)


def _slot_config(site: dict[str, Any], slot: str) -> dict[str, str] | None:
    for cfg in site.get("slots") or []:
        if cfg.get("slot") == slot and cfg.get("start") and cfg.get("cutoff"):
            return dict(cfg)
    return None


async def default_cutoff(site: dict[str, Any], day: dt.date, slot: str) -> dt.datetime:
    tz = get_settings().tz
    cfg = _slot_config(site, slot)
    if cfg is not None:
        return cutoff_from_config(cfg, day, tz)
    satellites = await Site.select(Site.slots).where(Site.kitchen == site["id"]).output(load_json=True)
    moments = [cutoff_from_config(c, day, tz) for s in satellites if (c := _slot_config(s, slot)) is not None]
    if moments:
        return min(moments)
    return cutoff_from_config(DEFAULT_SLOT_TIMES[slot], day, tz)


def _check_slot(site: dict[str, Any], slot: str) -> None:
    if slot not in SLOTS:
        raise DomainError("validation_failed", {"field": "slot"})
    if site["point_type"] == "satellite":
        raise DomainError("menu_not_cooking_site", {"kitchen_id": site["kitchen"]})
    served = [c.get("slot") for c in site.get("slots") or []]
    if site["kind"] == "meal_point" and served and slot not in served:
        raise DomainError("slot_not_served", {"slot": slot, "served": served})


async def _dishes_for(site: dict[str, Any], sets: Sequence[MealSetIn]) -> dict[int, dict[str, Any]]:
    wanted = {d for s in sets for d in s.dish_ids}
    if not wanted:
        return {}
    rows = (
        await Dish.select(Dish.id, Dish.name, Dish.diet_tags, Dish.allergens, Dish.texture_level)
        .where(Dish.id.is_in(list(wanted)) & (Dish.district == site["district"]))
        .output(load_json=True)
    )
    found = {int(r["id"]): r for r in rows}
    missing = sorted(wanted - set(found))
    if missing:
        raise DomainError("validation_failed", {"field": "dish_ids", "unknown": missing})
    return found


def set_diet_tags(dish_tags: Sequence[Iterable[str]]) -> list[str]:
    """Tags every dish of a set shares (the intersection); none for a set without dishes."""
    if not dish_tags:
        return []
    common = set(dish_tags[0])
    for tags in dish_tags[1:]:
        common &= set(tags)
    return _tags(common)


async def _menu_view(menu: dict[str, Any]) -> MenuView:
    sets = (
        await MealSet.select(
            MealSet.id,
            MealSet.name,
            MealSet.list_price_fen,
            MealSet.dish_ids,
            MealSet.diet_tags,
            MealSet.portions_available,
            MealSet.portions_sold,
            MealSet.sort_order,
            MealSet.meal_type,
            MealSet.allergens,
            MealSet.texture_level,
        )
        .where(MealSet.menu == menu["id"])
        .order_by(MealSet.sort_order)
        .order_by(MealSet.id)
        .output(load_json=True)
    )
    dish_ids = {d for s in sets for d in s["dish_ids"] or []}
    names: dict[int, str] = {}
    if dish_ids:
        for r in await Dish.select(Dish.id, Dish.name).where(Dish.id.is_in(list(dish_ids))):
            names[int(r["id"])] = r["name"]
    return MenuView(
        id=menu["id"],
        site_id=menu["site"],
        service_date=menu["service_date"],
        slot=menu["slot"],
        cutoff_at=menu["cutoff_at"],
        published=bool(menu["published"]),
        sets=[
            MealSetView(
                id=s["id"],
                name=s["name"],
                list_price_fen=s["list_price_fen"],
                dish_ids=list(s["dish_ids"] or []),
                dish_names=[names.get(d, "") for d in s["dish_ids"] or []],
                diet_tags=list(s["diet_tags"] or []),
                portions_available=s["portions_available"],
                portions_sold=s["portions_sold"],
                sort_order=s["sort_order"],
                meal_type=s["meal_type"] or "standard",
                allergens=sorted_allergens(s["allergens"] or []),
                texture_level=s["texture_level"],
            )
            for s in sets
        ],
    )


_MENU_COLS = (
    DailyMenu.id,
    DailyMenu.site,
    DailyMenu.service_date,
    DailyMenu.slot,
    DailyMenu.cutoff_at,
    DailyMenu.published,
)


async def _menu_row(site_id: int, day: dt.date, slot: str) -> dict[str, Any] | None:
    return await (
        DailyMenu.select(*_MENU_COLS)
        .where((DailyMenu.site == site_id) & (DailyMenu.service_date == day) & (DailyMenu.slot == slot))
        .first()
    )


async def _write_menu(
    actor: Actor,
    site: dict[str, Any],
    day: dt.date,
    slot: str,
    sets: Sequence[MealSetIn],
    cutoff_at: dt.datetime | None,
    now: dt.datetime,
) -> int:
    """Create or replace one menu inside the caller's transaction; returns the menu id."""
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise DomainError("validation_failed", {"field": "sets", "reason": "duplicate set names"})
    dishes = await _dishes_for(site, sets)
    cutoff = cutoff_at or await default_cutoff(site, day, slot)
    if cutoff.tzinfo is None:
        raise DomainError("validation_failed", {"field": "cutoff_at", "reason": "needs a time zone offset"})
    menu = await _menu_row(site["id"], day, slot)
    actor_id = actor.user_id
    if menu is None:
        rows = await DailyMenu.insert(
            DailyMenu(
                site=site["id"],
                service_date=day,
                slot=slot,
                cutoff_at=cutoff,
                published=True,
                updated_at=now,
                updated_by=actor_id,
            )
        ).returning(DailyMenu.id)
        menu_id = int(rows[0]["id"])
        existing: dict[str, dict[str, Any]] = {}
    else:
        menu_id = int(menu["id"])
        await DailyMenu.update(
            {DailyMenu.cutoff_at: cutoff, DailyMenu.updated_at: now, DailyMenu.updated_by: actor_id}
        ).where(DailyMenu.id == menu_id)
        existing = {
            r["name"]: r
            for r in await MealSet.select(MealSet.id, MealSet.name, MealSet.portions_sold).where(
                MealSet.menu == menu_id
            )
        }
    for gone in set(existing) - set(names):
        if existing[gone]["portions_sold"] > 0:
            raise DomainError(
                "meal_set_in_use", {"name": gone, "portions_sold": existing[gone]["portions_sold"]}
            )
        await MealSet.delete().where(MealSet.id == existing[gone]["id"])
    for order, s in enumerate(sets):
        tags = set_diet_tags([dishes[d]["diet_tags"] or [] for d in s.dish_ids])
        values: dict[str, Any] = {
            "list_price_fen": s.list_price_fen,
            "dish_ids": list(s.dish_ids),
            "diet_tags": tags,
            "allergens": set_allergens([dishes[d]["allergens"] or [] for d in s.dish_ids]),
            "texture_level": set_texture([dishes[d]["texture_level"] for d in s.dish_ids]),
            "portions_available": s.portions_available,
            "sort_order": order,
        }
        if s.meal_type is not None:
            values["meal_type"] = s.meal_type
        old = existing.get(s.name)
        if old is None:
            values.setdefault("meal_type", DEFAULT_MEAL_TYPE)
            await MealSet.insert(MealSet(menu=menu_id, name=s.name, portions_sold=0, **values))
            continue
        if s.portions_available is not None and s.portions_available < old["portions_sold"]:
            raise DomainError("portions_below_sold", {"name": s.name, "portions_sold": old["portions_sold"]})
        await MealSet.update({getattr(MealSet, k): v for k, v in values.items()}).where(
            MealSet.id == old["id"]
        )
    await audit.record(
        actor,
        "menu.set",
        "daily_menu",
        menu_id,
        after={
            "site_id": site["id"],
            "date": day.isoformat(),
            "slot": slot,
            "sets": [
                {"name": s.name, "list_price_fen": s.list_price_fen, "meal_type": s.meal_type} for s in sets
            ],
        },
        district_id=site["district"],
        now=now,
    )
    return menu_id


async def set_menu(
    actor: Actor,
    site_id: int,
    day: dt.date,
    slot: str,
    sets: Sequence[MealSetIn],
    *,
    cutoff_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> MenuView:
    """Create or replace the menu a cooking site serves on ``day`` in ``slot``.

    Operators and kitchen staff of the site, the district's officials and admins may.
    ``cutoff_at`` defaults from the site's slot config (see the module docstring).
    """
    now = now or utcnow()
    site = await _site(site_id)
    _check_menu_writer(actor, site)
    _check_slot(site, slot)
    if not sets:
        raise DomainError("validation_failed", {"field": "sets"})
    served = await meal_types_of(int(site["district"]))
    for s in sets:
        if s.meal_type is not None and s.meal_type not in served:
            raise DomainError(
                "meal_type_not_served", {"field": "meal_type", "meal_type": s.meal_type, "served": served}
            )
    try:
        async with write_transaction():
            menu_id = await _write_menu(actor, site, day, slot, sets, cutoff_at, now)
    except UniqueViolation as exc:
        # Two editors creating the same menu at once: the loser retries on a fresh page.
        raise DomainError("duplicate", {"site_id": site_id, "date": day.isoformat(), "slot": slot}) from exc
    await _forget(site_id, [(day, slot)])
    menu = await DailyMenu.select(*_MENU_COLS).where(DailyMenu.id == menu_id).first()
    assert menu is not None
    return await _menu_view(menu)


async def copy_week(
    actor: Actor,
    site_id: int,
    from_monday: dt.date,
    to_monday: dt.date,
    *,
    now: dt.datetime | None = None,
) -> CopyWeekResult:
    """Copy a week's menus (Monday to Sunday) onto another week. Menus that already exist
    in the target week are kept, never overwritten; cut-offs are recomputed for the new days."""
    now = now or utcnow()
    for field, day in (("from_monday", from_monday), ("to_monday", to_monday)):
        if day.weekday() != 0:
            raise DomainError("validation_failed", {"field": field, "reason": "not a Monday"})
    if from_monday == to_monday:
        raise DomainError("validation_failed", {"field": "to_monday", "reason": "same week"})
    site = await _site(site_id)
    _check_menu_writer(actor, site)
    if site["point_type"] == "satellite":
        raise DomainError("menu_not_cooking_site", {"kitchen_id": site["kitchen"]})
    shift = to_monday - from_monday
    copied = skipped = 0
    written: list[tuple[dt.date, str]] = []
    async with write_transaction():
        menus = await DailyMenu.select(*_MENU_COLS).where(
            (DailyMenu.site == site_id)
            & (DailyMenu.service_date >= from_monday)
            & (DailyMenu.service_date < from_monday + dt.timedelta(days=7))
        )
        for menu in menus:
            target = menu["service_date"] + shift
            if await _menu_row(site_id, target, menu["slot"]) is not None:
                skipped += 1
                continue
            sets = await (
                MealSet.select(
                    MealSet.name,
                    MealSet.list_price_fen,
                    MealSet.dish_ids,
                    MealSet.portions_available,
                    MealSet.meal_type,
                )
                .where(MealSet.menu == menu["id"])
                .order_by(MealSet.sort_order)
                .output(load_json=True)
            )
            if not sets:
                skipped += 1
                continue
            await _write_menu(
                actor, site, target, menu["slot"], msgspec.convert(sets, list[MealSetIn]), None, now
            )
            copied += 1
            written.append((target, menu["slot"]))
    await _forget(site_id, written)
    return CopyWeekResult(copied=copied, skipped=skipped)


async def menu_for(site_id: int, day: dt.date, slot: str) -> MenuView | None:
    """The published menu served at ``site_id`` (a satellite gets its kitchen's), or None."""
    site = await _cooking_site(await _site(site_id))
    menu = await _menu_row(site["id"], day, slot)
    if menu is None or not menu["published"]:
        return None
    return await _menu_view(menu)


async def list_menus(actor: Actor, site_id: int, start: dt.date, end: dt.date) -> MenuList:
    """Menus served at a site from ``start`` to ``end`` inclusive (at most 62 days)."""
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise DomainError("validation_failed", {"field": "to", "reason": f"1 to {MAX_RANGE_DAYS} days"})
    own = await _site(site_id)
    if not _may_read_site(actor, own):
        raise DomainError("not_found", {"site_id": site_id})
    site = await _cooking_site(own)
    menus = (
        await DailyMenu.select(*_MENU_COLS)
        .where(
            (DailyMenu.site == site["id"])
            & (DailyMenu.service_date >= start)
            & (DailyMenu.service_date <= end)
        )
        .order_by(DailyMenu.service_date)
        .order_by(DailyMenu.slot)
    )
    return MenuList([await _menu_view(m) for m in menus])


async def meal_set_for(site_id: int, day: dt.date, slot: str, meal_set_id: int | None) -> MealSetView:
    """The chosen set on the menu served at ``site_id``, or the menu's first set.

    Raises ``no_menu`` when nothing is on the menu and ``not_found`` for a set not on it.
    """
    hit, menu = _SERVED.get((site_id, day, slot))
    if not hit:
        menu = await menu_for(site_id, day, slot)
        _SERVED.set((site_id, day, slot), menu)
    if menu is None or not menu.sets:
        raise DomainError("no_menu", {"site_id": site_id, "date": day.isoformat(), "slot": slot})
    if meal_set_id is None:
        return menu.sets[0]
    for s in menu.sets:
        if s.id == meal_set_id:
            return s
    raise DomainError("not_found", {"meal_set_id": meal_set_id})


async def take_portion(meal_set_id: int) -> bool:
    """Take one portion of a set: ONE conditional UPDATE, safe under concurrency.

    Call it inside the caller's write transaction. Returns True when a portion was
    taken; raises ``sold_out`` (409) when none is left and ``not_found`` for an unknown set.
    """
    rows = await MealSet.raw(
        "UPDATE meal_set SET portions_sold = portions_sold + 1 "
        "WHERE id = {} AND (portions_available IS NULL OR portions_sold < portions_available) "
        "RETURNING id",
        meal_set_id,
    )
    if rows:
        return True
    if not await MealSet.exists().where(MealSet.id == meal_set_id):
        raise DomainError("not_found", {"meal_set_id": meal_set_id})
    raise DomainError("sold_out", {"meal_set_id": meal_set_id})


async def release_portion(meal_set_id: int) -> None:
    """Give a portion back (a voided meal); never below zero. Inside the caller's transaction."""
    await MealSet.raw(
        "UPDATE meal_set SET portions_sold = portions_sold - 1 WHERE id = {} AND portions_sold > 0",
        meal_set_id,
    )
