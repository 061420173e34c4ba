"""Kitchen plan, courier rounds, proof of delivery with welfare checks, and missed-meal alerts."""

from __future__ import annotations

import datetime as dt
import io
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook

from canteen.accounts.services import load_principal
from canteen.core.categories import allergen_labels, texture_level_label
from canteen.core.clock import utcnow
from canteen.delivery.services import fail_stop, raise_missed_meal_alerts
from canteen.delivery.tables import Alert
from canteen.meals.tables import Meal
from canteen.meals.usage import month_subsidy
from canteen.orders.schemas import StandingOrderIn
from canteen.orders.services import create_standing_order
from canteen.orders.tables import Order
from canteen.payments.ledger import balance_of, cash_drawer, ledger_balanced, verify_balances
from canteen.registry.card_services import issue_card
from canteen.registry.tables import Elder
from canteen.settings import get_settings
from tests.factories import NOW, World, add_user
from tests.integration.delivery.data import (
    BALANCE_FEN,
    DAY,
    SETS,
    add_located_elder,
    add_meal,
    add_menu,
    add_order,
    district_month_subsidy,
    district_month_totals,
    lunch_time,
    publish_demo_policy,
    serve_at_counter,
    staff,
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
            # A delivery that week is no dine-in; nor is a meal on another weekday.
            e = await add_located_elder(w.district_x, w.community_x, 60 + k)
            await add_order(elder=e, district=w.district_x, site=w.site_b, day=past, status="delivered")
            await add_menu(w.kitchen_x, past - dt.timedelta(days=1))
            await add_meal(district=w.district_x, site=w.site_b, elder=None, day=past - dt.timedelta(days=1))
        orders = []
        for i in range(7):
            e = await add_located_elder(w.district_x, w.community_x, i)  # low_salt when i % 3 == 0
            orders.append(
                await add_order(elder=e, district=w.district_x, site=w.site_b, meal_set_name=SETS[i % 2])
            )
        e = await add_located_elder(w.district_x, w.community_x, 50)
        await add_order(elder=e, district=w.district_x, site=w.site_b, status="cancelled")
        late = dt.datetime.combine(DAY, dt.time(2, 0), dt.UTC)  # after the 09:00 cut-off
        e = await add_located_elder(w.district_x, w.community_x, 51)
        orders.append(await add_order(elder=e, district=w.district_x, site=w.site_b, updated_at=late))
        # One elder eats minced and moist (IDDSI 5) and avoids peanuts: cooked as a portion of its own.
        await Elder.update({Elder.allergens: ["peanut"], Elder.texture_level: 5}).where(Elder.id == e)
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
    db_orders = run(
        lambda: Order.select(Order.meal_set_name).where(
            (Order.status != "cancelled") & (Order.service_date == DAY)
        )
    )
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
    apart = [ln for ln in plan["lines"] if ln["allergens"]]
    assert [(ln["allergens"], ln["texture_level"], ln["delivery"]) for ln in apart] == [(["peanut"], 5, 1)]
    assert [(s["allergens"], s["texture_level"]) for s in plan["by_set"] if s["allergens"]] == [
        (["peanut"], 5)
    ]
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
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["生产计划", "标签", "装箱单"]
    plan_ws = book["生产计划"]
    assert plan_ws["C1"].value == "午餐" and plan_ws["A2"].value == "去向"
    assert all(c.value != "low_salt" for row in plan_ws.iter_rows() for c in row)
    assert book["标签"]["A1"].value == "订单"
    x_en = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/plan.xlsx",
        params={"date": DAY.isoformat(), "slot": "lunch"},
        headers={**headers, "Accept-Language": "en"},
    )
    book = load_workbook(io.BytesIO(x_en.content))
    assert book.sheetnames == ["Production plan", "Labels", "Packing lists"]
    assert book["Production plan"]["C1"].value == "Lunch"
    assert [c.value for c in book["Production plan"][2]] == [
        "Destination", "Meal set", "Diet", "Texture", "Allergies", "Dine-in expected", "Delivery", "Total"
    ]  # fmt: skip
    row = next(r for r in book["Production plan"].iter_rows(min_row=3, values_only=True) if r[4])
    assert row[3] == texture_level_label(5, "en") and row[4] == allergen_labels(["peanut"], "en")
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
        await add_menu(w.kitchen_x, DAY)
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


