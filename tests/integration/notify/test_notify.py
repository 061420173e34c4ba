"""Notifications end to end: events from their sources, fan-out to family, emergency contact,
community worker and the district webhook, and dispatch to a real HTTP receiver on loopback
(SMS gateway, WeChat API, webhook) with retries, quiet hours and no duplicates."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from canteen.accounts.services import load_principal
from canteen.accounts.tables import StaffUser
from canteen.core.db import write_transaction
from canteen.core.outbox import emit
from canteen.core.tables import OutboxEvent
from canteen.notify import rules
from canteen.notify.services import dispatch, emit_low_balances, fan_out, update_notify_settings
from canteen.notify.tables import Notification, WeChatRecipient
from canteen.orders.services import create_family_account, link_family
from canteen.registry.tables import Elder
from canteen.settings import Settings, get_settings
from tests.factories import NOW, World
from tests.integration.delivery.data import add_located_elder
from tests.integration.delivery.follow import planned
from tests.integration.notify.receiver import Receiver, start

FAMILY_PHONE = "13957100011"
EMERGENCY_PHONE = "13857100022"
WORKER_PHONE = "13757100033"
DAYTIME = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai
EVENING = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai: quiet hours


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    server = start(r)
    yield r
    server.shutdown()
    server.server_close()


def _gateway(settings: Settings, receiver: Receiver, *, wechat: bool = False) -> Settings:
    extra: dict[str, Any] = {"notify_sms_url": receiver.base + "/sms", "notify_sms_key": "sms-key"}
    if wechat:
        extra |= {
            "notify_wechat_appid": "wx-test",
            "notify_wechat_secret": "wx-secret",
            "notify_wechat_template_id": "TPL-1",
            "notify_wechat_base": receiver.base,
        }
    return dataclasses.replace(settings, **extra)


async def _elder_with_people(w: World, *, openid: str | None = None) -> int:
    """An elder living alone in community X with one linked family member, an emergency
    contact of their own and community X's worker (community_a) with a phone."""
    e = await add_located_elder(w.district_x, w.community_x, 301)
    await Elder.update({Elder.emergency_phone: EMERGENCY_PHONE, Elder.emergency_name: "李建国"}).where(
        Elder.id == e
    )
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    fam = await create_family_account(
        admin, phone=FAMILY_PHONE, password="jiashu-2580-x", name="王小明", now=NOW
    )
    await link_family(admin, fam, e, consent_note="本人同意家属接收通知", now=NOW)
    if openid:
        await WeChatRecipient.insert(WeChatRecipient(family=fam, openid=openid, created_at=NOW))
    await StaffUser.update({StaffUser.phone: WORKER_PHONE}).where(StaffUser.id == w.users["community_a"])
    return e


async def _emit(
    kind: str, w: World, elder: int, key: str, now: dt.datetime = DAYTIME, **payload: Any
) -> bool:
    async with write_transaction():
        return await emit(
            kind,
            district_id=w.district_x,
            elder_id=elder,
            payload={"service_date": "2026-11-23", "slot": "lunch", **payload},
            dedupe_key=key,
            now=now,
        )


async def _rows(**where: Any) -> list[dict[str, Any]]:
    q = Notification.select().order_by(Notification.id)
    for k, v in where.items():
        q = q.where(getattr(Notification, k) == v)
    return list(await q)


def test_each_event_reaches_its_recipients_once(world: World, run: Any) -> None:
    w = world
    e = run(lambda: _elder_with_people(w))
    for kind in rules.ROUTING:
        assert run(lambda kind=kind: _emit(kind, w, e, f"t:{kind}")) is True
        assert run(lambda kind=kind: _emit(kind, w, e, f"t:{kind}")) is False  # the same fact: no-op
    created = run(lambda: fan_out(now=DAYTIME))
    assert run(lambda: fan_out(now=DAYTIME)) == 0  # each event fanned out once
    rows = run(_rows)
    assert len(rows) == created
    got: dict[str, Counter[tuple[str, str]]] = {}
    for r in rows:
        got.setdefault(r["kind"], Counter())[(r["recipient_kind"], r["address"])] += 1
    expected_people = {
        rules.FAMILY: (rules.FAMILY, FAMILY_PHONE),
        rules.EMERGENCY: (rules.EMERGENCY, EMERGENCY_PHONE),
        rules.COMMUNITY_WORKER: (rules.COMMUNITY_WORKER, WORKER_PHONE),
    }
    for kind, who in rules.ROUTING.items():
        want = Counter(expected_people[x] for x in who if x != rules.WEBHOOK)  # no webhook set
        assert got[kind] == want, kind
    # Words, not codes, with the elder's name and the day and meal in words.
    text = next(r["text"] for r in rows if r["kind"] == "door_not_home" and r["recipient_kind"] == "family")
    name = run(lambda: Elder.select(Elder.name).where(Elder.id == e).first())["name"]
    assert text.startswith("【长者助餐】" + name)
    assert "11月23日" in text and "午餐" in text and "lunch" not in text and "door_not_home" not in text


