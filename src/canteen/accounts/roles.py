"""Roles, scopes and the Principal every guard and service checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from canteen.core.errors import DomainError

ADMIN = "admin"
OFFICIAL = "official"
CITY_OFFICIAL = "city_official"
OPERATOR = "operator"
CASHIER = "cashier"
KITCHEN = "kitchen"
COURIER = "courier"
# Scoped to communities (grant.community_id): a community worker registers elders, records visits
# and service pauses and sees the personal data of its communities only; a volunteer records visits.
COMMUNITY_WORKER = "community_worker"
VOLUNTEER = "volunteer"

ROLES: dict[str, tuple[str, str]] = {
    ADMIN: ("系统管理员", "Administrator"),
    OFFICIAL: ("民政工作人员", "District official"),
    CITY_OFFICIAL: ("市级民政工作人员", "City official"),
    OPERATOR: ("运营方", "Operator"),
    CASHIER: ("收银员", "Cashier"),
    KITCHEN: ("厨房人员", "Kitchen staff"),
    COURIER: ("送餐员", "Courier"),
    COMMUNITY_WORKER: ("社区工作者", "Community worker"),
    VOLUNTEER: ("志愿者", "Volunteer"),
}
SITE_ROLES = frozenset({OPERATOR, CASHIER, KITCHEN, COURIER})
COMMUNITY_ROLES = frozenset({COMMUNITY_WORKER, VOLUNTEER})


def role_label(role: str, lang: str = "zh-CN") -> str:
    zh, en = ROLES.get(role, (role, role))
    return en if lang.startswith("en") else zh


@dataclass(frozen=True, slots=True)
class Grant:
    role: str
    district_id: int | None = None
    site_id: int | None = None
    city_id: int | None = None
    community_id: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated staff member (or device acting for one) and what they may reach."""

    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...]
    auth_version: int = 1
    via_token: bool = False
    # District of each site the user is scoped to, so district checks need no query.
    site_districts: dict[int, int] = field(default_factory=dict)
    # The districts of each city the user is a city official of (read with the principal).
    city_districts: dict[int, frozenset[int]] = field(default_factory=dict)
    # District of each community the user is scoped to (community worker, volunteer).
    community_districts: dict[int, int] = field(default_factory=dict)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def has_role(self, *roles: str) -> bool:
        return self.is_admin or bool(self.roles.intersection(roles))

    def district_ids(self, *roles: str) -> frozenset[int]:
        """Districts this principal may read as an official (or through its sites)."""
        wanted = set(roles) or {OFFICIAL}
        ids = {g.district_id for g in self.grants if g.role in wanted and g.district_id is not None}
        return frozenset(ids)

    def site_ids(self, *roles: str) -> frozenset[int]:
        wanted = set(roles) or SITE_ROLES
        return frozenset(g.site_id for g in self.grants if g.role in wanted and g.site_id is not None)

    def can_site(self, site_id: int, district_id: int | None, *roles: str) -> bool:
        """May act on this site in one of ``roles`` (admin always; official over its district)."""
        if self.is_admin:
            return True
        wanted = set(roles) or set(SITE_ROLES)
        if OFFICIAL in wanted and district_id is not None and district_id in self.district_ids(OFFICIAL):
            return True
        site_roles = wanted & SITE_ROLES
        # Without a site role asked for, a site grant must not pass (site_ids() with no roles means all).
        return bool(site_roles) and site_id in self.site_ids(*site_roles)

    def community_ids(self, *roles: str) -> frozenset[int]:
        """Communities this principal is scoped to in one of ``roles`` (default: both community roles)."""
        wanted = set(roles) or COMMUNITY_ROLES
        return frozenset(
            g.community_id for g in self.grants if g.role in wanted and g.community_id is not None
        )

    def can_community(self, community_id: int, district_id: int | None, *roles: str) -> bool:
        """May act in this community: admin, an official of its district, or a community grant."""
        if self.is_admin:
            return True
        if district_id is not None and district_id in self.district_ids(OFFICIAL):
            return True
        return community_id in self.community_ids(*roles)

    def can_district(self, district_id: int) -> bool:
        return self.is_admin or district_id in self.district_ids(OFFICIAL)

    def city_ids(self) -> frozenset[int]:
        """Cities this principal is a city official of."""
        return frozenset(g.city_id for g in self.grants if g.role == CITY_OFFICIAL and g.city_id is not None)

    def can_city(self, city_id: int) -> bool:
        """May read the whole city (its every district's reports) and settle its city funders."""
        return self.is_admin or city_id in self.city_ids()

    def city_district_ids(self) -> frozenset[int]:
        """Every district of the cities this principal oversees as a city official (reads only:
        a city official does not edit a district's records — ``can_district`` stays False)."""
        out: set[int] = set()
        for city in self.city_ids():
            out |= self.city_districts.get(city, frozenset())
        return frozenset(out)

    def visible_district_ids(self) -> frozenset[int] | None:
        """None means all (admin); otherwise the districts whose records this principal may list."""
        if self.is_admin:
            return None
        ids = set(self.district_ids(OFFICIAL))
        ids.update(self.site_districts.get(s, -1) for s in self.site_ids())
        # A community grant shows its district's shared configuration (streets, sites, menus,
        # policies); personal data stays per community (``reads_elders_of``, registry.access_of).
        ids.update(self.community_districts.get(c, -1) for c in self.community_ids())
        ids.discard(-1)
        return frozenset(ids)

    def reads_elders_of(self, district_id: int, community_id: int | None) -> bool:
        """May read elders living in this district and community at all: admin, an official of the
        district, staff of a site in it, or a community worker of that very community (a
        volunteer reaches elders only through the visits it is given, never the registry)."""
        if self.is_admin or district_id in self.district_ids(OFFICIAL):
            return True
        if any(self.site_districts.get(s) == district_id for s in self.site_ids()):
            return True
        return community_id is not None and community_id in self.community_ids(COMMUNITY_WORKER)


def roles_of(grants: Iterable[Grant]) -> list[str]:
    order = list(ROLES)
    return sorted({g.role for g in grants}, key=order.index)


def require_district(actor: Principal, district_id: int) -> None:
    """Refuse unless ``actor`` may read ``district_id`` as an official (admin always may).

    The refusal is ``not_found``, not 403: an official must not learn which other districts exist.
    """
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
