"""Regions and sites: the district → street → community tree, operators and sites.

Scope rules (every function takes the actor explicitly and checks them itself):

- admin: anything.
- official: creates and edits streets, communities, operators and sites of their own
  district(s), reads everything there. A site may be run by an operator registered in any
  district of the same city (an operator's home district is where it registered; it serves
  every district it has sites in); an operator of another city is refused
  (``operator_other_city``), so officials list the operators of their city to choose from.
- operator: reads and edits its own sites (not the district, kind, operator or kitchen, not
  ``closed``); never creates.
- cashier, kitchen, courier: read their own sites only.

Refusals follow one rule, so a caller can tell neither more nor less than it may know:
**403 ``forbidden`` when the actor's role can never do this kind of write** (a cashier
editing any site, an operator creating one), decided before any row is read; **404
``not_found`` when the object lies outside the actor's scope** (an official of district X
reading or editing a site of Y, an operator editing another operator's site), exactly as if
the id did not exist — no object is reachable by guessing an id. An actor that may see an
object but not change that part of it (an operator closing its own site) gets 403.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import msgspec
from piccolo.columns.combination import Combinable, Where, WhereRaw
from piccolo.query.methods.select import Select

from canteen.accounts.roles import ADMIN, OFFICIAL, OPERATOR, SITE_ROLES, Principal
from canteen.core import audit
from canteen.core.cache import invalidate
from canteen.core.categories import DEFAULT_MEAL_TYPE, district_meal_types
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, is_sqlite, write_transaction
from canteen.core.errors import DomainError, register
from canteen.regions.lookup import forget_district, forget_site
from canteen.regions.schemas import (
    DEFAULT_LIMIT,
    CityCreate,
    CityView,
    CommunityCreate,
    CommunityList,
    CommunityView,
    DistrictCreate,
    DistrictList,
    DistrictUpdate,
    DistrictView,
    OperatorCreate,
    OperatorList,
    OperatorView,
    ServedDistrict,
    SiteCreate,
    SiteList,
    SiteUpdate,
    SiteView,
    SlotHours,
    StreetCreate,
    StreetList,
    StreetView,
)
from canteen.regions.tables import City, Community, District, Operator, Site, Street

register("site_kitchen_invalid", 422)
register("site_point_type_invalid", 422)
register("site_slots_invalid", 422)
register("district_mismatch", 422)
register("community_street_mismatch", 422)
register("site_status_invalid", 409)
register("operator_other_city", 422)

# Error codes the site write services can give (the API lists them in OpenAPI).
SITE_WRITE_CODES = (
    "not_found",
    "site_kitchen_invalid",
    "site_point_type_invalid",
    "site_slots_invalid",
    "district_mismatch",
    "community_street_mismatch",
    "operator_other_city",
)

INT4_MAX = 2_147_483_647
# An operator edits the running of its own site; who runs it and what it is stay with the district.
OPERATOR_FIELDS = frozenset(
    {
        "name",
        "street_id",
        "community_id",
        "address",
        "lat",
        "lon",
        "seats",
        "meals_per_slot",
        "slots",
        "void_window_minutes",
        "phone",
        "note",
        "residential_utilities",
    }
)
_FK = {
    "district_id": "district",
    "street_id": "street",
    "community_id": "community",
    "operator_id": "operator",
    "kitchen_id": "kitchen",
}
_READ_ROLES = (OFFICIAL, *SITE_ROLES)


# --- scope helpers --------------------------------------------------------------------------


def _valid_id(value: int | None) -> bool:
    # Ids from paths or forms beyond int4 would make PostgreSQL raise: they are simply unknown.
    return value is not None and 1 <= value <= INT4_MAX


def _visible(actor: Principal, district_id: int) -> bool:
    visible = actor.visible_district_ids()
    return visible is None or district_id in visible


# Note: ``Principal.can_site(..., OFFICIAL)`` alone also answers True for the site's own
# staff (an empty role intersection falls back to every site role), so "is this the
# district's official or an admin" is always asked with ``can_district``.


def _require_role(actor: Principal, *roles: str) -> None:
    if not actor.has_role(*roles):
        raise DomainError("forbidden", {"needs_role": list(roles)})


async def _district_row(actor: Principal, district_id: int) -> dict[str, Any]:
    row = None
    if _valid_id(district_id) and _visible(actor, district_id):
        row = await District.select().where(District.id == district_id).first()
    if row is None:
        raise DomainError("not_found", {"district_id": district_id})
    return row


async def _writable_district(actor: Principal, district_id: int) -> dict[str, Any]:
    """The district if the actor may create things in it: admin or its official."""
    _require_role(actor, ADMIN, OFFICIAL)
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    return await _district_row(actor, district_id)


def _page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1]["id"])
    return rows, None


def _after(query: Select, column: Any, cursor: int | None) -> Select:
    if cursor is not None:
        query = query.where(column > min(cursor, INT4_MAX))
    return query


def _in(column: Any, ids: Iterable[int]) -> Where | WhereRaw:
    values = sorted(ids)
    # Piccolo refuses an empty IN list; "nothing" is a false condition.
    return column.is_in(values) if values else WhereRaw("1 = 0")


# --- districts ------------------------------------------------------------------------------


def _district_view(row: dict[str, Any]) -> DistrictView:
    chosen = row.get("meal_types")
    if isinstance(chosen, str | bytes):
        chosen = json.loads(chosen or "[]")
    return msgspec.convert({**row, "meal_types": district_meal_types(chosen)}, DistrictView)


async def create_city(actor: Principal, data: CityCreate, *, now: dt.datetime | None = None) -> CityView:
    """Create a city (admin only); its code (GB/T 2260, e.g. 330100) is unique."""
    _require_role(actor, ADMIN)
    values = msgspec.structs.asdict(data)
    try:
        async with write_transaction():
            rows = await City.insert(City(**values)).returning(City.id)
            city_id = int(rows[0]["id"])
            await audit.record(actor, "city.create", "city", city_id, after=values, now=now)
    except UniqueViolation as exc:
        raise DomainError("duplicate", {"field": "code", "code": data.code}) from exc
    return CityView(id=city_id, **values)


async def list_cities(actor: Principal) -> list[CityView]:
    """Cities the actor may see: all for admin, else those of its districts and its city grants."""
    cities = await City.select().order_by(City.id)
    districts = await District.select(District.id, District.city_id).where(District.city_id.is_not_null())
    by_city: dict[int, list[int]] = {}
    for d in districts:
        by_city.setdefault(int(d["city_id"]), []).append(int(d["id"]))
    visible = actor.visible_district_ids()
    out = []
    for c in cities:
        ids = sorted(by_city.get(int(c["id"]), []))
        if visible is None or actor.can_city(int(c["id"])) or set(ids) & visible:
            out.append(CityView(id=int(c["id"]), name=c["name"], code=c["code"], district_ids=ids))
    return out


async def get_city(actor: Principal, city_id: int) -> CityView:
    """One city the actor oversees (admin or its city official); any other id is ``not_found``."""
    if not (_valid_id(city_id) and actor.can_city(city_id)):
        raise DomainError("not_found", {"city_id": city_id})
    found = next((c for c in await list_cities(actor) if c.id == city_id), None)
    if found is None:
        raise DomainError("not_found", {"city_id": city_id})
    return found


async def create_district(
    actor: Principal, data: DistrictCreate, *, now: dt.datetime | None = None
) -> DistrictView:
    """Create a district (admin only); its code (GB/T 2260) is unique."""
    _require_role(actor, ADMIN)
    values = msgspec.structs.asdict(data)
    if data.city_id is not None:
        city = await City.select(City.name).where(City.id == data.city_id).first()
        if city is None:
            raise DomainError("not_found", {"city_id": data.city_id, "field": "city_id"})
        values["city"] = city["name"]
    try:
        async with write_transaction():
            rows = await District.insert(District(**values)).returning(District.id)
            district_id = int(rows[0]["id"])
            await audit.record(
                actor,
                "district.create",
                "district",
                district_id,
                after=values,
                district_id=district_id,
                now=now,
            )
    except UniqueViolation as exc:
        raise DomainError("duplicate", {"field": "code", "code": data.code}) from exc
    return DistrictView(id=district_id, **values)


async def list_districts(
    actor: Principal, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None
) -> DistrictList:
    """Districts the actor may see: all for admin, else its official districts and its sites' districts."""
    query = District.select().order_by(District.id).limit(limit + 1)
    visible = actor.visible_district_ids()
    if visible is not None:
        query = query.where(_in(District.id, visible))
    rows, nxt = _page(await _after(query, District.id, cursor), limit)
    return DistrictList([_district_view(r) for r in rows], nxt)


