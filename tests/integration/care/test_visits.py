"""Welfare visits: rules → plan, due dates with an injected clock, the courier's door checks,
coverage figures, the outbox and the alert of an urgent visit, scope and volunteer hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.accounts.roles import COMMUNITY_WORKER, VOLUNTEER, Grant, Principal
from canteen.accounts.services import load_principal
from canteen.care import visits
from canteen.care.visits import VisitIn, VisitRuleIn
from canteen.core.errors import DomainError
from canteen.core.tables import OutboxEvent
from canteen.delivery.tables import Alert, WelfareCheck
from canteen.regions.tables import Community
from canteen.registry.tables import Elder
from tests.factories import NOW, World, add_user
from tests.integration.cards.elders import add_elder

# NOW is 2026-11-23 11:00 in Shanghai; rules and elders are made then, so a weekly rule's first
# visit is due 2026-11-30.
BORN_82 = dt.date(1944, 5, 12)
BORN_70 = dt.date(1956, 3, 1)
DAY = dt.timedelta(days=1)


async def official(w: World) -> Principal:
    p = await load_principal(w.users["official_x"])
    assert p is not None
    return p


async def community_staff(w: World, name: str, role: str, community: int, district: int) -> Principal:
    """A community worker or volunteer, built as the community-scope grant loading will load it."""
    uid = await add_user(name, [])
    return Principal(
        user_id=uid,
        username=name,
        display_name=name,
        grants=(Grant(role=role, community_id=community),),
        community_districts={community: district},
    )


async def second_community(w: World) -> int:
    rows = await Community.insert(
        Community(street=w.street_x, district=w.district_x, name="大兜路社区", lat=30.31, lon=120.15)
    ).returning(Community.id)
    return int(rows[0]["id"])


async def living(elder_id: int, situation: str) -> None:
    await Elder.update({Elder.living_situation: situation}).where(Elder.id == elder_id)


async def weekly_alone_80(actor: Principal, district: int) -> visits.VisitRuleView:
    return await visits.create_rule(
        actor,
        district,
        VisitRuleIn(name="独居80岁以上 每周一次", every_days=7, alone=True, min_age=80),
        now=NOW,
    )


def test_rules_put_the_right_elders_on_the_plan(world: World, run: Any) -> None:
    async def go() -> dict[str, Any]:
        o = await official(world)
        await weekly_alone_80(o, world.district_x)
        await visits.create_rule(
            o,
            world.district_x,
            VisitRuleIn(name="特困 每两周一次", every_days=14, categories=["tekun"]),
            now=NOW,
        )
        old = await add_elder(
            district=world.district_x, community=world.community_x, name="王秀英", birth_date=BORN_82
        )
        young = await add_elder(
            district=world.district_x, community=world.community_x, name="李建国", birth_date=BORN_70
        )
        with_son = await add_elder(
            district=world.district_x, community=world.community_x, name="赵桂兰", birth_date=BORN_82
        )
        await living(with_son, "with_children")
        poor = await add_elder(
            district=world.district_x, community=world.community_x, name="孙德胜", birth_date=BORN_70,
            categories=("tekun",),
        )  # fmt: skip
        both = await add_elder(
            district=world.district_x, community=world.community_x, name="周淑珍", birth_date=BORN_82,
            categories=("tekun",),
        )  # fmt: skip
        plan = await visits.visit_plan(o, world.district_x, on=dt.date(2026, 11, 25))
        return {"plan": plan, "ids": (old, young, with_son, poor, both)}

    out = run(go)
    old, young, with_son, poor, both = out["ids"]
    by_elder = {p.elder_id: p for p in out["plan"].items}
    assert old in by_elder and by_elder[old].every_days == 7 and by_elder[old].age == 82
    assert young not in by_elder  # 70, living alone: not 80+
    assert with_son not in by_elder  # 82 but not alone
    assert by_elder[poor].every_days == 14 and by_elder[poor].rule_name == "特困 每两周一次"
    assert by_elder[both].every_days == 7  # matches both rules: the most frequent applies
    assert by_elder[old].next_due == dt.date(2026, 11, 30)
    assert by_elder[old].status == "pending"


def test_next_due_overdue_and_door_checks_count(world: World, run: Any) -> None:
    async def go() -> dict[str, Any]:
        o = await official(world)
        await weekly_alone_80(o, world.district_x)
        visited = await add_elder(
            district=world.district_x, community=world.community_x, name="王秀英", birth_date=BORN_82
        )
        door = await add_elder(
            district=world.district_x, community=world.community_x, name="钱玉兰", birth_date=BORN_82
        )
        never = await add_elder(
            district=world.district_x, community=world.community_x, name="吴福生", birth_date=BORN_82
        )
        at = NOW + 3 * DAY  # 2026-11-26
        await visits.record_visit(o, visited, VisitIn(level="fine", note="精神很好", minutes=25), now=at)
        # The courier's door check at lunch, as delivery.record_welfare writes it.
        await WelfareCheck.insert(
            WelfareCheck(elder=door, courier=world.users["courier_a"], at=NOW + 4 * DAY, level="fine")
        )
        early = await visits.visit_plan(o, world.district_x, on=dt.date(2026, 11, 28))
        late = await visits.visit_plan(o, world.district_x, on=dt.date(2026, 12, 2))
        cov = await visits.visit_coverage(o, world.district_x, on=dt.date(2026, 12, 2))
        return {"early": early, "late": late, "cov": cov, "ids": (visited, door, never)}

    out = run(go)
    visited, door, never = out["ids"]
    early = {p.elder_id: p for p in out["early"].items}
    assert early[visited].next_due == dt.date(2026, 12, 3) and early[visited].status == "ok"
    assert early[door].next_due == dt.date(2026, 12, 4) and early[door].last_visit_level == "fine"
    assert early[never].status == "pending"
    late = out["late"].items
    assert late[0].elder_id == never and late[0].status == "overdue" and late[0].days_overdue == 2
    assert {p.elder_id: p.status for p in late} == {never: "overdue", visited: "ok", door: "ok"}
    row = next(c for c in out["cov"].communities if c.community_id == world.community_x)
    assert (row.planned, row.on_time, row.overdue, row.pending) == (3, 2, 1, 0)
    assert row.coverage_pct == 66.7
    assert out["cov"].total.planned == 3


def test_coverage_per_community_exact(world: World, run: Any) -> None:
    async def go() -> Any:
        o = await official(world)
        other = await second_community(world)
        await weekly_alone_80(o, world.district_x)
        a = [
            await add_elder(district=world.district_x, community=world.community_x, birth_date=BORN_82)
            for _ in range(4)
        ]
        b = [
            await add_elder(district=world.district_x, community=other, birth_date=BORN_82) for _ in range(2)
        ]
        await add_elder(district=world.district_y, community=world.community_y, birth_date=BORN_82)
        for e in a[:3]:
            await visits.record_visit(o, e, VisitIn(level="fine"), now=NOW + 8 * DAY)
        # Visited 12 days before the day asked about: outside a weekly frequency.
        await visits.record_visit(o, b[0], VisitIn(level="fine"), now=NOW + DAY)
        return other, await visits.visit_coverage(o, world.district_x, on=dt.date(2026, 12, 6))

    other, cov = run(go)
    rows = {c.community_id: c for c in cov.communities}
    assert world.community_y not in rows and {world.community_x, other} <= set(rows)  # district X only
    assert all(c.planned == 0 for cid, c in rows.items() if cid not in (world.community_x, other))
    assert (rows[world.community_x].planned, rows[world.community_x].on_time) == (4, 3)
    assert rows[world.community_x].coverage_pct == 75.0
    assert (rows[other].planned, rows[other].on_time, rows[other].overdue) == (2, 0, 2)
    assert rows[other].coverage_pct == 0.0
    assert (cov.total.planned, cov.total.on_time, cov.total.overdue) == (6, 3, 3)


def test_urgent_visit_emits_once_and_raises_an_alert(world: World, run: Any) -> None:
    async def go() -> dict[str, Any]:
        worker = await community_staff(
            world, "sq_worker", COMMUNITY_WORKER, world.community_x, world.district_x
        )
        e = await add_elder(district=world.district_x, community=world.community_x, birth_date=BORN_82)
        urgent = await visits.record_visit(
            worker, e, VisitIn(level="urgent", note="敲门无人应，邻居说两天没见"), now=NOW
        )
        attention = await visits.record_visit(worker, e, VisitIn(level="attention", note="腿肿"), now=NOW)
        fine = await visits.record_visit(worker, e, VisitIn(level="fine"), now=NOW)
        events = await OutboxEvent.select().where(OutboxEvent.elder == e).order_by(OutboxEvent.id)
        alerts = await Alert.select().where(Alert.elder == e)
        return {"urgent": urgent, "attention": attention, "fine": fine, "events": events, "alerts": alerts}

    out = run(go)
    assert out["urgent"].visitor_role == "community_worker"
    kinds = [(ev["kind"], msgspec.json.decode(ev["payload"])["visit_id"]) for ev in out["events"]]
    assert kinds == [("welfare_urgent", out["urgent"].id), ("welfare_attention", out["attention"].id)]
    assert len(out["alerts"]) == 1 and out["alerts"][0]["kind"] == "urgent_welfare"
    assert out["urgent"].alert_id == out["alerts"][0]["id"]


def test_scope_of_community_workers_and_volunteers(world: World, run: Any) -> None:
    async def go() -> dict[str, Any]:
        o = await official(world)
        other = await second_community(world)
        await visits.create_rule(
            o,
            world.district_x,
            VisitRuleIn(name="特困 每两周一次", every_days=14, categories=["tekun"]),
            now=NOW,
        )
        e = await add_elder(
            district=world.district_x, community=world.community_x, birth_date=BORN_82, categories=("tekun",)
        )
        stranger = await community_staff(world, "sq_other", COMMUNITY_WORKER, other, world.district_x)
        vol = await community_staff(world, "zyz_x", VOLUNTEER, world.community_x, world.district_x)
        worker = await community_staff(world, "sq_x", COMMUNITY_WORKER, world.community_x, world.district_x)
        refusals = []
        for call in (
            lambda: visits.record_visit(stranger, e, VisitIn(level="fine"), now=NOW),
            lambda: visits.visit_plan(stranger, world.district_x, community_id=world.community_x),
            lambda: visits.elder_visits(stranger, e),
            lambda: visits.visit_plan(worker, world.district_y),
            lambda: visits.visit_coverage(worker, world.district_x),
        ):
            try:
                await call()
                refusals.append(None)
            except DomainError as err:
                refusals.append(err.code)
        return {
            "refusals": refusals,
            "stranger_plan": await visits.visit_plan(stranger, world.district_x),
            "vol_plan": await visits.visit_plan(vol, world.district_x),
            "worker_plan": await visits.visit_plan(worker, world.district_x),
            "vol_visit": await visits.record_visit(vol, e, VisitIn(level="fine", minutes=40), now=NOW),
        }

    out = run(go)
    assert out["refusals"] == ["not_found"] * 5
    assert out["stranger_plan"].items == []  # its own community, nobody planned there
    [seen] = out["vol_plan"].items
    assert (
        seen.name and seen.address and seen.categories is None and seen.rule_name is None and seen.age is None
    )
    body = msgspec.json.encode(out["vol_plan"]).decode()
    assert "national" not in body and "tekun" not in body and "特困" not in body
    assert out["worker_plan"].items[0].categories == ["tekun"]
    assert out["vol_visit"].visitor_role == "volunteer"


def test_volunteer_hours_per_month(world: World, run: Any) -> None:
    async def go() -> Any:
        vol = await community_staff(world, "zyz_h", VOLUNTEER, world.community_x, world.district_x)
        e = await add_elder(district=world.district_x, community=world.community_x)
        for minutes, at in ((30, NOW), (45, NOW + 2 * DAY), (20, NOW + 9 * DAY)):
            await visits.record_visit(vol, e, VisitIn(level="fine", minutes=minutes), now=at)
        return await visits.volunteer_hours(vol, now=NOW + 10 * DAY)

    hours = run(go)
    assert [(m.month, m.visits, m.minutes) for m in hours.months] == [("2026-12", 1, 20), ("2026-11", 2, 75)]
    assert hours.total_minutes == 95


def test_refusals_over_http(world: World, run: Any, client: Any, login: Any) -> None:
    e = run(lambda: add_elder(district=world.district_x, community=world.community_x, birth_date=BORN_82))
    gone = run(lambda: add_elder(district=world.district_x, community=world.community_x, status="deceased"))
    h = login("official_x")
    base = f"/api/v1/districts/{world.district_x}/visit-rules"
    r = client.post(base, json={"name": "空规则", "every_days": 7}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "visit_rule_empty"
    r = client.post(base, json={"name": "x", "every_days": 7, "categories": ["rich"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_category"
    r = client.post(base, json={"name": "x", "every_days": 0, "alone": True}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    r = client.post(
        base, json={"name": "独居80岁以上", "every_days": 7, "alone": True, "min_age": 80}, headers=h
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    upd = {"name": "独居80岁以上 每五天", "every_days": 5, "alone": True, "min_age": 80, "version": 1}
    r = client.put(f"{base}/{rule['id']}", json=upd, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.put(f"{base}/{rule['id']}", json=upd, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "visit_rule_changed"
    other = login("official_y")
    theirs = f"/api/v1/districts/{world.district_y}/visit-rules/{rule['id']}"
    assert client.put(theirs, json={**upd, "version": 2}, headers=other).status_code == 404
    assert client.get(f"/api/v1/districts/{world.district_x}/visit-plan", headers=other).status_code == 404
    assert client.post(f"/api/v1/elders/{e}/visits", json={"level": "fine"}, headers=other).status_code == 404
    r = client.post(f"/api/v1/elders/{gone}/visits", json={"level": "fine"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "visit_elder_inactive"
    r = client.post(f"/api/v1/elders/{e}/visits", json={"level": "fine", "stop_id": 999999}, headers=h)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "stop_id"
    r = client.post(
        f"/api/v1/elders/{e}/visits", json={"level": "fine", "at": "2020-01-01T08:00:00+08:00"}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] == "at"
    r = client.post(f"/api/v1/elders/{e}/visits", json={"level": "sad"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    r = client.post(
        f"/api/v1/elders/{e}/visits", json={"level": "attention", "note": "血压高", "minutes": 20}, headers=h
    )
    assert r.status_code == 201 and r.json()["visitor_role"] == "official"
    listed = client.get(f"/api/v1/elders/{e}/visits", headers=h).json()
    assert [v["level"] for v in listed] == ["attention"]
    cov = client.get(f"/api/v1/districts/{world.district_x}/visit-coverage", headers=h).json()
    assert cov["total"]["planned"] == 1 and cov["total"]["on_time"] == 1


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(
        st.fixed_dictionaries(
            {
                "categories": st.lists(st.sampled_from(["tekun", "dibao", "disabled"]), max_size=2),
                "alone": st.booleans(),
                "min_age": st.one_of(st.none(), st.integers(60, 95)),
                "every_days": st.integers(1, 60),
            }
        ),
        max_size=6,
    ),
    cats=st.sets(st.sampled_from(["tekun", "dibao", "disabled"])),
    alone=st.booleans(),
    age=st.integers(55, 105),
)
def test_the_most_frequent_matching_rule_applies(
    rules: list[dict[str, Any]], cats: set[str], alone: bool, age: int
) -> None:
    rows = [{**r, "id": i + 1} for i, r in enumerate(rules)]
    chosen = visits.pick_rule(rows, cats, alone, age)
    matching = [r for r in rows if visits.rule_matches(r, cats, alone, age)]
    if not matching:
        assert chosen is None
        return
    assert chosen is not None and chosen["every_days"] == min(r["every_days"] for r in matching)
    for r in matching:  # a match honours every criterion the rule sets
        assert not r["categories"] or set(r["categories"]) & cats
        assert not r["alone"] or alone
        assert r["min_age"] is None or age >= r["min_age"]
