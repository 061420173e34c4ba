"""The demo district: Gongshu (拱墅区), Hangzhou — streets, communities, a central kitchen,
six meal points of the three types, operators and one staff user per role.

Loading is idempotent: every row is looked up by its natural key first, so
`make run` a second time starts on the same data. Later issues add elders,
menus and history through their own loaders, called from ``load_demo``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from canteen.accounts.passwords import hash_password
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.regions.tables import Community, District, Operator, Site, Street
from canteen.registry.services import today_of

DEMO_PASSWORD = "demo"  # noqa: S105 - development only; production settings refuse demo secrets, not this user table
DISTRICT = {"name": "拱墅区", "code": "330105", "city": "杭州市", "lat": 30.3195, "lon": 120.1420}

# street → communities (name, lat, lon): real neighbourhoods, approximate centres.
STREETS: dict[str, list[tuple[str, float, float]]] = {
    "米市巷街道": [
        ("卖鱼桥社区", 30.2989, 120.1528),
        ("左家新村社区", 30.2961, 120.1611),
        ("珠儿潭社区", 30.2918, 120.1560),
    ],
    "湖墅街道": [
        ("大关南社区", 30.3050, 120.1496),
        ("德胜新村社区", 30.2995, 120.1448),
        ("信义坊社区", 30.2935, 120.1490),
    ],
    "小河街道": [("小河社区", 30.3132, 120.1392), ("红石板社区", 30.3081, 120.1352)],
}

LUNCH = {"slot": "lunch", "start": "10:30", "end": "13:00", "cutoff": "09:00"}
BREAKFAST = {"slot": "breakfast", "start": "06:30", "end": "08:30", "cutoff": "18:00"}
DINNER = {"slot": "dinner", "start": "16:30", "end": "18:30", "cutoff": "14:00"}

OPERATORS = [
    ("拱墅区颐乐餐饮管理有限公司", "enterprise", "王建国", "13805710001"),
    ("杭州市暖心社会工作服务中心", "social_org", "李秀英", "13805710002"),
    ("知味观（湖墅店）", "restaurant", "陈志强", "13805710003"),
]

# name, kind, point_type, community, operator index, seats, meals per slot, slots, address
SITES: list[dict[str, Any]] = [
    {
        "name": "拱墅区颐乐中央厨房",
        "kind": "central_kitchen",
        "point_type": None,
        "community": "大关南社区",
        "operator": 0,
        "seats": 0,
        "meals_per_slot": 3000,
        "slots": [],
        "address": "杭州市拱墅区大关路100号",
    },
    {
        "name": "卖鱼桥幸福食堂",
        "phone": "0571-88150186",
        "kind": "meal_point",
        "point_type": "canteen",
        "community": "卖鱼桥社区",
        "operator": 0,
        "seats": 80,
        "meals_per_slot": 260,
        "slots": [BREAKFAST, LUNCH, DINNER],
        "address": "杭州市拱墅区湖墅南路186号",
    },
    {
        "name": "小河老年食堂",
        "phone": "0571-88250317",
        "kind": "meal_point",
        "point_type": "canteen",
        "community": "小河社区",
        "operator": 1,
        "seats": 40,
        "meals_per_slot": 120,
        "slots": [LUNCH, DINNER],
        "address": "杭州市拱墅区小河路488号",
    },
    {
        "name": "左家新村助餐点",
        "phone": "0571-88350422",
        "kind": "meal_point",
        "point_type": "satellite",
        "community": "左家新村社区",
        "operator": 0,
        "seats": 30,
        "meals_per_slot": 90,
        "slots": [LUNCH],
        "address": "杭州市拱墅区左家新村12幢",
    },
    {
        "name": "德胜新村助餐点",
        "phone": "0571-88450533",
        "kind": "meal_point",
        "point_type": "satellite",
        "community": "德胜新村社区",
        "operator": 0,
        "seats": 24,
        "meals_per_slot": 70,
        "slots": [LUNCH, DINNER],
        "address": "杭州市拱墅区德胜新村35幢",
    },
    {
        "name": "红石板助餐点",
        "phone": "0571-88550644",
        "kind": "meal_point",
        "point_type": "satellite",
        "community": "红石板社区",
        "operator": 1,
        "seats": 20,
        "meals_per_slot": 50,
        "slots": [LUNCH],
        "address": "杭州市拱墅区红石板路7号",
    },
    {
        "name": "知味观湖墅店（合作餐厅）",
        "phone": "0571-88650755",
        "kind": "meal_point",
        "point_type": "partner_restaurant",
        "community": "信义坊社区",
        "operator": 2,
        "seats": 120,
        "meals_per_slot": 60,
        "slots": [LUNCH, DINNER],
        "address": "杭州市拱墅区湖墅南路88号",
    },
]

# username, display name, role, scope ("district" or a site name)
USERS = [
    ("admin", "系统管理员", "admin", None),
    ("official", "张民政（拱墅区民政局）", "official", "district"),
    (
        "operator",
        "王建国（颐乐餐饮）",
        "operator",
        ["卖鱼桥幸福食堂", "左家新村助餐点", "德胜新村助餐点", "拱墅区颐乐中央厨房"],
    ),
    ("cashier", "刘芳（卖鱼桥幸福食堂收银）", "cashier", ["卖鱼桥幸福食堂"]),
    ("kitchen", "赵师傅（中央厨房）", "kitchen", ["拱墅区颐乐中央厨房"]),
    ("courier", "孙小兵（送餐员）", "courier", ["卖鱼桥幸福食堂", "左家新村助餐点"]),
]


@dataclass
class DemoDistrict:
    district_id: int
    site_ids: dict[str, int]
    community_ids: dict[str, int]
    user_ids: dict[str, int]
    created: bool


async def _get_or_insert(table: Any, where: Any, row: Any) -> tuple[int, bool]:
    found = await table.select(table.id).where(where).first()
    if found:
        return int(found["id"]), False
    rows = await table.insert(row).returning(table.id)
    return int(rows[0]["id"]), True


async def load_district(now: dt.datetime | None = None) -> DemoDistrict:
    """Create (or find) the demo district with its sites and staff; safe to run again."""
    now = now or utcnow()
    actor = SystemActor("demo-loader")
    async with write_transaction():
        district_id, created = await _get_or_insert(
            District,
            District.code == DISTRICT["code"],
            District(**DISTRICT),  # type: ignore[arg-type]
        )
        communities: dict[str, int] = {}
        streets_of: dict[str, int] = {}
        for street_name, comms in STREETS.items():
            street_id, _ = await _get_or_insert(
                Street,
                (Street.district == district_id) & (Street.name == street_name),
                Street(district=district_id, name=street_name),
            )
            for name, lat, lon in comms:
                communities[name], _ = await _get_or_insert(
                    Community,
                    (Community.district == district_id) & (Community.name == name),
                    Community(street=street_id, district=district_id, name=name, lat=lat, lon=lon),
                )
                streets_of[name] = street_id
        operator_ids = []
        for name, kind, contact, phone in OPERATORS:
            oid, _ = await _get_or_insert(
                Operator,
                (Operator.district == district_id) & (Operator.name == name),
                Operator(
                    district=district_id, name=name, kind=kind, contact_name=contact, contact_phone=phone
                ),
            )
            operator_ids.append(oid)
        site_ids: dict[str, int] = {}
        coords = {name: (lat, lon) for comms in STREETS.values() for name, lat, lon in comms}
        for spec in SITES:
            lat, lon = coords[spec["community"]]
            kitchen = site_ids.get("拱墅区颐乐中央厨房") if spec["point_type"] == "satellite" else None
            site_ids[spec["name"]], made = await _get_or_insert(
                Site,
                (Site.district == district_id) & (Site.name == spec["name"]),
                Site(
                    district=district_id,
                    street=streets_of[spec["community"]],
                    community=communities[spec["community"]],
                    operator=operator_ids[spec["operator"]],
                    kitchen=kitchen,
                    name=spec["name"],
                    kind=spec["kind"],
                    point_type=spec["point_type"],
                    address=spec["address"],
                    # A few metres off the community centre, so the map shows them apart.
                    lat=round(lat + 0.0007, 6),
                    lon=round(lon - 0.0005, 6),
                    seats=spec["seats"],
                    meals_per_slot=spec["meals_per_slot"],
                    status="open",
                    slots=spec["slots"],
                    phone=spec.get("phone", ""),
                    created_at=now,
                    updated_at=now,
                ),
            )
            if made:
                await audit.record(
                    actor,
                    "site.create",
                    "site",
                    site_ids[spec["name"]],
                    district_id=district_id,
                    after={"name": spec["name"]},
                    now=now,
                )
        user_ids: dict[str, int] = {}
        demo_hash: str | None = None
        for username, display, role, scope in USERS:
            found = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
            if found:
                user_ids[username] = int(found["id"])
                continue
            demo_hash = demo_hash or hash_password(DEMO_PASSWORD)
            rows = await StaffUser.insert(
                StaffUser(
                    username=username,
                    display_name=display,
                    password_hash=demo_hash,
                    created_at=now,
                    password_changed_at=now,
                )
            ).returning(StaffUser.id)
            uid = user_ids[username] = int(rows[0]["id"])
            if scope is None:
                grants = [RoleGrant(user=uid, role=role)]
            elif scope == "district":
                grants = [RoleGrant(user=uid, role=role, district=district_id)]
            else:
                grants = [RoleGrant(user=uid, role=role, site=site_ids[s]) for s in scope]
            for g in grants:
                await RoleGrant.insert(g)
            await audit.record(
                actor, "user.create", "staff_user", uid, after={"username": username, "role": role}, now=now
            )
    return DemoDistrict(district_id, site_ids, communities, user_ids, created)


async def load_demo(now: dt.datetime | None = None) -> DemoDistrict:
    """Everything the demo needs, in dependency order. Each step is idempotent."""
    # Imported here, not at the top: every step module imports DemoDistrict from this module.
    from canteen.demo.accounting import load_accounting
    from canteen.demo.care_allergy import load_allergy
    from canteen.demo.care_civil import load_civil
    from canteen.demo.care_notify import load_notify
    from canteen.demo.care_pauses import load_pauses
    from canteen.demo.care_scope import load_scope
    from canteen.demo.care_survey import load_survey
    from canteen.demo.care_visits import load_visits
    from canteen.demo.city import load_city, load_city_base
    from canteen.demo.delivery import load_rounds
    from canteen.demo.elders import load_elders
    from canteen.demo.history import load_history
    from canteen.demo.menus import load_menus
    from canteen.demo.orders import load_orders
    from canteen.demo.policy_cards import load_policy_and_cards

    now = now or utcnow()
    district = await load_district(now)
    # The city's base policy before anything is priced: the district's policy tops it up.
    await load_city_base(now)
    await load_elders(district, today=today_of(now), now=now)
    await load_policy_and_cards(district, now=now)
    await load_menus(district, today=today_of(now), now=now)
    await load_history(district, today=today_of(now), now=now)
    await load_accounting(district, today=today_of(now), now=now)
    await load_orders(district, today=today_of(now), now=now)
    await load_rounds(district.district_id, today=today_of(now), now=now)
    # The city above it and a second district of the same city (the city view, portability).
    await load_city(today=today_of(now), now=now)
    # Care around the meal (issue #17): each part's demo data, one line each, in its own module.
    await load_pauses(district, today=today_of(now), now=now)
    await load_scope(district, now=now)
    await load_allergy(district, today=today_of(now), now=now)
    await load_visits(district, now=now)
    await load_civil(district, today=today_of(now), now=now)
    await load_survey(district, today=today_of(now), now=now)
    await load_notify(district, today=today_of(now), now=now)
    # demo:care
    return district


# The city's users live in canteen.demo.city (its loader creates them after the district's).
DEMO_LOGINS = [(u, role) for u, _, role, _ in USERS] + [
    ("city", "city_official"),
    ("official_xihu", "official"),
    ("cashier_xihu", "cashier"),
    ("community", "community_worker"),
    ("volunteer", "volunteer"),
]