async def get_district(actor: Principal, district_id: int) -> DistrictView:
    return _district_view(await _district_row(actor, district_id))


async def update_district(
    actor: Principal, district_id: int, data: DistrictUpdate, *, now: dt.datetime | None = None
) -> DistrictView:
    """Change a district's name, meal-circle radius or meal types (admin, or the district's
    official); audited. The meal types must include ``standard`` (every set is one unless typed)."""
    changes = {f: v for f, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "meal_types" in changes:
        if DEFAULT_MEAL_TYPE not in changes["meal_types"]:
            raise DomainError("validation_failed", {"field": "meal_types", "reason": "standard_required"})
        changes["meal_types"] = district_meal_types(changes["meal_types"])
    async with write_transaction():
        before = _district_view(await _writable_district(actor, district_id))
        old, new = audit.changes({f: getattr(before, f) for f in changes}, changes)
        if not new:
            return before
        await District.update({getattr(District, f): v for f, v in new.items()}).where(
            District.id == district_id
        )
        await audit.record(
            actor,
            "district.update",
            "district",
            district_id,
            before=old,
            after=new,
            district_id=district_id,
            now=now,
        )
    await forget_district(district_id)  # caches: its meal types are read on every menu write
    return msgspec.structs.replace(before, **new)


# --- streets and communities ----------------------------------------------------------------


async def create_street(
    actor: Principal, district_id: int, data: StreetCreate, *, now: dt.datetime | None = None
) -> StreetView:
    """Add a street to a district (admin, or the district's official)."""
    await _writable_district(actor, district_id)
    async with write_transaction():
        rows = await Street.insert(Street(district=district_id, name=data.name)).returning(Street.id)
        street_id = int(rows[0]["id"])
        await audit.record(
            actor,
            "street.create",
            "street",
            street_id,
            after={"name": data.name},
            district_id=district_id,
            now=now,
        )
    return StreetView(street_id, district_id, data.name)


async def list_streets(
    actor: Principal, district_id: int, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None
) -> StreetList:
    await _district_row(actor, district_id)
    query = (
        Street.select(Street.id, Street.district.as_alias("district_id"), Street.name)
        .where(Street.district == district_id)
        .order_by(Street.id)
        .limit(limit + 1)
    )
    rows, nxt = _page(await _after(query, Street.id, cursor), limit)
    return StreetList([msgspec.convert(r, StreetView) for r in rows], nxt)


async def _street_row(actor: Principal, street_id: int) -> dict[str, Any]:
    row = None
    if _valid_id(street_id):
        row = (
            await Street.select(Street.id, Street.district, Street.name).where(Street.id == street_id).first()
        )
    if row is None or not _visible(actor, row["district"]):
        raise DomainError("not_found", {"street_id": street_id})
    return row


async def create_community(
    actor: Principal, street_id: int, data: CommunityCreate, *, now: dt.datetime | None = None
) -> CommunityView:
    """Add a community to a street (admin, or the street's district official)."""
    _require_role(actor, ADMIN, OFFICIAL)
    street = await _street_row(actor, street_id)
    district_id = int(street["district"])
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"street_id": street_id})
    async with write_transaction():
        rows = await Community.insert(
            Community(street=street_id, district=district_id, name=data.name, lat=data.lat, lon=data.lon)
        ).returning(Community.id)
        community_id = int(rows[0]["id"])
        await audit.record(
            actor,
            "community.create",
            "community",
            community_id,
            after=msgspec.structs.asdict(data),
            district_id=district_id,
            now=now,
        )
    return CommunityView(community_id, street_id, district_id, data.name, data.lat, data.lon)


