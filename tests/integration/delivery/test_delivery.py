"""Kitchen plan, courier rounds, proof of delivery with welfare checks, and missed-meal alerts."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from typing import Any

from canteen.accounts.services import load_principal
from canteen.delivery.services import raise_missed_meal_alerts
from canteen.delivery.tables import Alert
from canteen.orders.tables import Order, StandingOrder
from canteen.registry.card_services import issue_card
from tests.factories import NOW, World, add_user
from tests.integration.delivery.data import (
    DAY,
    SETS,
    add_located_elder,
    add_meal,
    add_menu,
    add_order,
)


def test_production_plan_adds_up_to_orders_and_expected_dine_ins(
    client: Any, world: World, run: Any, login: Any
) -> None:
    w = world
    run(lambda: add_menu(w.kitchen_x, DAY))
    # Four past Wednesdays of dine-in at satellite B, on that day's menus, plus noise that must not count.
    history: Counter[str] = Counter()
    rng = random.Random(5)

    async def seed() -> list[int]:
        for k in range(1, 5):
            past = DAY - dt.timedelta(days=7 * k)
            ids = await add_menu(w.kitchen_x, past)
            for s, set_id in zip(SETS, ids, strict=True):
                n = rng.randint(3, 12)
                history[s] += n
                for _ in range(n):
                    await add_meal(
                        district=w.district_x, site=w.site_b, elder=None, day=past, meal_set=set_id
                    )
            await add_meal(
                district=w.district_x, site=w.site_b, elder=None, day=past, meal_set=ids[0], voided=True
            )
            await add_meal(
                district=w.district_x, site=w.site_b, elder=None, day=past, meal_set=ids[0], mode="delivery"
            )
            await add_meal(district=w.district_x, site=w.site_b, elder=None, day=past - dt.timedelta(days=1))
        orders = []
        for i in range(7):
            e = await add_located_elder(w.district_x, w.community_x, i)
            diet = ["low_salt"] if i % 3 == 0 else []
            orders.append(
                await add_order(
                    elder=e, district=w.district_x, site=w.site_b, meal_set_name=SETS[i % 2], diet=diet
                )
            )
        e = await add_located_elder(w.district_x, w.community_x, 50)
        await add_order(elder=e, district=w.district_x, site=w.site_b, status="cancelled")
        late = dt.datetime.combine(DAY, dt.time(2, 0), dt.UTC)  # after the 09:00 cut-off
        e = await add_located_elder(w.district_x, w.community_x, 51)
        orders.append(await add_order(elder=e, district=w.district_x, site=w.site_b, updated_at=late))
        return orders

    orders = run(seed)
    headers = login("kitchen_k")
    r = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/plan",
        params={"date": DAY.isoformat(), "slot": "lunch"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    plan = r.json()
    # Independently: the average of four weeks per set, rounded half up, plus the orders not cancelled.
    expected_dine = {s: (2 * history[s] + 4) // 8 for s in SETS}
    db_orders = run(lambda: Order.select(Order.meal_set_name).where(Order.status != "cancelled"))
    deliveries = Counter(o["meal_set_name"] for o in db_orders)
    assert len(db_orders) == len(orders) == 8
    assert plan["dine_in_expected"] == sum(expected_dine.values())
    assert plan["delivery"] == 8
    assert plan["total"] == sum(expected_dine.values()) + 8
    by_set = Counter[str]()
    for ln in plan["lines"]:
        by_set[ln["meal_set_name"]] += ln["total"]
        assert ln["total"] == ln["dine_in_expected"] + ln["delivery"]
    assert by_set == Counter({s: expected_dine[s] + deliveries[s] for s in SETS})
    dest_b = next(d for d in plan["destinations"] if d["site_id"] == w.site_b)
    assert dest_b["total"] == plan["total"]
    assert any(ln["diet_variant"] == ["low_salt"] for ln in plan["lines"])
    assert [lc["order_id"] for lc in plan["late_changes"]] == [orders[-1], *[]] or len(
        plan["late_changes"]
    ) == 1
    assert plan["locked"] is False or plan["cutoff_at"]
    x = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/plan.xlsx",
        params={"date": DAY.isoformat(), "slot": "lunch"},
        headers=headers,
    )
    assert x.status_code == 200 and x.content[:2] == b"PK"
    lbl = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/labels",
        params={"date": DAY.isoformat(), "slot": "lunch"},
        headers=headers,
    )
    assert lbl.status_code == 200 and len(lbl.json()) == 8
    assert any(x["allergies"] == "花生" for x in lbl.json())
    # A cashier of another site cannot read the kitchen's plan.
    other = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/plan",
        params={"date": DAY.isoformat(), "slot": "lunch"},
        headers=login("official_y"),
    )
    assert other.status_code == 404


def _forty(w: World, run: Any) -> tuple[list[int], list[int], int]:
    async def seed() -> tuple[list[int], list[int], int]:
        elders, orders = [], []
        rng = random.Random(40)
        for i in range(40):
            e = await add_located_elder(w.district_x, w.community_x, 100 + i, rng)
            elders.append(e)
            orders.append(
                await add_order(
                    elder=e,
                    district=w.district_x,
                    site=w.site_b,
                    meal_set_name=SETS[i % 2],
                    payment="cash" if i % 4 == 0 else "balance",
                )
            )
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return elders, orders, courier

    return run(seed)


def test_round_of_40_deliveries_is_planned_and_its_manifest_printed(
    client: Any, world: World, run: Any, login: Any
) -> None:
    w = world
    _elders, orders, courier = _forty(w, run)
    r = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={
            "service_date": DAY.isoformat(),
            "slot": "lunch",
            "couriers": [courier],
            "capacity": 40,
            "window_minutes": 600,
        },
        headers=login("kitchen_k"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["unassigned_order_ids"] == []
    assert len(body["rounds"]) == 1 and body["rounds"][0]["stops"] == 40
    print(
        f"40 stops: OR-Tools {body['planned_distance_m']} m,"
        f" nearest neighbour {body['baseline_distance_m']} m"
    )
    assert body["planned_distance_m"] <= body["baseline_distance_m"]
    rid = body["rounds"][0]["id"]
    courier_h = login("courier_b")
    m = client.get(f"/api/v1/rounds/{rid}", headers=courier_h)
    assert m.status_code == 200, m.text
    stops = m.json()["stops"]
    assert [s["sequence"] for s in stops] == list(range(1, 41))
    assert sorted(s["order_id"] for s in stops) == sorted(orders)
    assert all(s["phone"] and s["address"] for s in stops)
    # The printable, phone-sized manifest page lists the 40 stops in that order.
    page = client.get(f"/courier/rounds/{rid}", headers=courier_h)
    assert page.status_code == 200, page.text
    shown = [int(x) for x in re.findall(r'data-stop-order="(\d+)"', page.text)]
    assert shown == [s["order_id"] for s in stops]
    # Couriers see only their own rounds.
    assert client.get(f"/api/v1/rounds/{rid}", headers=login("courier_a")).status_code == 404
    assert (
        client.get("/api/v1/rounds", params={"date": DAY.isoformat()}, headers=courier_h).json()["items"][0][
            "id"
        ]
        == rid
    )
    # Planning again replaces the untouched round, never doubles it.
    again = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={
            "service_date": DAY.isoformat(),
            "slot": "lunch",
            "couriers": [courier],
            "capacity": 20,
            "window_minutes": 600,
        },
        headers=login("kitchen_k"),
    )
    assert again.status_code == 201 and len(again.json()["unassigned_order_ids"]) == 20
    # A courier of another site cannot be given the round.
    bad = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": DAY.isoformat(), "slot": "lunch", "couriers": [w.users["courier_a"]]},
        headers=login("kitchen_k"),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "courier_not_allowed"


def test_at_the_door_card_scan_welfare_check_and_urgent_alert_on_the_officials_view(
    client: Any, world: World, run: Any, login: Any
) -> None:
    w = world

    async def seed() -> tuple[list[int], list[str], int]:
        admin = await load_principal(w.users["admin"])
        assert admin is not None
        elders, cards = [], []
        for i in range(3):
            e = await add_located_elder(w.district_x, w.community_x, 200 + i)
            elders.append(e)
            cards.append((await issue_card(admin, e, reason="new")).token)
            await add_order(elder=e, district=w.district_x, site=w.site_b)
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return elders, cards, courier

    elders, cards, courier = run(seed)
    r = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": DAY.isoformat(), "slot": "lunch", "couriers": [courier]},
        headers=login("kitchen_k"),
    )
    rid = r.json()["rounds"][0]["id"]
    h = login("courier_b")
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).status_code == 200
    stops = client.get(f"/api/v1/rounds/{rid}", headers=h).json()["stops"]
    card_of = dict(zip(elders, cards, strict=True))
    first, second, third = stops
    wrong = next(c for e, c in card_of.items() if e != first["elder_id"])
    bad = client.post(f"/api/v1/stops/{first['id']}/deliver", json={"card": wrong}, headers=h)
    assert bad.status_code == 409 and bad.json()["code"] == "card_mismatch"
    ok = client.post(
        f"/api/v1/stops/{first['id']}/deliver", json={"card": card_of[first["elder_id"]]}, headers=h
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "delivered" and ok.json()["card_scanned"] and ok.json()["delivered_at"]
    assert (
        run(lambda: Order.select(Order.status).where(Order.id == first["order_id"]).first())["status"]
        == "delivered"
    )
    twice = client.post(
        f"/api/v1/stops/{first['id']}/deliver", json={"card": card_of[first["elder_id"]]}, headers=h
    )
    assert twice.json()["code"] == "stop_closed"
    fine = client.post(f"/api/v1/stops/{first['id']}/welfare", json={"level": "fine"}, headers=h)
    assert fine.status_code == 201 and fine.json()["alert_id"] is None
    # Not home: the reason is kept and the emergency contact shown to the courier.
    nh = client.post(
        f"/api/v1/stops/{second['id']}/fail",
        json={"outcome": "not_home", "reason": "敲门无人应答"},
        headers=h,
    )
    assert nh.status_code == 200 and nh.json()["emergency_phone"] == "13900001111"
    o = run(
        lambda: (
            Order.select(Order.status, Order.not_delivered_reason)
            .where(Order.id == second["order_id"])
            .first()
        )
    )
    assert o["status"] == "not_delivered" and "敲门无人应答" in o["not_delivered_reason"]
    # Urgent: an alert on the official's view at once (API and page), open until acknowledged.
    ur = client.post(
        f"/api/v1/stops/{third['id']}/welfare",
        json={"level": "urgent", "note": "老人摔倒，意识清醒"},
        headers=h,
    )
    assert ur.status_code == 201 and ur.json()["alert_id"]
    oh = login("official_x")
    alerts = client.get(f"/api/v1/districts/{w.district_x}/alerts", headers=oh).json()
    assert alerts["open"] == 1
    assert (
        alerts["items"][0]["kind"] == "urgent_welfare" and alerts["items"][0]["elder_id"] == third["elder_id"]
    )
    assert alerts["communities"][0]["open"] == 1
    page = client.get(f"/official/districts/{w.district_x}/alerts", headers=oh)
    assert page.status_code == 200 and "老人摔倒" in page.text and "data-live-url" in page.text
    assert (
        client.get(f"/api/v1/districts/{w.district_x}/alerts", headers=login("official_y")).status_code == 404
    )
    aid = ur.json()["alert_id"]
    ack = client.post(f"/api/v1/alerts/{aid}/acknowledge", json={"note": "社工已上门，送医"}, headers=oh)
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    closed = client.post(
        f"/api/v1/alerts/{aid}/acknowledge", json={"note": "已出院", "close": True}, headers=oh
    )
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    assert client.get(f"/api/v1/districts/{w.district_x}/alerts", headers=oh).json()["open"] == 0


def test_missed_meal_alert_for_a_regular_diner_who_did_not_come_and_none_for_one_who_came(
    client: Any, world: World, run: Any
) -> None:
    w = world
    today = DAY

    async def seed() -> dict[str, int]:
        people = {
            "absent": await add_located_elder(w.district_x, w.community_x, 300),
            "came": await add_located_elder(w.district_x, w.community_x, 301),
            "rare": await add_located_elder(w.district_x, w.community_x, 302),
            "standing": await add_located_elder(w.district_x, w.community_x, 303),
            "delivered": await add_located_elder(w.district_x, w.community_x, 304),
        }
        for k in range(1, 21):
            past = today - dt.timedelta(days=k)
            for who in ("absent", "came", "delivered"):
                await add_meal(district=w.district_x, site=w.site_a, elder=people[who], day=past)
            if k % 5 == 0:
                await add_meal(district=w.district_x, site=w.site_a, elder=people["rare"], day=past)
        await add_meal(district=w.district_x, site=w.site_a, elder=people["came"], day=today)
        await StandingOrder.insert(
            StandingOrder(
                elder=people["standing"],
                site=w.site_b,
                slot="lunch",
                weekdays=[0, 1, 2, 3, 4],
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await add_order(
            elder=people["standing"], district=w.district_x, site=w.site_b, status="not_delivered"
        )
        await add_order(elder=people["delivered"], district=w.district_x, site=w.site_b, status="delivered")
        return people

    people = run(seed)
    after = dt.datetime.combine(today, dt.time(6, 0), dt.UTC)  # 14:00 in Shanghai
    out = run(lambda: raise_missed_meal_alerts(w.district_x, today, "lunch", now=after))
    alerted = run(
        lambda: (
            Alert.select(Alert.elder, Alert.detail).where(Alert.kind == "missed_meal").output(load_json=True)
        )
    )
    by_elder = {a["elder"]: a["detail"] for a in alerted}
    assert set(by_elder) == {people["absent"], people["standing"]}
    assert by_elder[people["absent"]]["reason"] == "no_checkin"
    assert by_elder[people["standing"]]["reason"] == "not_delivered"
    assert sorted(out.raised) and out.checked == 4
    again = run(lambda: raise_missed_meal_alerts(w.district_x, today, "lunch", now=after))
    assert again.raised == []
    assert run(lambda: Alert.count().where(Alert.kind == "missed_meal")) == 2
    early = dt.datetime.combine(today, dt.time(3, 0), dt.UTC)  # 11:00: lunch is still being served
    try:
        run(lambda: raise_missed_meal_alerts(w.district_x, today, "lunch", now=early))
    except Exception as exc:  # DomainError crosses the portal unchanged
        assert getattr(exc, "code", "") == "missed_meal_too_early"
    else:
        raise AssertionError("raised before the set time")


def test_demo_rounds_for_tomorrow_are_planned_when_orders_exist(world: World, run: Any) -> None:
    from canteen.demo.delivery import load_rounds
    from tests.factories import NOW as now

    w = world
    today = now.date()
    tomorrow = today + dt.timedelta(days=1)

    async def seed() -> None:
        await add_user("courier_b", [("courier", None, w.site_b)])
        for i in range(12):
            e = await add_located_elder(w.district_x, w.community_x, 400 + i)
            await add_order(elder=e, district=w.district_x, site=w.site_b, day=tomorrow, status="placed")

    run(seed)
    out = run(lambda: load_rounds(w.district_x, today=today, now=now))
    assert out == {"rounds": 1, "stops": 12, "unassigned": 0}
    assert run(lambda: load_rounds(w.district_x, today=today, now=now)) == out  # replanned, not doubled
