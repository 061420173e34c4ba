"""No early delivery (issue #16): a stop of a later service day cannot be marked delivered, or
not delivered, before its day in the service zone; on its day it can. The kitchen's label data
carries the day, the slot and the stop; the plan lists the rounds its packing lists fill."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.errors import DomainError
from canteen.delivery.services import deliver_stop, fail_stop
from canteen.registry.card_services import issue_card
from canteen.settings import get_settings
from tests.factories import World, add_user
from tests.integration.delivery.data import (
    DAY,
    add_located_elder,
    add_menu,
    add_order,
    publish_demo_policy,
)
from tests.integration.delivery.follow import planned

RAW_CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # low_salt, not_home, out_for_delivery …


def _local(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), get_settings().tz).astimezone(dt.UTC)


def _round_for(
    client: Any, w: World, run: Any, login: Any, n: int = 2
) -> tuple[int, list[dict[str, Any]], dict[int, str]]:
    """A round for DAY leaving from satellite B (planned by the district's official), started,
    with ``n`` elders and their cards."""

    async def seed() -> tuple[dict[int, str], int]:
        await publish_demo_policy(w.district_x)
        await add_menu(w.kitchen_x, DAY)
        admin = await load_principal(w.users["admin"])
        assert admin is not None
        cards = {}
        for i in range(n):
            e = await add_located_elder(w.district_x, w.community_x, 600 + i)
            cards[e] = (await issue_card(admin, e, reason="new")).token
            await add_order(elder=e, district=w.district_x, site=w.site_b, payment="cash" if i else "balance")
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return cards, courier

    cards, courier = run(seed)
    r = client.post(
        f"/api/v1/sites/{w.site_b}/rounds",
        json={"service_date": DAY.isoformat(), "slot": "lunch", "couriers": [courier]},
        headers=login("official_x"),
    )
    rid = planned(client, r, login("official_x"))["rounds"][0]["id"]
    h = login("courier_b")
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).status_code == 200
    stops = client.get(f"/api/v1/rounds/{rid}", headers=h).json()["stops"]
    return rid, stops, cards


def test_a_stop_of_a_later_day_is_refused_before_its_day_and_accepted_on_it(
    client: Any, world: World, run: Any, login: Any
) -> None:
    w = world
    _rid, stops, cards = _round_for(client, w, run, login)
    first, second = stops
    card_of = cards
    who = run(lambda: _principal("courier_b"))
    eve = _local(DAY - dt.timedelta(days=1), 23, 59)  # the evening before, Shanghai time
    for attempt in (
        lambda: deliver_stop(who, first["id"], card_of[first["elder_id"]], now=eve),
        lambda: fail_stop(who, second["id"], "not_home", "提前敲门", now=eve),
    ):
        try:
            run(attempt)
        except DomainError as exc:
            assert exc.code == "delivery_too_early" and exc.status == 409
            assert "以后日期" in exc.message("zh-CN") and "later day" in exc.message("en")
            assert exc.detail["service_date"] == DAY.isoformat()
        else:
            raise AssertionError("a stop of tomorrow was closed today")
    h = login("courier_b")
    view = client.get(f"/api/v1/rounds/{_rid}", headers=h).json()["stops"]
    assert {s["status"] for s in view} == {"pending"}  # nothing moved
    assert all(s["service_date"] == DAY.isoformat() and s["slot"] == "lunch" for s in view)

    # Just after midnight on the day (16:01 UTC the day before) the door is open.
    midnight = _local(DAY, 0, 1)
    done = run(lambda: deliver_stop(who, first["id"], card_of[first["elder_id"]], now=midnight))
    assert done.status == "delivered"
    failed = run(lambda: fail_stop(who, second["id"], "not_home", "家中无人", now=_local(DAY, 11, 40)))
    assert failed.status == "not_home"


async def _principal(username: str) -> Any:
    from canteen.accounts.tables import StaffUser

    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
    assert row is not None
    return await load_principal(int(row["id"]))


def test_the_routes_refuse_an_early_stop_in_words(client: Any, world: World, run: Any, login: Any) -> None:
    """Through the API (JSON code) and the courier's page (the refusal in words, no form)."""
    w = world
    today = dt.datetime.now(dt.UTC).astimezone(get_settings().tz).date()
    if today >= DAY:  # the suite's fixed DAY has come: the rule is covered by the test above
        return
    _rid, stops, cards = _round_for(client, w, run, login, n=1)
    (stop,) = stops
    h = login("courier_b")
    r = client.post(f"/api/v1/stops/{stop['id']}/deliver", json={"card": cards[stop["elder_id"]]}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "delivery_too_early"
    r = client.post(
        f"/api/v1/stops/{stop['id']}/fail", json={"outcome": "not_home", "reason": "x"}, headers=h
    )
    assert r.status_code == 409 and r.json()["code"] == "delivery_too_early"
    page = client.get(f"/courier/stops/{stop['id']}", headers=h)
    assert page.status_code == 200
    assert 'id="too-early"' in page.text and 'id="deliver-form"' not in page.text
    schema = client.get("/schema/openapi.json").json()
    deliver = schema["paths"]["/api/v1/stops/{stop_id}/deliver"]["post"]
    assert "delivery_too_early" in str(deliver["responses"])


def test_labels_and_plan_carry_day_slot_route_and_words(
    client: Any, world: World, run: Any, login: Any
) -> None:
    w = world
    rid, _stops, _cards = _round_for(client, w, run, login)
    h = login("kitchen_k")
    labels = client.get(
        f"/api/v1/kitchens/{w.kitchen_x}/labels", params={"date": DAY.isoformat(), "slot": "lunch"}, headers=h
    ).json()
    assert {(x["service_date"], x["slot"]) for x in labels} == {(DAY.isoformat(), "lunch")}
    assert sorted((x["round_id"], x["sequence"]) for x in labels) == [(rid, 1), (rid, 2)]
    # The plan of the kitchen lists the round leaving from its satellite point B (the one its
    # packing list fills), so it never says "no rounds planned yet" beside that packing list.
    plan = client.get(f"/kitchen/{w.kitchen_x}/plan", params={"date": DAY.isoformat()}, headers=h)
    assert plan.status_code == 200
    assert f"#round-{rid}" in plan.text and "尚未规划送餐路线" not in plan.text
    packing = client.get(f"/kitchen/{w.kitchen_x}/packing", params={"date": DAY.isoformat()}, headers=h)
    assert f'id="round-{rid}"' in packing.text
    page = client.get(f"/kitchen/{w.kitchen_x}/labels", params={"date": DAY.isoformat()}, headers=h)
    text = re.sub(r"<[^>]+>", " ", page.text.split("<main", 1)[1])
    assert "低盐" in text and "午餐" in text and "12月2日" in text and "第 1 站" in text
    assert not RAW_CODE.findall(text), RAW_CODE.findall(text)
    assert "T01:00:00" not in plan.text and "+00:00" not in plan.text