async def list_communities(
    actor: Principal, street_id: int, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None
) -> CommunityList:
    await _street_row(actor, street_id)
    query = (
        Community.select(
            Community.id,
            Community.street.as_alias("street_id"),
            Community.district.as_alias("district_id"),
            Community.name,
            Community.lat,
            Community.lon,
        )
        .where(Community.street == street_id)
        .order_by(Community.id)
        .limit(limit + 1)
    )
    rows, nxt = _page(await _after(query, Community.id, cursor), limit)
    return CommunityList([msgspec.convert(r, CommunityView) for r in rows], nxt)


# --- operators ------------------------------------------------------------------------------

_OPERATOR_COLS = (
    Operator.id,
    Operator.district.as_alias("district_id"),
    Operator.name,
    Operator.kind,
    Operator.contact_name,
    Operator.contact_phone,
)


async def create_operator(
    actor: Principal, data: OperatorCreate, *, now: dt.datetime | None = None
) -> OperatorView:
    """Register an operator in a district (admin, or the district's official)."""
    await _writable_district(actor, data.district_id)
    values = msgspec.structs.asdict(data)
    district_id = values.pop("district_id")
    async with write_transaction():
        rows = await Operator.insert(Operator(district=district_id, **values)).returning(Operator.id)
        operator_id = int(rows[0]["id"])
        await audit.record(
            actor,
            "operator.create",
            "operator",
            operator_id,
            after=msgspec.structs.asdict(data),
            district_id=district_id,
            now=now,
        )
    return OperatorView(id=operator_id, district_id=district_id, **values)


