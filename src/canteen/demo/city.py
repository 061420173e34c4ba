"""The demo city: 杭州市 above the demo district (拱墅区) and a second, smaller district (西湖区).

A newcomer sees the city view (``city`` / demo) side by side for both districts, and a second
district's official (``official_xihu``). 西湖区 has two meal points of its own, a few dozen elders
with cards, its own published policy, menus and a month of history, loaded with the same
idempotent loaders as the demo district.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.passwords import hash_password
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.demo.district import (
    DEMO_PASSWORD,
    DINNER,
    DISTRICT,
    LUNCH,
    DemoDistrict,
    _get_or_insert,
)
from canteen.demo.people import DemoCommunity
from canteen.meals.tables import Meal
from canteen.regions.tables import City, Community, District, Operator, Site, Street

CITY = {"name": "杭州市", "code": "330100"}
XIHU = {"name": "西湖区", "code": "330106", "city": "杭州市", "lat": 30.2595, "lon": 120.1300}
XIHU_REGION = "330106"
XIHU_SEED = 20261201
# street → communities (name, lat, lon, nearby roads)
XIHU_STREETS: dict[str, list[tuple[str, float, float, tuple[str, ...]]]] = {
    "北山街道": [
        ("曙光路社区", 30.2711, 120.1411, ("曙光路", "保俶路", "杭大路")),
        ("保俶塔社区", 30.2664, 120.1432, ("保俶路", "宝石山下", "北山路")),
    ],
    "西溪街道": [("求是村社区", 30.2752, 120.1340, ("求是路", "文三路", "西溪路"))],
}
XIHU_OPERATOR = ("西湖区乐龄餐饮服务有限公司", "enterprise", "周敏", "13805710011")
XIHU_SITES: list[dict[str, Any]] = [
    {
        "name": "曙光路老年食堂",
        "point_type": "canteen",
        "community": "曙光路社区",
        "address": "西湖区曙光路 118 号",
        "phone": "0571-87950186",
        "seats": 60,
        "meals_per_slot": 120,
        "slots": [LUNCH, DINNER],
    },
    {
        "name": "求是村助餐点",
        "point_type": "canteen",
        "community": "求是村社区",
        "address": "西湖区求是路 8 号",
        "phone": "0571-87950422",
        "seats": 30,
        "meals_per_slot": 60,
        "slots": [LUNCH],
    },
]
CITY_USERS = [
    ("city", "钱市民（杭州市民政局）", "city_official"),
    ("official_xihu", "周民政（西湖区民政局）", "official"),
    ("cashier_xihu", "吴收银（曙光路老年食堂）", "cashier"),
]
CITY_LOGINS = [(u, role) for u, _, role in CITY_USERS]


async def _user(username: str, display: str, grant: RoleGrant, now: dt.datetime, actor: SystemActor) -> int:
    found = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
    if found:
        return int(found["id"])
    rows = await StaffUser.insert(
        StaffUser(
            username=username,
            display_name=display,
            password_hash=hash_password(DEMO_PASSWORD),
            created_at=now,
            password_changed_at=now,
        )
    ).returning(StaffUser.id)
    uid = int(rows[0]["id"])
    grant.user = uid
    await RoleGrant.insert(grant)
    await audit.record(actor, "user.create", "staff_user", uid, after={"username": username}, now=now)
    return uid


async def load_city_base(now: dt.datetime) -> int:
    """The city (linked to the demo district) and its published base policy, first of all: every
    meal of the demo, its month of history included, is priced by the base and the district's
    top-up together (``subsidies.rules.effective_policy``). Idempotent; returns the city's id."""
    from canteen.subsidies.demo import publish_city_base

    async with write_transaction():
        city_id, _ = await _get_or_insert(
            City, City.code == CITY["code"], City(name=CITY["name"], code=CITY["code"])
        )
        await District.update({District.city_id: city_id}).where(
            District.code.is_in([str(DISTRICT["code"]), str(XIHU["code"])]) & District.city_id.is_null()
        )
    await publish_city_base(city_id, now=now)
    return city_id


