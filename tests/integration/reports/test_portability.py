"""补贴跟着人走: an elder of district X eating at a point of district Y (same city) is priced by X's
policy, X's funders are charged (each part names X), Y's dashboard shows the meal apart and the
month's inter-district statement lists it on both sides — over HTTP, on both engines."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals.tables import Meal
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import top_up_cash
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.registry.services import grant_delivery
from canteen.settings import get_settings
from canteen.subsidies.schemas import DeliveryReduction, DeliveryRule, FundingShare, Policy, Portability, Tier
from canteen.subsidies.services import create_policy, publish_policy
from tests.factories import World
from tests.integration.cards.elders import add_elder

ALL_DAY = [
    {"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
    {"slot": "dinner", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
]


def _home_policy(district_id: int) -> Policy:
    # X: 低保 6 yuan off — the city 2 yuan, the district the rest; both follow the person.
    return Policy(
        name="拱墅区助餐补贴",
        version=1,
        district_id=district_id,
        effective_from=dt.date(2025, 1, 1),
        funding=[FundingShare(source="district", percent=100)],
        tiers=[
            Tier(
                code="dibao",
                name_zh="低保",
                name_en="Dibao",
                categories=["dibao"],
                kind="amount_off",
                value=600,
                funding=[
                    FundingShare(source="city", fixed_fen=200),
                    FundingShare(source="district", rest=True),
                ],
            )
        ],
        portability=Portability(outside_home_street=None, outside_home_district=None),
        # Delivery: a 5-yuan fee, 3 yuan off for 低保, paid by the policy's funder (the district).
        delivery=DeliveryRule(
            fee_fen=500, reductions=[DeliveryReduction(tier_code="dibao", kind="amount_off", value=300)]
        ),
    )


def _host_policy(district_id: int) -> Policy:
    # Y is more generous to its own: every member 10 yuan off, the district alone.
    return Policy(
        name="西湖区助餐补贴",
        version=1,
        district_id=district_id,
        effective_from=dt.date(2025, 1, 1),
        funding=[FundingShare(source="district", percent=100)],
        tiers=[Tier(code="member", name_zh="会员", name_en="Member", kind="amount_off", value=1000)],
    )


async def _set_up(w: World) -> dict[str, Any]:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    for district, doc in ((w.district_x, _home_policy), (w.district_y, _host_policy)):
        await publish_policy(admin, (await create_policy(admin, district, doc(district))).id)
    await Site.update({Site.slots: ALL_DAY}).where(Site.id.is_in([w.site_a, w.site_c]))
    for site in (w.site_a, w.site_c):
        for slot in ("lunch", "dinner"):
            await set_menu(
                admin,
                site,
                today,
                slot,
                [MealSetIn(name="套餐A", list_price_fen=1500)],
                cutoff_at=utcnow() + dt.timedelta(hours=1),
            )
    elder = await add_elder(
        district=w.district_x, community=w.community_x, name="周桂兰", categories=("dibao",)
    )
    card = (await issue_card(admin, elder, reason="new")).token
    await top_up_cash(admin, w.site_a, elder, 5000, idempotency_key=f"seed-topup-{elder}")
    await grant_delivery(admin, elder, "独居，社区评估同意送餐", None)
    return {"elder": elder, "card": card, "today": today}


def test_an_elder_of_x_eating_in_y_is_priced_and_charged_by_x(
    client: Any, world: World, run: Any, login: Any
) -> None:
    d = run(lambda: _set_up(world))
    cashier_y = login("cashier_c")
    # The home district's official asks for a quote at Y's point.
    quote = client.post(
        "/api/v1/quotes",
        json={
            "site_id": world.site_c,
            "elder_id": d["elder"],
            "slot": "lunch",
            "list_price_fen": 1500,
            "date": d["today"].isoformat(),
        },
        headers=login("admin"),
    )
    assert quote.status_code == 200, quote.text
    q = quote.json()
    # X's policy (6 yuan), not Y's (10 yuan): the subsidy follows the person.
    assert (q["subsidy_fen"], q["copay_fen"], q["policy_district_id"]) == (600, 900, world.district_x), q
    assert {f["source"]: f["fen"] for f in q["funding"]} == {"city": 200, "district": 400}
    # Y's cashier scans the card: the confirm panel shows the same price, each part naming X.
    pre = client.post(
        "/api/v1/checkins/preview", json={"site_id": world.site_c, "card": d["card"]}, headers=cashier_y
    )
    assert pre.status_code == 200, pre.text
    assert (pre.json()["subsidy_fen"], pre.json()["copay_fen"]) == (600, 900)
    assert sorted((f["source"], f["fen"], f["district_id"]) for f in pre.json()["funding"]) == [
        ("city", 200, world.district_x),
        ("district", 400, world.district_x),
    ]

    r = client.post(
        "/api/v1/checkins",
        json={"site_id": world.site_c, "card": d["card"], "payment": "balance"},
        headers={**cashier_y, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    meal = run(
        lambda: (
            Meal.select(Meal.district, Meal.policy_district, Meal.funding, Meal.subsidy_fen)
            .where(Meal.id == r.json()["meal_id"])
            .first()
        )
    )
    funding = json.loads(meal["funding"]) if isinstance(meal["funding"], str) else meal["funding"]
    assert meal["district"] == world.district_y and meal["policy_district"] == world.district_x
    assert meal["subsidy_fen"] == 600
    assert sorted((p["source"], p["fen"], p["district_id"]) for p in funding) == [
        ("city", 200, world.district_x),
        ("district", 400, world.district_x),
    ]
    # Dinner delivered from Y's point: the delivery subsidy is X's too, part by part.
    menu = client.get(
        f"/api/v1/sites/{world.site_c}/menus",
        params={"from": d["today"].isoformat(), "to": d["today"].isoformat()},
        headers=login("admin"),
    ).json()
    dinner_set = next(m for m in menu["items"] if m["slot"] == "dinner")["sets"][0]["id"]
    placed = client.post(
        "/api/v1/orders",
        json={
            "elder_id": d["elder"],
            "site_id": world.site_c,
            "service_date": d["today"].isoformat(),
            "slot": "dinner",
            "meal_set_id": dinner_set,
            "payment": "cash",
        },
        headers={**login("admin"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    delivered = run(
        lambda: (
            Meal.select(Meal.delivery_subsidy_fen, Meal.delivery_funding, Meal.policy_district)
            .where((Meal.elder == d["elder"]) & (Meal.slot == "dinner"))
            .first()
        )
    )
    parts = delivered["delivery_funding"]
    parts = json.loads(parts) if isinstance(parts, str) else parts
    assert delivered["delivery_subsidy_fen"] == 300 and delivered["policy_district"] == world.district_x
    assert parts == [{"source": "district", "fen": 300, "district_id": world.district_x}]
    month = d["today"].strftime("%Y-%m")

    # The host's statement: a visitor from X; X owes Y its own district's 4 yuan (not the city's).
    host = client.get(
        f"/api/v1/districts/{world.district_y}/inter-district",
        params={"month": month},
        headers=login("official_y"),
    )
    assert host.status_code == 200, host.text
    h = host.json()
    assert h["residents_away"] == [] and len(h["visitors"]) == 1
    line = h["visitors"][0]
    assert (line["home_district_id"], line["host_district_id"], line["site_id"]) == (
        world.district_x,
        world.district_y,
        world.site_c,
    )
    # Lunch 6 yuan (city 2, district 4) and dinner's 6 yuan + 3 yuan of delivery (district): X owes
    # Y its district's 4 + 4 + 3 = 11 yuan; the city's 4 yuan is the same payer on both sides.
    assert (line["meals"], line["subsidy_fen"], line["by_source"]) == (
        2,
        1200,
        {"city": 400, "district": 800},
    )
    assert (line["delivery_subsidy_fen"], line["delivery_by_source"], line["owed_fen"]) == (
        300,
        {"district": 300},
        1100,
    )
    assert (h["owed_to_us_fen"], h["we_owe_fen"], h["net_fen"]) == (1100, 0, 1100)

    # The home district's statement lists the same meal as its residents' meal elsewhere.
    home = client.get(
        f"/api/v1/districts/{world.district_x}/inter-district",
        params={"month": month},
        headers=login("official_x"),
    ).json()
    assert home["visitors"] == [] and home["residents_away"] == [line] and home["we_owe_fen"] == 1100

    # Scope: X's official cannot read Y's statement; the city official reads both.
    assert (
        client.get(
            f"/api/v1/districts/{world.district_y}/inter-district", headers=login("official_x")
        ).status_code
        == 404
    )
    city = client.get(
        f"/api/v1/districts/{world.district_y}/inter-district",
        params={"month": month},
        headers=login("city_official_h"),
    )
    assert city.status_code == 200 and city.json()["visitors"] == [line]
    overview = client.get(
        f"/api/v1/cities/{world.city}/overview", params={"month": month}, headers=login("city_official_h")
    ).json()
    assert [
        (f["home_district_id"], f["host_district_id"], f["meals"], f["owed_fen"]) for f in overview["between"]
    ] == [(world.district_x, world.district_y, 2, 1100)]

    # Y's dashboard shows the meal apart, in words (district names, no codes).
    from tests.integration.accounts.test_auth import _page_login

    _page_login(client, "official_y")
    page = client.get(f"/official/districts/{world.district_y}/inter-district", params={"month": month})
    assert page.status_code == 200, page.text
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", page.text))
    assert "拱墅区" in words and "曙光路老年食堂" in words and "11.00" in words, words[:2000]
    assert "district_id" not in words and "residents_away" not in words