async def city_district_ids(district_ids: Iterable[int]) -> dict[int, int | None]:
    """Each district's city (None: a district not yet placed in a city, a city of its own)."""
    ids = sorted(set(district_ids))
    rows = await District.select(District.id, District.city_id).where(_in(District.id, ids)) if ids else []
    return {int(r["id"]): (int(r["city_id"]) if r["city_id"] is not None else None) for r in rows}


async def same_city(district_a: int, district_b: int) -> bool:
    """Whether two districts lie in one city (a district always lies in its own)."""
    if district_a == district_b:
        return True
    cities = await city_district_ids([district_a, district_b])
    city = cities.get(district_a)
    return city is not None and city == cities.get(district_b)


async def _operator_scope(actor: Principal) -> Combinable | None:
    """Which operators the actor may list (None: all). Those registered in, or running a site in,
    a district it sees (a city official: its city's districts); an official also every operator of
    its districts' cities, to choose from when a site gets an operator."""
    seen = actor.visible_district_ids()
    if seen is None:
        return None
    visible = seen | actor.city_district_ids()
    serving = {
        int(r["operator"])
        for r in await Site.select(Site.operator).where(
            _in(Site.district, visible) & Site.operator.is_not_null()
        )
    }
    homes = set(visible)
    official = actor.district_ids(OFFICIAL)
    if official:
        cities = {c for c in (await city_district_ids(official)).values() if c is not None}
        if cities:
            homes |= {
                int(r["id"]) for r in await District.select(District.id).where(_in(District.city_id, cities))
            }
    return _in(Operator.district, homes) | _in(Operator.id, serving)


async def served_districts(operator_ids: list[int]) -> dict[int, list[ServedDistrict]]:
    """The districts each operator runs sites in, with their names and site counts."""
    if not operator_ids:
        return {}
    rows = await Site.select(
        Site.operator, Site.district, Site.district.name.as_alias("district_name")
    ).where(_in(Site.operator, operator_ids))
    counts: dict[int, dict[int, list[Any]]] = {}
    for r in rows:
        entry = counts.setdefault(int(r["operator"]), {}).setdefault(
            int(r["district"]), [r["district_name"], 0]
        )
        entry[1] += 1
    return {
        op: [ServedDistrict(id=d, name=str(name), sites=n) for d, (name, n) in sorted(by.items())]
        for op, by in counts.items()
    }


