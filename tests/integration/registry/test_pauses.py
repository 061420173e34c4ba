"""Service pauses (报停) on a real database over real HTTP: the issue's test (a pause from the 3rd
to the 5th: no standing-order meals, no missed-meal alert, service back on the 6th), who may
pause, ordering on a paused day, bounds and overlaps, and the audit trail."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.accounts.roles import COMMUNITY_WORKER, OFFICIAL, Grant, Principal
from canteen.accounts.services import load_principal
from canteen.core.errors import DomainError
from canteen.core.tables import AuditEntry
from canteen.delivery.services import raise_missed_meal_alerts
from canteen.delivery.tables import Alert
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.orders.actors import ElderPrincipal
from canteen.orders.schemas import StandingOrderIn
from canteen.orders.services import create_standing_order, materialise_standing_orders
from canteen.orders.tables import Order
from canteen.registry import pauses
from canteen.registry.pauses import PauseIn
from canteen.settings import get_settings
from tests.integration.orders.setup import delivery_world

TZ = get_settings().tz


def _local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0), TZ).astimezone(dt.UTC)


def _next_month(today: dt.date) -> dt.date:
    """The 1st of next month: a month whose 2nd–7th all lie ahead of today."""
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _body(first: dt.date, last: dt.date, kinds: str = "delivery", reason: str = "hospital") -> dict[str, Any]:
    return {"kinds": kinds, "first_day": first.isoformat(), "last_day": last.isoformat(), "reason": reason}


def test_a_pause_from_the_3rd_to_the_5th_skips_meals_and_alerts_and_resumes_on_the_6th(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1))
    elder = d.elders[0]
    month = _next_month(d.today)
    days = {n: month.replace(day=n) for n in range(2, 8)}

    async def seed() -> None:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        for day in days.values():
            await set_menu(
                admin,
                d.site,
                day,
                "lunch",
                [MealSetIn(name="套餐A", list_price_fen=1500)],
                cutoff_at=_local(day, 9),
            )
        await create_standing_order(
            admin,
            StandingOrderIn(elder_id=elder, site_id=d.site, weekdays=[0, 1, 2, 3, 4, 5, 6], payment="cash"),
        )

    run(seed)
    official = login("official_x")
    r = client.post(f"/api/v1/elders/{elder}/pauses", json=_body(days[3], days[5]), headers=official)
    assert r.status_code == 201, r.text
    pause = r.json()
    assert pause["kinds"] == "delivery" and pause["state"] == "upcoming" and pause["by_kind"] == "staff"
    reports = {}
    for n, day in days.items():
        evening_before = _local(day - dt.timedelta(days=1), 20)
        reports[n] = run(lambda day=day, at=evening_before: materialise_standing_orders(day, now=at))
    assert reports[2] == {"placed": 1} and reports[6] == {"placed": 1} and reports[7] == {"placed": 1}
    for n in (3, 4, 5):
        assert reports[n] == {"paused": 1}, reports[n]
    ordered = run(lambda: Order.select(Order.service_date).where(Order.elder == elder))
    assert sorted(o["service_date"].day for o in ordered) == [2, 6, 7]
    # Missed-meal alerts: none while paused; on the 6th the meal was not delivered, so one is raised.
    for n in (3, 4, 5, 6):
        out = run(
            lambda n=n: raise_missed_meal_alerts(world.district_x, days[n], "lunch", now=_local(days[n], 15))
        )
        assert len(out.raised) == (1 if n == 6 else 0), (n, out)
    alerted = run(lambda: Alert.select(Alert.elder, Alert.service_date).where(Alert.kind == "missed_meal"))
    assert [(a["elder"], a["service_date"]) for a in alerted] == [(elder, days[6])]


def test_who_may_pause_and_end_and_everyone_else_is_answered_not_found(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1))
    elder = d.elders[0]
    first, last = d.tomorrow, d.tomorrow + dt.timedelta(days=2)
    for user in ("official_y", "cashier_a", "operator_a", "courier_a", "kitchen_k", "city_official_h"):
        r = client.post(f"/api/v1/elders/{elder}/pauses", json=_body(first, last), headers=login(user))
        assert r.status_code == 404, (user, r.text)
        assert client.get(f"/api/v1/elders/{elder}/pauses", headers=login(user)).status_code == 404
    r = client.post(f"/api/v1/elders/{elder}/pauses", json=_body(first, last), headers=login("admin"))
    assert r.status_code == 201, r.text
    pause_id = r.json()["id"]
    r = client.post(f"/api/v1/pauses/{pause_id}/end", headers=login("official_y"))
    assert r.status_code == 404, r.text
    assert client.post("/api/v1/pauses/999999/end", headers=login("admin")).status_code == 404
    assert client.get(f"/api/v1/elders/{elder}/pauses").status_code in (401, 403)

    def worker(community: int) -> Principal:
        return Principal(
            user_id=world.users["official_x"],
            username="社区工作者",
            display_name="社区工作者",
            grants=(Grant(COMMUNITY_WORKER, district_id=world.district_x, community_id=community),),
            community_districts={community: world.district_x},
        )

    other_worker, own_worker = worker(world.community_b), worker(world.community_x)
    y_official = Principal(
        user_id=world.users["official_y"],
        username="official_y",
        display_name="official_y",
        grants=(Grant(OFFICIAL, district_id=world.district_y),),
    )
    stranger = ElderPrincipal(kind="elder", account_id=elder + 1000, elder_ids=(elder + 1000,))
    strange_family = ElderPrincipal(kind="family", account_id=77, elder_ids=(elder + 1000,))
    later = PauseIn(kinds="counter", first_day=d.tomorrow, last_day=d.tomorrow, reason="travel")

    async def service_checks() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, actor in (
            ("other_worker", other_worker),
            ("y_official", y_official),
            ("stranger", stranger),
            ("strange_family", strange_family),
        ):
            try:
                await pauses.create_pause(actor, elder, later)
                out[name] = "created"
            except DomainError as err:
                out[name] = err.code
            try:
                await pauses.end_pause(actor, pause_id)
                out[name + "_end"] = "ended"
            except DomainError as err:
                out[name + "_end"] = err.code
        me = ElderPrincipal(kind="elder", account_id=elder, elder_ids=(elder,))
        family = ElderPrincipal(kind="family", account_id=5, elder_ids=(elder,))
        out["own_worker"] = (await pauses.create_pause(own_worker, elder, later)).by_role
        out["elder"] = (await pauses.end_pause(me, pause_id)).state
        again = PauseIn(kinds="delivery", first_day=d.tomorrow, last_day=d.tomorrow, reason="visiting_family")
        out["family"] = (await pauses.create_pause(family, elder, again)).by_kind
        return out

    out = run(service_checks)
    for name in ("other_worker", "y_official", "stranger", "strange_family"):
        assert out[name] == "not_found" and out[name + "_end"] == "not_found", (name, out)
    assert out["own_worker"] == COMMUNITY_WORKER
    assert out["elder"] == "withdrawn"  # it had not begun: ending it withdraws it
    assert out["family"] == "family"


def test_ordering_on_a_paused_day_is_refused_until_the_pause_ends(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=1))
    elder = d.elders[0]
    staff = login("official_x")
    r = client.post(f"/api/v1/elders/{elder}/pauses", json=_body(d.today, d.tomorrow), headers=staff)
    assert r.status_code == 201, r.text
    pause_id = r.json()["id"]

    def order() -> Any:
        return client.post(
            "/api/v1/orders",
            json={
                "elder_id": elder,
                "site_id": d.site,
                "service_date": d.tomorrow.isoformat(),
                "slot": "lunch",
                "meal_set_id": d.sets_tomorrow["套餐A"],
            },
            headers={**staff, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "zh-CN"},
        )

    r = order()
    assert r.status_code == 409 and r.json()["code"] == "service_paused", r.text
    assert "提前恢复" in r.json()["message"]
    assert r.json()["detail"]["pause_id"] == pause_id
    assert run(lambda: Order.count().where(Order.elder == elder)) == 0
    # The elder's list shows it current; ending it (提前恢复) lets the order through.
    listed = client.get(f"/api/v1/elders/{elder}/pauses?current=true", headers=staff).json()["items"]
    assert [p["state"] for p in listed] == ["current"]
    r = client.post(f"/api/v1/pauses/{pause_id}/end", headers=staff)
    # It began today and ends today: no day was paused after all (withdrawn), today is orderable.
    assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
    assert r.json()["ended_on"] == d.today.isoformat()
    r = order()
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/pauses/{pause_id}/end", headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "pause_already_ended"
    assert client.get(f"/api/v1/elders/{elder}/pauses?current=true", headers=staff).json()["items"] == []


def test_bounds_overlaps_and_the_audit_trail(client: Any, world: Any, run: Any, login: Any) -> None:
    d = run(lambda: delivery_world(world, n_elders=1))
    elder = d.elders[0]
    staff = {**login("official_x"), "Accept-Language": "en"}
    url = f"/api/v1/elders/{elder}/pauses"
    yesterday, today = d.today - dt.timedelta(days=1), d.today
    cases = [
        (_body(yesterday, today), 422, "pause_in_past", "first_day"),
        (_body(today + dt.timedelta(days=3), today), 422, "pause_dates_invalid", "last_day"),
        (_body(today, today + dt.timedelta(days=180)), 422, "pause_too_long", "last_day"),
        (
            _body(today + dt.timedelta(days=400), today + dt.timedelta(days=401)),
            422,
            "pause_too_far_ahead",
            "first_day",
        ),
    ]
    for body, status, code, field in cases:
        r = client.post(url, json=body, headers=staff)
        assert r.status_code == status and r.json()["code"] == code, r.text
        assert r.json()["detail"]["field"] == field
    for bad in (
        {**_body(today, today), "kinds": "lunch"},
        {**_body(today, today), "reason": "bored"},
        {**_body(today, today), "note": "长" * 201},
        {**_body(today, today), "first_day": "2026-13-40"},
        {**_body(today, today), "elder_id": 5},
    ):
        r = client.post(url, json=bad, headers=staff)
        assert 400 <= r.status_code < 500 and r.status_code != 404, r.text
    assert client.post(
        "/api/v1/elders/2147483648/pauses", json=_body(today, today), headers=staff
    ).status_code in (
        400,
        404,
        422,
    )
    r = client.post(url, json=_body(today, today + dt.timedelta(days=179)), headers=staff)
    assert r.status_code == 201, r.text  # 180 days is the longest allowed
    first = r.json()["id"]
    r = client.post(
        url, json=_body(today + dt.timedelta(days=5), today + dt.timedelta(days=6), "both"), headers=staff
    )
    assert r.status_code == 409 and r.json()["code"] == "pause_overlaps", r.text
    assert r.json()["detail"]["pause_id"] == first and "End that pause first" in r.json()["message"]
    # A counter pause over the same days is another service: allowed.
    r = client.post(
        url, json={**_body(today, today + dt.timedelta(days=2), "counter"), "note": "住院"}, headers=staff
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/pauses/{first}/end", headers=staff)
    assert r.status_code == 200, r.text
    # Ended today: the same delivery days are free again from today on.
    r = client.post(
        url, json=_body(today + dt.timedelta(days=1), today + dt.timedelta(days=2)), headers=staff
    )
    assert r.status_code == 201, r.text
    rows = run(
        lambda: (
            AuditEntry.select(AuditEntry.action, AuditEntry.target_id, AuditEntry.actor_id)
            .where(AuditEntry.target_type == "service_pause")
            .order_by(AuditEntry.id)
        )
    )
    assert [r["action"] for r in rows] == ["pause.create", "pause.create", "pause.end", "pause.create"]
    assert {r["actor_id"] for r in rows} == {world.users["official_x"]}
    assert str(rows[2]["target_id"]) == str(first)


def test_a_counter_pause_quiets_a_dine_in_regular_and_a_delivery_pause_does_not(
    client: Any, world: Any, run: Any
) -> None:
    from tests.integration.delivery.data import add_meal, add_menu

    d = run(lambda: delivery_world(world, n_elders=2))
    a, b = d.elders
    day = d.tomorrow

    async def seed() -> None:
        for k in range(2, 22):  # before today (today's menu is the world's own)
            past = day - dt.timedelta(days=k)
            await add_menu(d.site, past)
            for e in (a, b):
                await add_meal(district=world.district_x, site=d.site, elder=e, day=past)
        me_a = ElderPrincipal(kind="elder", account_id=a, elder_ids=(a,))
        me_b = ElderPrincipal(kind="elder", account_id=b, elder_ids=(b,))
        await pauses.create_pause(
            me_a, a, PauseIn(kinds="counter", first_day=day, last_day=day, reason="travel")
        )
        await pauses.create_pause(
            me_b, b, PauseIn(kinds="delivery", first_day=day, last_day=day, reason="travel")
        )

    run(seed)
    out = run(lambda: raise_missed_meal_alerts(world.district_x, day, "lunch", now=_local(day, 15)))
    alerted = run(lambda: Alert.select(Alert.elder).where(Alert.kind == "missed_meal"))
    assert [r["elder"] for r in alerted] == [b] and out.checked == 1


@settings(max_examples=200, deadline=None)
@given(
    first=st.integers(0, 30),
    length=st.integers(1, 30),
    ended=st.one_of(st.none(), st.integers(0, 40)),
    probe=st.integers(-2, 45),
)
def test_in_effect_exactly_between_the_first_day_and_the_day_before_it_ended(
    first: int, length: int, ended: int | None, probe: int
) -> None:
    base = dt.date(2027, 1, 1)
    row = {
        "first_day": base + dt.timedelta(days=first),
        "last_day": base + dt.timedelta(days=first + length - 1),
        "ended_on": None if ended is None else base + dt.timedelta(days=max(ended, first)),
    }
    day = base + dt.timedelta(days=probe)
    in_effect = row["first_day"] <= day <= row["last_day"] and (
        row["ended_on"] is None or day < row["ended_on"]
    )
    last = pauses.effective_last(row)
    assert in_effect == (last is not None and row["first_day"] <= day <= last)


def test_staff_section_on_the_profile_adds_lists_and_ends_a_pause(client: Any, world: Any, run: Any) -> None:
    from tests.integration.registry.test_pages import web_login

    d = run(lambda: delivery_world(world, n_elders=1))
    elder = d.elders[0]
    csrf = web_login(client, "official_x")
    r = client.get(f"/elders/{elder}")
    assert r.status_code == 200 and 'id="staff-pause-form"' in r.text and "没有暂停记录" in r.text
    form = {
        "_csrf_token": csrf,
        "kinds": "both",
        "first_day": d.today.isoformat(),
        "last_day": (d.today + dt.timedelta(days=4)).isoformat(),
        "reason": "visiting_family",
        "note": "去女儿家住几天",
    }
    r = client.post(f"/elders/{elder}/pauses", data=form, follow_redirects=False)
    assert r.status_code == 303 and "saved=pause" in r.headers["location"], r.text
    r = client.get(f"/elders/{elder}")
    assert (
        "去子女家住" in r.text
        and "送餐和堂食都暂停" in r.text
        and "暂停中" in r.text
        and "民政工作人员" in r.text
    )
    row = r.text[r.text.index('<tr id="pause-') :].split("</tr>")[0]
    assert "visiting_family" not in row and "both" not in row and "staff" not in row  # words, never codes
    # The same days again: refused, the words next to the form.
    r = client.post(f"/elders/{elder}/pauses", data=form, follow_redirects=True)
    assert r.status_code == 200 and "这些日期已经暂停了" in r.text
    bad = {**form, "first_day": "2020-01-01"}
    r = client.post(f"/elders/{elder}/pauses", data=bad, follow_redirects=True)
    assert "暂停不能从过去的日期开始" in r.text
    pause_id = run(lambda: pauses.ServicePause.select(pauses.ServicePause.id).first())["id"]
    r = client.post(f"/elders/pauses/{pause_id}/end", data={"_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = client.get(f"/elders/{elder}")
    assert "已撤销" in r.text  # begun today, ended today: withdrawn
    # A cashier sees the profile but no pause section; a pause of another district is not found.
    web_login(client, "cashier_a")
    r = client.get(f"/elders/{elder}")
    assert r.status_code == 200 and "staff-pause-form" not in r.text


def test_the_demo_pause_is_loaded_once_for_an_elder_free_on_those_days(
    client: Any, world: Any, run: Any
) -> None:
    from types import SimpleNamespace

    from canteen.demo.care_pauses import load_pauses
    from tests.integration.delivery.data import add_order

    d = run(lambda: delivery_world(world, n_elders=2))
    busy, free = d.elders
    district = SimpleNamespace(district_id=world.district_x)

    async def go() -> tuple[int | None, int | None, list[dict[str, Any]]]:
        await add_order(elder=busy, district=world.district_x, site=d.site, day=d.tomorrow)
        first = await load_pauses(district, today=d.today)
        second = await load_pauses(district, today=d.today)
        rows = await pauses.ServicePause.select(pauses.ServicePause.elder, pauses.ServicePause.delivery)
        return first, second, rows

    first, second, rows = run(go)
    assert first is not None and first == second
    assert rows == [{"elder": free, "delivery": True}]
