"""Realistic test data: a district in Hangzhou with streets, communities, a central kitchen,
meal points of every type, a second district for scope checks, and one user per role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from canteen.accounts.passwords import hash_password
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.regions.tables import City, Community, District, Operator, Site, Street

PASSWORD = "Canteen-test-2026"
NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai
LUNCH = {"slot": "lunch", "start": "10:30", "end": "13:00", "cutoff": "09:00"}
BREAKFAST = {"slot": "breakfast", "start": "06:30", "end": "09:00", "cutoff": "18:00"}
DINNER = {"slot": "dinner", "start": "16:30", "end": "18:30", "cutoff": "14:00"}


@lru_cache(maxsize=1)
def password_hash() -> str:
    # Hashing once per session keeps the world cheap to build for every test.
    return hash_password(PASSWORD)


@dataclass
class World:
    city: int = 0  # 杭州市, the city of both districts
    district_x: int = 0
    district_y: int = 0
    street_x: int = 0
    community_x: int = 0
    community_y: int = 0
    community_b: int = 0  # a second community of district X (community workers' scope checks)
    operator_x: int = 0
    kitchen_x: int = 0
    site_a: int = 0  # canteen in district X
    site_b: int = 0  # satellite in district X
    site_c: int = 0  # canteen in district Y
    users: dict[str, int] = field(default_factory=dict)


async def _id(query: object) -> int:
    rows = await query.returning(query.table._meta.primary_key)  # type: ignore[attr-defined]
    return int(rows[0]["id"])


async def add_site(
    world: World,
    *,
    district: int,
    name: str,
    kind: str = "meal_point",
    point_type: str | None = "canteen",
    kitchen: int | None = None,
    status: str = "open",
    community: int | None = None,
    lat: float = 30.318,
    lon: float = 120.152,
) -> int:
    return await _id(
        Site.insert(
            Site(
                district=district,
                community=community,
                operator=world.operator_x if district == world.district_x else None,
                kitchen=kitchen,
                name=name,
                kind=kind,
                point_type=point_type,
                address="杭州市拱墅区湖墅南路186号",
                lat=lat,
                lon=lon,
                seats=60,
                meals_per_slot=150,
                status=status,
                slots=[BREAKFAST, LUNCH, DINNER] if kind == "meal_point" else [],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    )


async def add_user(
    username: str, grants: list[tuple[str, int | None, int | None]], *, city: int | None = None
) -> int:
    uid = await _id(
        StaffUser.insert(
            StaffUser(
                username=username,
                display_name=username,
                password_hash=password_hash(),
                created_at=NOW,
                password_changed_at=NOW,
            )
        )
    )
    for role, district, site in grants:
        grant_city = city if role == "city_official" else None
        await RoleGrant.insert(RoleGrant(user=uid, role=role, district=district, site=site, city=grant_city))
    return uid


async def make_world() -> World:
    w = World()
    w.city = await _id(City.insert(City(name="杭州市", code="330100")))
    w.district_x = await _id(
        District.insert(
            District(name="拱墅区", code="330105", city="杭州市", city_id=w.city, lat=30.3193, lon=120.1419)
        )
    )
    w.district_y = await _id(
        District.insert(
            District(name="西湖区", code="330106", city="杭州市", city_id=w.city, lat=30.2595, lon=120.1300)
        )
    )
    w.street_x = await _id(Street.insert(Street(district=w.district_x, name="米市巷街道")))
    street_y = await _id(Street.insert(Street(district=w.district_y, name="北山街道")))
    w.community_x = await _id(
        Community.insert(
            Community(street=w.street_x, district=w.district_x, name="卖鱼桥社区", lat=30.3189, lon=120.1524)
        )
    )
    w.community_b = await _id(
        Community.insert(
            Community(street=w.street_x, district=w.district_x, name="大兜路社区", lat=30.2931, lon=120.1547)
        )
    )
    w.community_y = await _id(
        Community.insert(
            Community(street=street_y, district=w.district_y, name="曙光路社区", lat=30.2711, lon=120.1411)
        )
    )
    w.operator_x = await _id(
        Operator.insert(Operator(district=w.district_x, name="拱墅区幸福餐饮服务有限公司"))
    )
    w.kitchen_x = await add_site(
        w, district=w.district_x, name="拱墅区中央厨房", kind="central_kitchen", point_type=None
    )
    w.site_a = await add_site(w, district=w.district_x, name="卖鱼桥幸福食堂", community=w.community_x)
    w.site_b = await add_site(
        w,
        district=w.district_x,
        name="米市巷助餐点",
        point_type="satellite",
        kitchen=w.kitchen_x,
        community=w.community_x,
    )
    w.site_c = await add_site(w, district=w.district_y, name="曙光路老年食堂", community=w.community_y)
    spec: dict[str, list[tuple[str, int | None, int | None]]] = {
        "admin": [("admin", None, None)],
        "official_x": [("official", w.district_x, None)],
        "official_y": [("official", w.district_y, None)],
        "operator_a": [("operator", None, w.site_a)],
        "cashier_a": [("cashier", None, w.site_a)],
        "cashier_b": [("cashier", None, w.site_b)],
        "cashier_c": [("cashier", None, w.site_c)],
        "kitchen_k": [("kitchen", None, w.kitchen_x)],
        "courier_a": [("courier", None, w.site_a)],
        "city_official_h": [("city_official", None, None)],
    }
    for name, grants in spec.items():
        w.users[name] = await add_user(name, grants, city=w.city)
    # Community roles: scoped to a community (community A = community_x, B = community_b, both X).
    community_spec = {
        "community_a": ("community_worker", w.community_x),
        "community_b": ("community_worker", w.community_b),
        "volunteer_a": ("volunteer", w.community_x),
    }
    for name, (role, community) in community_spec.items():
        w.users[name] = await add_user(name, [])
        await RoleGrant.insert(RoleGrant(user=w.users[name], role=role, community=community))
    return w