async def _operator_views(rows: list[dict[str, Any]]) -> list[OperatorView]:
    served = await served_districts([int(r["id"]) for r in rows])
    return [
        msgspec.convert({**r, "serves": msgspec.to_builtins(served.get(int(r["id"]), []))}, OperatorView)
        for r in rows
    ]


async def list_operators(
    actor: Principal,
    *,
    district_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
) -> OperatorList:
    """Operators the actor may see, each with the districts it serves. ``district_id`` keeps those
    registered in that district or running a site there."""
    query = Operator.select(*_OPERATOR_COLS).order_by(Operator.id).limit(limit + 1)
    scope = await _operator_scope(actor)
    if scope is not None:
        query = query.where(scope)
    if district_id is not None:
        wanted = min(district_id, INT4_MAX)
        query = query.where(
            (Operator.district == wanted)
            | Operator.id.is_in(
                Site.select(Site.operator).where((Site.district == wanted) & Site.operator.is_not_null())
            )
        )
    rows, nxt = _page(await _after(query, Operator.id, cursor), limit)
    return OperatorList(await _operator_views(rows), nxt)


async def get_operator(actor: Principal, operator_id: int) -> OperatorView:
    """One operator the actor may see, with the districts it serves; any other id is ``not_found``."""
    row = None
    if _valid_id(operator_id):
        query = Operator.select(*_OPERATOR_COLS).where(Operator.id == operator_id)
        scope = await _operator_scope(actor)
        row = await (query.where(scope) if scope is not None else query).first()
    if row is None:
        raise DomainError("not_found", {"operator_id": operator_id})
    return (await _operator_views([row]))[0]


# --- sites ----------------------------------------------------------------------------------

_SITE_COLS = (
    Site.id,
    Site.district.as_alias("district_id"),
    Site.street.as_alias("street_id"),
    Site.community.as_alias("community_id"),
    Site.operator.as_alias("operator_id"),
    Site.kitchen.as_alias("kitchen_id"),
    Site.name,
    Site.kind,
    Site.point_type,
    Site.address,
    Site.lat,
    Site.lon,
    Site.seats,
    Site.meals_per_slot,
    Site.status,
    Site.slots,
    Site.void_window_minutes,
    Site.phone,
    Site.note,
    Site.residential_utilities,
    Site.service_radius_m,
    Site.created_at,
    Site.updated_at,
)


def _site_view(row: dict[str, Any]) -> SiteView:
    return msgspec.convert(row, SiteView)


def _site_values(view: SiteView) -> dict[str, Any]:
    """The editable fields of a site as plain values (what audit rows compare)."""
    out = msgspec.to_builtins(view)
    for key in ("id", "created_at", "updated_at"):
        out.pop(key)
    return dict(out)


async def _site_row(actor: Principal, site_id: int, *, lock: bool = False) -> dict[str, Any]:
    row = None
    if _valid_id(site_id):
        query = Site.select(*_SITE_COLS).where(Site.id == site_id).output(load_json=True)
        if lock and not is_sqlite():
            query = query.lock_rows("UPDATE", of=(Site,))
        row = await query.first()
    if row is None or not actor.can_site(site_id, row["district_id"], *_READ_ROLES):
        raise DomainError("not_found", {"site_id": site_id})
    return row


def _check_slots(slots: list[SlotHours]) -> None:
    seen: set[str] = set()
    for s in slots:
        if s.slot in seen:
            raise DomainError("site_slots_invalid", {"field": "slots", "slot": s.slot, "reason": "duplicate"})
        seen.add(s.slot)
        if s.start >= s.end:
            raise DomainError(
                "site_slots_invalid", {"field": "slots", "slot": s.slot, "reason": "start_not_before_end"}
            )


async def _check_reference(
    actor: Principal, table: Any, field: str, ref_id: int | None, district_id: int
) -> dict[str, Any] | None:
    """A referenced row must exist, be visible to the actor and lie in the site's district."""
    if ref_id is None:
        return None
    row = None
    if _valid_id(ref_id):
        row = await table.select().where(table.id == ref_id).first()
    if row is None or not _visible(actor, row["district"]):
        raise DomainError("not_found", {"field": field, field: ref_id})
    if row["district"] != district_id:
        raise DomainError("district_mismatch", {"field": field, field: ref_id})
    return dict(row)