async def load_xihu(now: dt.datetime) -> tuple[DemoDistrict, list[DemoCommunity]]:
    """The city and the second district with its streets, communities, operator, points and users."""
    actor = SystemActor("demo-loader")
    async with write_transaction():
        city_id, _ = await _get_or_insert(
            City, City.code == CITY["code"], City(name=CITY["name"], code=CITY["code"])
        )
        await District.update({District.city_id: city_id}).where(
            District.code.is_in([str(DISTRICT["code"]), str(XIHU["code"])]) & District.city_id.is_null()
        )
        district_id, created = await _get_or_insert(
            District,
            District.code == XIHU["code"],
            District(**XIHU, city_id=city_id),  # type: ignore[arg-type]
        )
        communities: dict[str, int] = {}
        demo_communities: list[DemoCommunity] = []
        streets_of: dict[str, int] = {}
        coords: dict[str, tuple[float, float]] = {}
        for street_name, comms in XIHU_STREETS.items():
            street_id, _ = await _get_or_insert(
                Street,
                (Street.district == district_id) & (Street.name == street_name),
                Street(district=district_id, name=street_name),
            )
            for name, lat, lon, roads in comms:
                communities[name], _ = await _get_or_insert(
                    Community,
                    (Community.district == district_id) & (Community.name == name),
                    Community(street=street_id, district=district_id, name=name, lat=lat, lon=lon),
                )
                streets_of[name] = street_id
                coords[name] = (lat, lon)
                demo_communities.append(DemoCommunity(communities[name], name, street_name, lat, lon, roads))
        name, kind, contact, phone = XIHU_OPERATOR
        operator_id, _ = await _get_or_insert(
            Operator,
            (Operator.district == district_id) & (Operator.name == name),
            Operator(district=district_id, name=name, kind=kind, contact_name=contact, contact_phone=phone),
        )
        site_ids: dict[str, int] = {}
        for spec in XIHU_SITES:
            lat, lon = coords[spec["community"]]
            site_ids[spec["name"]], _ = await _get_or_insert(
                Site,
                (Site.district == district_id) & (Site.name == spec["name"]),
                Site(
                    district=district_id,
                    street=streets_of[spec["community"]],
                    community=communities[spec["community"]],
                    operator=operator_id,
                    name=spec["name"],
                    kind="meal_point",
                    point_type=spec["point_type"],
                    address=spec["address"],
                    lat=round(lat + 0.0006, 6),
                    lon=round(lon - 0.0004, 6),
                    seats=spec["seats"],
                    meals_per_slot=spec["meals_per_slot"],
                    status="open",
                    slots=spec["slots"],
                    phone=spec["phone"],
                    created_at=now,
                    updated_at=now,
                ),
            )
        user_ids = {
            "city": await _user(
                "city", CITY_USERS[0][1], RoleGrant(role="city_official", city=city_id), now, actor
            ),
            "official_xihu": await _user(
                "official_xihu",
                CITY_USERS[1][1],
                RoleGrant(role="official", district=district_id),
                now,
                actor,
            ),
            # Scans cards of both districts at 曙光路: a 拱墅区 elder is priced by 拱墅区's policy.
            "cashier_xihu": await _user(
                "cashier_xihu",
                CITY_USERS[2][1],
                RoleGrant(role="cashier", site=site_ids[XIHU_SITES[0]["name"]]),
                now,
                actor,
            ),
        }
    return DemoDistrict(district_id, site_ids, communities, user_ids, created), demo_communities


async def load_city(*, today: dt.date, now: dt.datetime) -> DemoDistrict:
    """Everything of the second district, in the demo district's order; idempotent."""
    from canteen.demo.accounting import load_accounting
    from canteen.demo.elders import load_elders
    from canteen.demo.history import load_history
    from canteen.demo.menus import load_menus
    from canteen.demo.policy_cards import load_policy_and_cards

    xihu, communities = await load_xihu(now)
    await load_elders(
        xihu, today=today, now=now, n=60, communities=communities, seed=XIHU_SEED, region=XIHU_REGION
    )
    await load_policy_and_cards(xihu, now=now)
    await load_menus(xihu, today=today, now=now)
    await load_history(xihu, today=today, now=now)
    await load_visits(xihu, today=today)
    await load_accounting(xihu, today=today, now=now)
    return xihu


VISITS = 24  # past lunches of 拱墅区 elders at 西湖区's points (补贴跟着人走)


async def load_visits(host: DemoDistrict, *, today: dt.date, days: int = 12) -> int:
    """Lunches of the demo district's elders at the second district's points over the last days,
    recorded through the one meal owner (``meals.record_meal``) with the real price: each is
    priced by the elder's home policy and owed by the home district's funders, so the
    inter-district statement and both dashboards have something to show. Idempotent: nothing
    is written when such meals exist already. Returns the meals written."""
    from canteen.meals import services as meals
    from canteen.meals.pricing import elder_for_pricing, price_meal
    from canteen.menus.services import meal_set_for
    from canteen.regions.lookup import site_info
    from canteen.registry.tables import Elder
    from canteen.settings import get_settings

    home = await District.select(District.id).where(District.code == str(DISTRICT["code"])).first()
    if home is None or not host.site_ids:
        return 0
    home_id = int(home["id"])
    if await Meal.exists().where((Meal.district == host.district_id) & (Meal.policy_district == home_id)):
        return 0
    elders = [
        int(e["id"])
        for e in await Elder.select(Elder.id)
        .where((Elder.district == home_id) & (Elder.status == "active"))
        .order_by(Elder.id)
        .limit(200)
    ][::8]
    tz = get_settings().tz
    actor = SystemActor("demo-loader")
    sites = [await site_info(s) for s in sorted(host.site_ids.values())]
    written = 0
    for k in range(VISITS):
        day = today - dt.timedelta(days=1 + k % days)
        elder = elders[k % len(elders)] if elders else None
        if elder is None:
            break
        site = sites[k % len(sites)]
        if await Meal.exists().where(
            (Meal.elder == elder)
            & (Meal.service_date == day)
            & (Meal.slot == "lunch")
            & Meal.voided_at.is_null()
        ):
            continue  # lunched at home that day: a visit would be at full price
        try:
            meal_set = await meal_set_for(site.id, day, "lunch", None)
        except DomainError:
            continue  # no menu that day (a closed day)
        brief, facts = await elder_for_pricing(elder, day)
        priced = await price_meal(
            site=site,
            elder_id=elder,
            facts=facts,
            day=day,
            slot="lunch",
            mode=meals.DINE_IN,
            list_price_fen=meal_set.list_price_fen,
            meal_type=meal_set.meal_type,
        )
        served = dt.datetime.combine(day, dt.time(11, 40 + k % 15), tzinfo=tz)
        await meals.record_meal(
            meals.MealDraft(
                site=site,
                elder_id=elder,
                day=day,
                slot="lunch",
                mode=meals.DINE_IN,
                meal_set_id=meal_set.id,
                meal_set_name=meal_set.name,
                quote=priced.quote,
                payment="cash",
                categories=list(brief.categories),
                device="demo-visits",
            ),
            actor=actor,
            now=served.astimezone(dt.UTC),
        )
        written += 1
    return written