def test_sms_is_sent_once_on_the_third_try_after_the_gateway_fails_twice(
    world: World, run: Any, settings: Settings, receiver: Receiver, client: Any, login: Any
) -> None:
    w = world
    receiver.fail_first = 2
    gw = _gateway(settings, receiver)
    e = run(lambda: _elder_with_people(w))
    run(lambda: _emit("door_not_home", w, e, "stop:1:not_home"))
    assert run(lambda: fan_out(now=DAYTIME)) == 3  # family, emergency contact, community worker
    first = run(lambda: dispatch(now=DAYTIME, settings=gw))
    assert (first.claimed, first.sent, first.retrying) == (3, 0, 3)
    # Not due before the backoff: 1 minute after the first failure.
    assert run(lambda: dispatch(now=DAYTIME + dt.timedelta(seconds=59), settings=gw)).claimed == 0
    second = run(lambda: dispatch(now=DAYTIME + dt.timedelta(minutes=1), settings=gw))
    assert (second.claimed, second.retrying) == (3, 3)
    assert run(lambda: dispatch(now=DAYTIME + dt.timedelta(minutes=2), settings=gw)).claimed == 0
    third = run(lambda: dispatch(now=DAYTIME + dt.timedelta(minutes=3), settings=gw))
    assert (third.claimed, third.sent) == (3, 3)
    assert run(lambda: dispatch(now=DAYTIME + dt.timedelta(hours=2), settings=gw)).claimed == 0
    ok = receiver.successes("/sms")
    assert Counter(s.json()["to"] for s in ok) == Counter([FAMILY_PHONE, EMERGENCY_PHONE, WORKER_PHONE])
    assert all(s.headers["authorization"] == "Bearer sms-key" for s in ok)
    assert len(receiver.seen) == 9
    rows = run(_rows)
    assert {(r["status"], r["attempts"], r["provider"]) for r in rows} == {("sent", 3, "sms_gateway")}
    # The officials' log shows it in words, the phone masked.
    h = login("official_x")
    page = client.get(f"/official/districts/{w.district_x}/notifications", headers=h)
    assert page.status_code == 200
    assert "已发送" in page.text and "上门无人" in page.text and "139****0011" in page.text
    i = page.text.find(FAMILY_PHONE)
    assert i < 0, page.text[i - 300 : i + 50]
    assert ">door_not_home<" not in page.text and ">sent<" not in page.text
    api = client.get(f"/api/v1/districts/{w.district_x}/notifications", params={"status": "sent"}, headers=h)
    assert api.status_code == 200 and len(api.json()["items"]) == 3
    assert client.get(f"/api/v1/districts/{w.district_y}/notifications", headers=h).status_code == 404
    assert client.get(f"/official/districts/{w.district_y}/notifications", headers=h).status_code == 404


def test_two_dispatchers_at_once_send_each_message_once(
    world: World, run: Any, settings: Settings, receiver: Receiver
) -> None:
    w = world
    gw = _gateway(settings, receiver)
    e = run(lambda: _elder_with_people(w))
    for i in range(12):
        run(lambda i=i: _emit("order_confirmed", w, e, f"order:{i}:confirmed", order_id=i))
    assert run(lambda: fan_out(now=DAYTIME)) == 12

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(dispatch(now=DAYTIME, settings=gw, limit=8) for _ in range(2))))

    reports = run(both)
    reports.append(run(lambda: dispatch(now=DAYTIME, settings=gw)))
    assert sum(r.claimed for r in reports) == 12 and sum(r.sent for r in reports) == 12
    assert len(receiver.successes("/sms")) == 12  # no message twice
    assert {r["status"] for r in run(_rows)} == {"sent"}