async def _check_operator(operator_id: int | None, district_id: int) -> None:
    """A site's operator may be registered in any district of the site's city: an operator runs
    points across a city under one record (docs/decisions.md). One of another city is refused in
    words; an unknown id is ``not_found``."""
    if operator_id is None:
        return
    row = None
    if _valid_id(operator_id):
        row = await Operator.select(Operator.district).where(Operator.id == operator_id).first()
    if row is None:
        raise DomainError("not_found", {"field": "operator_id", "operator_id": operator_id})
    if not await same_city(int(row["district"]), district_id):
        raise DomainError("operator_other_city", {"field": "operator_id", "operator_id": operator_id})


async def _validate_site(actor: Principal, site: dict[str, Any], site_id: int | None = None) -> None:
    """Cross-field and cross-row rules for a whole site (after a partial update is merged)."""
    district_id = site["district_id"]
    kind, point_type, kitchen_id = site["kind"], site["point_type"], site["kitchen_id"]
    if kind == "central_kitchen" and point_type is not None:
        raise DomainError("site_point_type_invalid", {"field": "point_type"})
    if kind == "meal_point" and point_type is None:
        raise DomainError("site_point_type_invalid", {"field": "point_type"})
    if point_type == "satellite":
        if kitchen_id is None or kitchen_id == site_id:
            raise DomainError("site_kitchen_invalid", {"field": "kitchen_id", "reason": "required"})
        kitchen = await _check_reference(actor, Site, "kitchen_id", kitchen_id, district_id)
        if kitchen is None or kitchen["kind"] != "central_kitchen":
            raise DomainError(
                "site_kitchen_invalid", {"field": "kitchen_id", "reason": "not_a_central_kitchen"}
            )
    elif kitchen_id is not None:
        raise DomainError("site_kitchen_invalid", {"field": "kitchen_id", "reason": "only_satellites"})
    await _check_reference(actor, Street, "street_id", site["street_id"], district_id)
    community = await _check_reference(actor, Community, "community_id", site["community_id"], district_id)
    if community is not None and site["street_id"] is not None and community["street"] != site["street_id"]:
        raise DomainError("community_street_mismatch", {"field": "community_id"})
    await _check_operator(site["operator_id"], district_id)
    _check_slots(site["slots"])


def _columns(values: dict[str, Any]) -> dict[Any, Any]:
    """View keys → Piccolo columns (``kitchen_id`` → ``Site.kitchen``); slots as plain JSON."""
    out: dict[Any, Any] = {}
    for key, value in values.items():
        column = Site._meta.get_column_by_name(_FK.get(key, key))
        out[column] = msgspec.to_builtins(value) if key == "slots" else value
    return out


async def create_site(actor: Principal, data: SiteCreate, *, now: dt.datetime | None = None) -> SiteView:
    """Create a kitchen or meal point (admin, or the district's official)."""
    await _writable_district(actor, data.district_id)
    values = msgspec.structs.asdict(data)
    await _validate_site(actor, values)
    now = now or utcnow()
    async with write_transaction():
        rows = await Site.insert(
            Site(**{c._meta.name: v for c, v in _columns(values).items()}, created_at=now, updated_at=now)
        ).returning(Site.id)
        site_id = int(rows[0]["id"])
        view = _site_view(await _site_row(actor, site_id))
        await audit.record(
            actor,
            "site.create",
            "site",
            site_id,
            after=_site_values(view),
            district_id=data.district_id,
            now=now,
        )
    return view


async def get_site(actor: Principal, site_id: int) -> SiteView:
    """One site the actor may read; any other id is ``not_found``."""
    return _site_view(await _site_row(actor, site_id))


