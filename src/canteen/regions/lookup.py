"""The facts about a site that every meal needs, read once and cached per process.

The counter, delivery orders, the quotes API and the pages all price and record meals at a
site; they all read the site here, so the street a site belongs to is decided in one place:
the site's own street, else the street of its community, else none (0 for the rules).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from canteen.core.cache import TTLCache, invalidate
from canteen.core.categories import district_meal_types
from canteen.core.errors import DomainError, register
from canteen.regions.tables import District, Site

# A card of another city: its subsidy is that city's to decide and to pay.
register("card_other_city", 409)


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: int
    name: str
    district_id: int
    street_id: int | None  # the site's street, or its community's: see resolve_street
    operator_id: int | None
    kind: str
    status: str
    slots: list[dict[str, Any]]
    void_window_minutes: int

    @property
    def serves_meals(self) -> bool:
        """An open meal point (a kitchen only cooks; a closed or paused point serves nobody)."""
        return self.kind == "meal_point" and self.status == "open"


def resolve_street(site_street: int | None, community_street: int | None) -> int | None:
    """The one street fallback: a site with no street of its own is in its community's street."""
    return site_street or community_street or None


# Serving hours and the operator are read on every scan and change rarely: a site edit evicts
# its entry in every process (``forget_site``). A city's 1,500 points and their kitchens fit.
_SITES: TTLCache[int, SiteInfo] = TTLCache("sites", ttl=30.0, maxsize=8192)


async def site_info(site_id: int) -> SiteInfo:
    """The cached facts of one site; ``not_found`` for an unknown id (no scope check here)."""
    hit, cached = _SITES.get(site_id)
    if hit and cached is not None:
        return cached
    row = (
        await Site.select(
            Site.id,
            Site.name,
            Site.district,
            Site.street,
            Site.community.street.as_alias("community_street"),
            Site.operator,
            Site.kind,
            Site.status,
            Site.slots,
            Site.void_window_minutes,
        )
        .where(Site.id == site_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    info = SiteInfo(
        id=row["id"],
        name=row["name"],
        district_id=row["district"],
        street_id=resolve_street(row["street"], row["community_street"]),
        operator_id=row["operator"],
        kind=row["kind"],
        status=row["status"],
        slots=row["slots"] or [],
        void_window_minutes=row["void_window_minutes"],
    )
    _SITES.set(site_id, info)
    return info


# A district's city changes almost never (a district edit evicts it: ``forget_district``).
_CITIES: TTLCache[int, int | None] = TTLCache("cities", ttl=300.0, maxsize=1024)


async def city_of(district_id: int) -> int | None:
    """The city a district belongs to (None: the district names no city)."""
    hit, cached = _CITIES.get(district_id)
    if hit:
        return cached
    row = await District.select(District.city_id).where(District.id == district_id).first()
    city = int(row["city_id"]) if row is not None and row["city_id"] is not None else None
    _CITIES.set(district_id, city)
    return city


async def check_same_city(home_district_id: int, site_district_id: int) -> None:
    """Refuse an elder of another city at this site (``card_other_city``): an elder of another
    district of the same city is served (their home policy and funders decide, see portability);
    one of another city is not this city's to subsidise. Districts that name no city are left to
    the district rules."""
    if home_district_id == site_district_id:
        return
    home, host = await city_of(home_district_id), await city_of(site_district_id)
    if home is not None and host is not None and home != host:
        raise DomainError("card_other_city", {"home_district_id": home_district_id, "site_city_id": host})


_MEAL_TYPES: TTLCache[int, list[str]] = TTLCache("meal_types", ttl=300.0, maxsize=1024)


async def meal_types_of(district_id: int) -> list[str]:
    """The meal types a district's points serve (``district.meal_types``; every type unless the
    district chose), cached like the city map (a district edit evicts it)."""
    hit, cached = _MEAL_TYPES.get(district_id)
    if hit and cached is not None:
        return cached
    row = await District.select(District.meal_types).where(District.id == district_id).first()
    chosen = row["meal_types"] if row is not None else None
    if isinstance(chosen, str | bytes):
        chosen = json.loads(chosen or "[]")
    types = district_meal_types(chosen)
    _MEAL_TYPES.set(district_id, types)
    return types


async def forget_site(site_id: int) -> None:
    """After a site's edit has committed: every process reads the site afresh."""
    await invalidate("sites", site_id)


async def forget_district(district_id: int) -> None:
    """After a district's edit has committed: its city and meal types are read afresh everywhere."""
    await invalidate("cities", district_id)
    await invalidate("meal_types", district_id)
