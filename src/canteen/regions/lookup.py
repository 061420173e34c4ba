"""The facts about a site that every meal needs, read once and cached per process.

The counter, delivery orders, the quotes API and the pages all price and record meals at a
site; they all read the site here, so the street a site belongs to is decided in one place:
the site's own street, else the street of its community, else none (0 for the rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canteen.core.cache import TTLCache
from canteen.core.errors import DomainError
from canteen.regions.tables import Site


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


# Serving hours and the operator are read on every scan and change rarely (site edits clear it).
_SITES: TTLCache[int, SiteInfo] = TTLCache(ttl=30.0)


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