def test_quiet_hours_hold_personal_messages_but_not_urgent_ones_or_the_webhook(
    world: World, run: Any, settings: Settings, receiver: Receiver
) -> None:
    w = world
    gw = _gateway(settings, receiver)
    e = run(lambda: _elder_with_people(w))

    async def hook() -> None:
        official = await load_principal(w.users["official_x"])
        assert official is not None
        await update_notify_settings(
            official,
            w.district_x,
            webhook_url=receiver.base + "/hook",
            webhook_secret="district-secret-0123456789",
            missed_meal_days=2,
            low_balance_fen=2000,
            quiet_start="21:00",
            quiet_end="07:00",
            now=NOW,
        )

    run(hook)
    run(lambda: _emit("order_cancelled", w, e, "order:9:cancelled", now=EVENING))
    run(lambda: _emit("welfare_urgent", w, e, "welfare:9", now=EVENING))
    run(lambda: fan_out(now=EVENING))
    out = run(lambda: dispatch(now=EVENING, settings=gw))
    rows = run(_rows)
    sent = {(r["kind"], r["recipient_kind"]) for r in rows if r["status"] == "sent"}
    assert sent == {
        ("welfare_urgent", "family"),
        ("welfare_urgent", "emergency"),
        ("welfare_urgent", "community_worker"),
        ("welfare_urgent", "webhook"),
        ("order_cancelled", "webhook"),
    }
    held = [r for r in rows if r["status"] == "pending"]
    assert [(r["kind"], r["recipient_kind"]) for r in held] == [("order_cancelled", "family")]
    seven = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)  # 07:00 the next morning in Shanghai
    assert held[0]["next_attempt_at"] == seven and out.sent == 5
    assert run(lambda: dispatch(now=seven - dt.timedelta(minutes=1), settings=gw)).claimed == 0
    assert run(lambda: dispatch(now=seven, settings=gw)).sent == 1
    texts = [s.json()["text"] for s in receiver.successes("/sms")]
    assert texts[-1].endswith("已取消。") and "紧急" in texts[0]


def test_webhook_is_signed_and_the_signature_verifies(
    world: World, run: Any, settings: Settings, receiver: Receiver
) -> None:
    w = world
    secret = "district-secret-0123456789"
    e = run(lambda: _elder_with_people(w))

    async def hook() -> None:
        official = await load_principal(w.users["official_x"])
        assert official is not None
        await update_notify_settings(
            official,
            w.district_x,
            webhook_url=receiver.base + "/hook",
            webhook_secret=secret,
            missed_meal_days=2,
            low_balance_fen=2000,
            quiet_start="21:00",
            quiet_end="07:00",
        )

    run(hook)
    receiver.fail_first = 1
    run(lambda: _emit("door_refused", w, e, "stop:2:refused"))
    run(lambda: fan_out(now=DAYTIME))
    run(lambda: dispatch(now=DAYTIME, settings=settings))
    run(lambda: dispatch(now=DAYTIME + dt.timedelta(minutes=1), settings=settings))
    hooks = receiver.successes("/hook")
    assert len(hooks) == 1
    h = hooks[0]
    ts = h.headers["x-canteen-timestamp"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + h.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h.headers["x-canteen-signature"], "sha256=" + mac)
    tampered = hmac.new(secret.encode(), ts.encode() + b"." + h.body + b" ", hashlib.sha256).hexdigest()
    assert h.headers["x-canteen-signature"] != "sha256=" + tampered
    doc = h.json()
    assert doc["kind"] == "door_refused" and doc["elder_id"] == e and doc["district_id"] == w.district_x
    # Without a gateway the people's SMS went to the log only, and the status says so.
    people = run(lambda: _rows(channel="sms"))
    assert people and {r["status"] for r in people} == {"logged"}