def _door_day() -> dt.date:
    """Today in the service zone: the courier at the door records outcomes on the stop's own
    service day (a stop of a later day is refused, see test_early_delivery.py), and the
    HTTP routes read the real clock."""
    return utcnow().astimezone(get_settings().tz).date()


@dataclass
class Books:
    """Where DAY's orders stand, each with its meal, elder balance and month subsidy, and the
    totals they must add up to."""

    orders: dict[int, dict[str, Any]]
    drawer_fen: int  # cash in site B's drawer for DAY
    district_subsidy_fen: int  # district X's meal subsidy this month, from the monthly rollup
    district_totals: dict[str, int]  # … with its delivery subsidy and the funders' shares


def _books(run: Any, w: World, day: dt.date = DAY) -> Books:
    """Read the books after an outcome and check they agree with every order's status: a live
    order's meal stands and is paid (from the balance, or at the door once delivered for
    cash); a not-delivered one is voided with its money back; the drawer holds exactly the
    cash collected at the door; the month's subsidy counts the live meals only; every cached
    balance equals its ledger sum and the ledger is well formed. (Each elder has one order on
    DAY and was topped up BALANCE_FEN before ordering.)"""

    async def read() -> tuple[Books, list[Any], bool]:
        rows = await Order.select(*Order.all_columns()).where(Order.service_date == day).order_by(Order.id)
        orders: dict[int, dict[str, Any]] = {}
        for o in rows:
            meal = await Meal.select(Meal.voided_at, Meal.subsidy_fen).where(Meal.id == o["meal"]).first()
            assert meal is not None and meal["subsidy_fen"] == o["subsidy_fen"]
            orders[o["id"]] = {
                **o,
                "voided": meal["voided_at"] is not None,
                "balance": await balance_of(o["elder"]),
                "month_subsidy": await month_subsidy(o["elder"], day),
            }
        books = Books(
            orders=orders,
            drawer_fen=(await cash_drawer(w.site_b, day)).cash_in_fen,
            district_subsidy_fen=await district_month_subsidy(w.district_x, day),
            district_totals=await district_month_totals(w.district_x, day),
        )
        return books, await verify_balances(), await ledger_balanced()

    books, mismatches, balanced = run(read)
    assert mismatches == [] and balanced
    for o in books.orders.values():
        live = o["status"] not in ("not_delivered", "cancelled")
        by_balance = o["payment"] == "balance"
        assert o["voided"] is not live
        assert o["balance"] == BALANCE_FEN - (o["total_due_fen"] if by_balance and live else 0)
        assert o["month_subsidy"] == (o["subsidy_fen"] if live else 0)
        if not live:
            expected = "refunded" if by_balance else "canceled"
        elif by_balance or o["status"] == "delivered":
            expected = "paid"
        else:
            expected = "due_on_delivery"
        assert o["payment_status"] == expected, o
    door_cash = [o for o in books.orders.values() if o["payment"] == "cash" and o["status"] == "delivered"]
    assert books.drawer_fen == sum(o["total_due_fen"] for o in door_cash)
    standing = [o for o in books.orders.values() if not o["voided"]]
    assert books.district_subsidy_fen == sum(o["subsidy_fen"] for o in standing)
    # The funders' rows (city, district) share out exactly the meals' subsidy.
    assert books.district_totals["funded_fen"] == books.district_subsidy_fen
    assert books.district_totals["delivery_subsidy_fen"] == sum(o["delivery_subsidy_fen"] for o in standing)
    return books