async def update_site(
    actor: Principal, site_id: int, data: SiteUpdate, *, now: dt.datetime | None = None
) -> SiteView:
    """Change some fields of a site (admin, its district's official, its operator)."""
    _require_role(actor, ADMIN, OFFICIAL, OPERATOR)
    changes = {f: v for f, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    now = now or utcnow()
    async with write_transaction():
        row = await _site_row(actor, site_id, lock=True)
        if not actor.can_site(site_id, row["district_id"], OFFICIAL, OPERATOR):
            raise DomainError("forbidden", {"site_id": site_id})
        before = _site_view(row)
        if not actor.can_district(row["district_id"]):
            # Sending a locked field unchanged is fine (a form posts every field).
            current = msgspec.structs.asdict(before)
            locked = sorted(f for f in set(changes) - OPERATOR_FIELDS if changes[f] != current[f])
            if locked:
                raise DomainError("forbidden", {"fields": locked})
        merged = {**msgspec.structs.asdict(before), **changes}
        await _validate_site(actor, merged, site_id)
        if before.kind == "central_kitchen" and merged["kind"] != "central_kitchen":
            if await Site.exists().where(Site.kitchen == site_id):
                raise DomainError(
                    "site_kitchen_invalid", {"field": "kind", "reason": "kitchen_supplies_satellites"}
                )
        after = msgspec.convert(
            {**msgspec.to_builtins(merged), "created_at": before.created_at, "updated_at": now}, SiteView
        )
        old, new = audit.changes(_site_values(before), _site_values(after))
        if not new:
            return before
        await Site.update({**_columns(changes), Site.updated_at: now}).where(Site.id == site_id)
        await audit.record(
            actor,
            "site.update",
            "site",
            site_id,
            before=old,
            after=new,
            district_id=row["district_id"],
            now=now,
        )
    await forget_site(site_id)  # caches: the counter caches serving hours and operators
    if {"kind", "point_type", "kitchen_id"} & set(new):
        await invalidate("menus")  # caches: a satellite's cached menus are its kitchen's
    return after


async def set_site_status(
    actor: Principal, site_id: int, status: str, *, note: str = "", now: dt.datetime | None = None
) -> SiteView:
    """Plan, open, pause or close a site. Closing is the district's decision, not the operator's."""
    _require_role(actor, ADMIN, OFFICIAL, OPERATOR)
    now = now or utcnow()
    async with write_transaction():
        row = await _site_row(actor, site_id, lock=True)
        if not actor.can_site(site_id, row["district_id"], OFFICIAL, OPERATOR):
            raise DomainError("forbidden", {"site_id": site_id})
        official = actor.can_district(row["district_id"])
        if not official and "closed" in (status, row["status"]):
            raise DomainError("forbidden", {"status": status, "reason": "closing_is_for_officials"})
        if status == "planned" and row["status"] != "planned":
            raise DomainError("site_status_invalid", {"from": row["status"], "to": status})
        before = _site_view(row)
        if row["status"] == status:
            return before
        await Site.update({Site.status: status, Site.updated_at: now}).where(Site.id == site_id)
        await audit.record(
            actor,
            "site.status",
            "site",
            site_id,
            before={"status": row["status"]},
            after={"status": status},
            district_id=row["district_id"],
            note=note,
            now=now,
        )
    await forget_site(site_id)  # caches: the counter refuses a point that is not open
    return msgspec.structs.replace(before, status=status, updated_at=now)


async def list_sites(
    actor: Principal,
    *,
    district_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
) -> SiteList:
    """Sites the actor may read, filtered, in id order, one page at a time."""
    query = Site.select(*_SITE_COLS).order_by(Site.id).limit(limit + 1).output(load_json=True)
    if not actor.is_admin:
        query = query.where(_in(Site.district, actor.district_ids(OFFICIAL)) | _in(Site.id, actor.site_ids()))
    if district_id is not None:
        query = query.where(Site.district == min(district_id, INT4_MAX))
    if kind is not None:
        query = query.where(Site.kind == kind)
    if status is not None:
        query = query.where(Site.status == status)
    rows, nxt = _page(await _after(query, Site.id, cursor), limit)
    return SiteList([_site_view(r) for r in rows], nxt)