def test_wechat_gets_a_token_once_then_sends_template_messages(
    world: World, run: Any, settings: Settings, receiver: Receiver
) -> None:
    w = world
    gw = _gateway(settings, receiver, wechat=True)
    e = run(lambda: _elder_with_people(w, openid="oFAMILY-openid-1"))
    run(lambda: _emit("order_confirmed", w, e, "order:21:confirmed"))
    run(lambda: _emit("order_cancelled", w, e, "order:22:cancelled"))
    run(lambda: fan_out(now=DAYTIME))
    out = run(lambda: dispatch(now=DAYTIME, settings=gw))
    assert out.sent == 4  # SMS and WeChat for each event
    tokens = [s for s in receiver.seen if s.path == "/cgi-bin/token"]
    assert len(tokens) <= 1  # cached for the process (another test may have fetched it)
    sends = receiver.successes("/cgi-bin/message/template/send")
    assert len(sends) == 2
    body = sends[0].json()
    assert body["touser"] == "oFAMILY-openid-1" and body["template_id"] == "TPL-1"
    assert "已确认" in body["data"]["first"]["value"]
    assert {r["provider"] for r in run(lambda: _rows(channel="wechat"))} == {"wechat"}


def test_the_sources_emit_door_welfare_and_order_events(
    world: World, run: Any, client: Any, login: Any
) -> None:
    """The hooks at the sources: the courier's not home and attention note at the door, and the
    order state machine's confirmed and cancelled, each once."""
    from canteen.core.clock import utcnow
    from tests.factories import add_user
    from tests.integration.delivery.data import add_menu, add_order, publish_demo_policy

    w = world
    day = utcnow().astimezone(get_settings().tz).date()  # the courier acts on the stop's own day

    async def seed() -> tuple[int, int, int, int]:
        e = await _elder_with_people(w)
        await publish_demo_policy(w.district_x)
        await add_menu(w.kitchen_x, day)
        kept = await add_order(elder=e, district=w.district_x, site=w.site_b, day=day, status="confirmed")
        other = await add_located_elder(w.district_x, w.community_x, 302)
        gone = await add_order(elder=other, district=w.district_x, site=w.site_b, day=day, status="cancelled")
        courier = await add_user("courier_b", [("courier", None, w.site_b)])
        return e, kept, gone, courier

    e, kept, gone, courier = run(seed)
    r = client.post(
        f"/api/v1/sites/{w.kitchen_x}/rounds",
        json={"service_date": day.isoformat(), "slot": "lunch", "couriers": [courier]},
        headers=login("kitchen_k"),
    )
    rid = planned(client, r, login("kitchen_k"))["rounds"][0]["id"]
    h = login("courier_b")
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).status_code == 200
    stop = next(
        s for s in client.get(f"/api/v1/rounds/{rid}", headers=h).json()["stops"] if s["elder_id"] == e
    )
    welfare = client.post(f"/api/v1/stops/{stop['id']}/welfare", json={"level": "attention"}, headers=h)
    assert welfare.status_code in (200, 201), welfare.text
    fail = client.post(
        f"/api/v1/stops/{stop['id']}/fail", json={"outcome": "not_home", "reason": "敲门无人应答"}, headers=h
    )
    assert fail.status_code == 200, fail.text
    events = run(lambda: OutboxEvent.select(OutboxEvent.kind, OutboxEvent.dedupe_key, OutboxEvent.elder))
    got = Counter((ev["kind"], ev["elder"]) for ev in events)
    assert got[("order_confirmed", e)] == 1 and got[("door_not_home", e)] == 1
    assert got[("welfare_attention", e)] == 1
    assert ("order_cancelled", f"order:{gone}:cancelled") in {(ev["kind"], ev["dedupe_key"]) for ev in events}
    assert ("order_confirmed", f"order:{kept}:confirmed") in {(ev["kind"], ev["dedupe_key"]) for ev in events}
    run(lambda: fan_out(now=DAYTIME))
    door = run(lambda: _rows(kind="door_not_home"))
    assert sorted(r["recipient_kind"] for r in door) == ["community_worker", "emergency", "family"]


def test_low_balance_is_reported_once_a_day(world: World, run: Any) -> None:
    w = world

    async def seed() -> tuple[int, int]:
        low = await add_located_elder(w.district_x, w.community_x, 311, balance_fen=1500)
        rich = await add_located_elder(w.district_x, w.community_x, 312, balance_fen=5000)
        return low, rich

    low, _rich = run(seed)
    assert run(lambda: emit_low_balances(now=NOW + dt.timedelta(hours=1))) == 1
    assert run(lambda: emit_low_balances(now=NOW + dt.timedelta(hours=2))) == 0
    ev = run(lambda: OutboxEvent.select().where(OutboxEvent.kind == "low_balance").output(load_json=True))
    assert len(ev) == 1 and ev[0]["elder"] == low and ev[0]["payload"]["balance_fen"] == 1500