def test_round_of_40_deliveries_is_planned_and_its_manifest_printed(
    client: Any, world: World, run: Any, login: Any, finish_job: Any
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
    done = finish_job(r, login("kitchen_k"))
    assert done["status"] == "done", done
    body = done["result"]
    assert body["url"] == f"/kitchen/{w.kitchen_x}/rounds?date={DAY.isoformat()}&slot=lunch"
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
    again_body = finish_job(again, login("kitchen_k"))
    assert again_body["status"] == "done" and len(again_body["result"]["unassigned_order_ids"]) == 20
    # A courier of another site cannot be given the round.
    bad = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": DAY.isoformat(), "slot": "lunch", "couriers": [w.users["courier_a"]]},
        headers=login("kitchen_k"),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "courier_not_allowed"


def test_at_the_door_card_scan_welfare_check_and_urgent_alert_on_the_officials_view(
    client: Any, world: World, run: Any, login: Any, finish_job: Any
) -> None:
    w = world
    day = _door_day()

    async def seed() -> tuple[list[int], list[str], int]:
        await publish_demo_policy(w.district_x)
        await add_menu(w.kitchen_x, day)
        admin = await load_principal(w.users["admin"])
        assert admin is not None
        elders, cards = [], []
        for i in range(3):
            e = await add_located_elder(w.district_x, w.community_x, 200 + i)
            elders.append(e)
            cards.append((await issue_card(admin, e, reason="new")).token)
            await add_order(elder=e, district=w.district_x, site=w.site_b, day=day)
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return elders, cards, courier

    elders, cards, courier = run(seed)
    placed = _books(run, w, day)
    assert all(o["subsidy_fen"] > 0 and o["payment_status"] == "paid" for o in placed.orders.values())
    r = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": day.isoformat(), "slot": "lunch", "couriers": [courier]},
        headers=login("kitchen_k"),
    )
    rid = finish_job(r, login("kitchen_k"))["result"]["rounds"][0]["id"]
    h = login("courier_b")
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).status_code == 200
    stops = client.get(f"/api/v1/rounds/{rid}", headers=h).json()["stops"]
    assert {o["status"] for o in _books(run, w, day).orders.values()} == {"out_for_delivery"}
    card_of = dict(zip(elders, cards, strict=True))
    first, second, third = stops
    wrong = next(c for e, c in card_of.items() if e != first["elder_id"])
    bad = client.post(f"/api/v1/stops/{first['id']}/deliver", json={"card": wrong}, headers=h)
    assert bad.status_code == 409 and bad.json()["code"] == "card_mismatch"
    assert _books(run, w, day).orders[first["order_id"]]["status"] == "out_for_delivery"
    ok = client.post(
        f"/api/v1/stops/{first['id']}/deliver", json={"card": card_of[first["elder_id"]]}, headers=h
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "delivered" and ok.json()["card_scanned"] and ok.json()["delivered_at"]
    # Delivered, paid from the balance when it was placed: the meal stands, its money stays taken.
    books = _books(run, w, day)
    o = books.orders[first["order_id"]]
    assert (o["status"], o["payment_status"], o["voided"]) == ("delivered", "paid", False)
    assert o["balance"] == BALANCE_FEN - o["total_due_fen"] and o["month_subsidy"] == o["subsidy_fen"]
    assert books.drawer_fen == 0  # nothing collected at the door for a balance order
    assert books.district_subsidy_fen == sum(x["subsidy_fen"] for x in placed.orders.values())
    twice = client.post(
        f"/api/v1/stops/{first['id']}/deliver", json={"card": card_of[first["elder_id"]]}, headers=h
    )
    assert twice.json()["code"] == "stop_closed"
    assert _books(run, w, day) == books  # a refused second delivery moves nothing
    fine = client.post(f"/api/v1/stops/{first['id']}/welfare", json={"level": "fine"}, headers=h)
    assert fine.status_code == 201 and fine.json()["alert_id"] is None
    # Not home: the reason is kept and the emergency contact shown to the courier.
    nh = client.post(
        f"/api/v1/stops/{second['id']}/fail",
        json={"outcome": "not_home", "reason": "敲门无人应答"},
        headers=h,
    )
    assert nh.status_code == 200 and nh.json()["emergency_phone"] == "13900001111"
    # The meal is voided: the co-pay back on the balance, the subsidy out of the month's totals.
    after = _books(run, w, day)
    o = after.orders[second["order_id"]]
    assert o["status"] == "not_delivered" and "敲门无人应答" in o["not_delivered_reason"]
    assert (o["payment_status"], o["voided"], o["balance"], o["month_subsidy"]) == (
        "refunded", True, BALANCE_FEN, 0
    )  # fmt: skip
    assert after.district_subsidy_fen == books.district_subsidy_fen - o["subsidy_fen"]
    assert after.drawer_fen == 0
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


def test_courier_outcomes_move_the_order_the_meal_and_the_money(
    client: Any, world: World, run: Any, login: Any, finish_job: Any
) -> None:
    """Cash collected at the door, refused, not home with cash due, failed: each outcome through
    the state machine, and after each the order, its meal, the balances, the drawer and the
    month's subsidy agree."""
    w = world
    day = _door_day()
    kinds = {"cash_home": "cash", "refuses": "balance", "cash_away": "cash", "fails": "balance"}

    async def seed() -> tuple[dict[str, int], dict[int, str], int]:
        await publish_demo_policy(w.district_x)
        await add_menu(w.kitchen_x, day)
        admin = await load_principal(w.users["admin"])
        assert admin is not None
        people, cards = {}, {}
        for i, (who, payment) in enumerate(kinds.items()):
            e = await add_located_elder(w.district_x, w.community_x, 250 + i)
            people[who] = e
            cards[e] = (await issue_card(admin, e, reason="new")).token
            await add_order(elder=e, district=w.district_x, site=w.site_b, day=day, payment=payment)
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return people, cards, courier

    people, cards, courier = run(seed)
    placed = _books(run, w, day)
    order_of = {o["elder"]: o["id"] for o in placed.orders.values()}
    assert placed.drawer_fen == 0 and all(o["subsidy_fen"] > 0 for o in placed.orders.values())
    r = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": day.isoformat(), "slot": "lunch", "couriers": [courier]},
        headers=login("kitchen_k"),
    )
    rid = finish_job(r, login("kitchen_k"))["result"]["rounds"][0]["id"]
    h = login("courier_b")
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).status_code == 200
    stop_of = {s["elder_id"]: s for s in client.get(f"/api/v1/rounds/{rid}", headers=h).json()["stops"]}
    cash_home = order_of[people["cash_home"]]
    assert stop_of[people["cash_home"]]["to_collect_fen"] == placed.orders[cash_home]["total_due_fen"] > 0

    # Delivered for cash: the co-pay collected at the door lands in site B's drawer for the day.
    e = people["cash_home"]
    ok = client.post(f"/api/v1/stops/{stop_of[e]['id']}/deliver", json={"card": cards[e]}, headers=h)
    assert ok.status_code == 200, ok.text
    books = _books(run, w, day)
    o = books.orders[cash_home]
    assert (o["status"], o["payment_status"], o["voided"]) == ("delivered", "paid", False)
    assert books.drawer_fen == o["total_due_fen"] and o["balance"] == BALANCE_FEN
    assert (
        o["month_subsidy"] == o["subsidy_fen"] and books.district_subsidy_fen == placed.district_subsidy_fen
    )

    # Refused, paid by balance: the co-pay goes back, the subsidy leaves the month.
    e = people["refuses"]
    r = client.post(
        f"/api/v1/stops/{stop_of[e]['id']}/fail",
        json={"outcome": "refused", "reason": "说今天不想吃"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["status"] == "refused", r.text
    before, books = books, _books(run, w, day)
    o = books.orders[order_of[e]]
    assert (o["status"], o["payment_status"], o["voided"]) == ("not_delivered", "refunded", True)
    assert o["not_delivered_reason"].startswith("refused")
    assert o["balance"] == BALANCE_FEN and o["month_subsidy"] == 0
    assert books.district_subsidy_fen == before.district_subsidy_fen - o["subsidy_fen"]
    assert books.drawer_fen == before.drawer_fen

    # Not home with cash due: nothing was taken, nothing is given back; the subsidy is released.
    e = people["cash_away"]
    r = client.post(
        f"/api/v1/stops/{stop_of[e]['id']}/fail",
        json={"outcome": "not_home", "reason": "家中无人"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    before, books = books, _books(run, w, day)
    o = books.orders[order_of[e]]
    assert (o["status"], o["payment_status"], o["voided"]) == ("not_delivered", "canceled", True)
    assert o["balance"] == BALANCE_FEN and books.drawer_fen == before.drawer_fen
    assert books.district_subsidy_fen == before.district_subsidy_fen - o["subsidy_fen"]

    # Failed (the van broke down), recorded through the service rather than the route.
    e = people["fails"]
    who = run(lambda: load_principal(courier))
    view = run(lambda: fail_stop(who, stop_of[e]["id"], "failed", "车坏了"))
    assert view.status == "failed"
    before, books = books, _books(run, w, day)
    o = books.orders[order_of[e]]
    assert (o["status"], o["payment_status"], o["voided"]) == ("not_delivered", "refunded", True)
    assert o["balance"] == BALANCE_FEN and o["month_subsidy"] == 0
    assert books.district_subsidy_fen == placed.orders[cash_home]["subsidy_fen"]
    assert books.drawer_fen == before.drawer_fen == placed.orders[cash_home]["total_due_fen"]
    # Every stop closed: the round is done, and a closed stop refuses a second outcome.
    assert client.get(f"/api/v1/rounds/{rid}", headers=h).json()["round"]["status"] == "done"
    again = client.post(
        f"/api/v1/stops/{stop_of[e]['id']}/fail", json={"outcome": "not_home", "reason": "再试"}, headers=h
    )
    assert again.status_code == 409 and again.json()["code"] == "stop_closed"
    assert _books(run, w, day) == books


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
            await add_menu(w.site_a, past)
            for who in ("absent", "came", "delivered"):
                await add_meal(district=w.district_x, site=w.site_a, elder=people[who], day=past)
            if k % 5 == 0:
                await add_meal(district=w.district_x, site=w.site_a, elder=people["rare"], day=past)
        await add_menu(w.site_a, today)
        await add_menu(w.kitchen_x, today)
        await serve_at_counter(w.site_a, people["came"], lunch_time(today))
        standing = await create_standing_order(
            await staff("official", district=w.district_x),
            StandingOrderIn(elder_id=people["standing"], site_id=w.site_b, weekdays=[0, 1, 2, 3, 4]),
            now=NOW,
        )
        await add_order(
            elder=people["standing"],
            district=w.district_x,
            site=w.site_b,
            status="not_delivered",
            standing_order=standing.id,
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
        await add_menu(w.kitchen_x, tomorrow)
        for i in range(12):
            e = await add_located_elder(w.district_x, w.community_x, 400 + i)
            await add_order(elder=e, district=w.district_x, site=w.site_b, day=tomorrow, status="placed")

    run(seed)
    out = run(lambda: load_rounds(w.district_x, today=today, now=now))
    assert out == {"rounds": 1, "stops": 12, "unassigned": 0}
    assert run(lambda: load_rounds(w.district_x, today=today, now=now)) == out  # replanned, not doubled
