"""Claim checks find constructed anomalies; flags are cleared or upheld with a reason; settlement
approval is refused while a flag is open. Ratings: three faces, once per meal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.core.errors import DomainError
from canteen.quality import services as quality
from canteen.registry.tables import ElderCategory, ElderStatusEvent
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import add_meal, local, official

MONTH = "2026-10"
D = dt.date(2026, 10, 5)


async def _anomalies(w: Any) -> dict[str, Any]:
    ok = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    twice = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    dead = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    lapsed = await add_elder(district=w.district_x, community=w.community_x)
    await ElderCategory.insert(
        ElderCategory(
            elder=lapsed,
            code="dibao",
            valid_from=dt.date(2024, 1, 1),
            valid_until=dt.date(2026, 9, 30),
            created_at=local(D, "09:00"),
        )
    )
    await ElderStatusEvent.insert(
        ElderStatusEvent(elder=dead, status="deceased", at=local(dt.date(2026, 10, 10), "08:00"))
    )
    m = {
        "ok": await add_meal(w, site=w.site_a, elder=ok, day=D, at="11:10"),
        # The same card at A, then at B twenty minutes later.
        "twice_a": await add_meal(w, site=w.site_a, elder=twice, day=D, at="11:15"),
        "twice_b": await add_meal(w, site=w.site_b, elder=twice, day=D, at="11:35", subsidised=False),
        "before_death": await add_meal(w, site=w.site_a, elder=dead, day=dt.date(2026, 10, 8)),
        "after_death": await add_meal(w, site=w.site_a, elder=dead, day=dt.date(2026, 10, 12)),
        "lapsed": await add_meal(w, site=w.site_a, elder=lapsed, day=dt.date(2026, 10, 6)),
        "late": await add_meal(w, site=w.site_a, elder=None, day=D, at="15:00", subsidised=False),
    }
    # A normal morning: the same elder twice at the same point 3 hours apart is not a two-point case.
    m["ok_dinner"] = await add_meal(w, site=w.site_a, elder=ok, day=D, at="17:00", slot="dinner")
    return m


def _by_kind(flags: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in flags:
        out.setdefault(f.kind, []).append(f)
    return out


def test_checks_find_the_constructed_anomalies(world: Any, run: Any) -> None:
    meals = run(lambda: _anomalies(world))
    result = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    kinds = _by_kind(result.flags)
    assert set(kinds) == {"two_points", "after_status", "category_expired", "outside_hours"}, kinds
    [two] = kinds["two_points"]
    assert two.meal_ids == sorted([meals["twice_a"], meals["twice_b"]])
    [dead] = kinds["after_status"]
    assert dead.meal_ids == [meals["after_death"]]  # the meal before death is fine
    assert kinds["category_expired"][0].meal_ids == [meals["lapsed"]]
    assert kinds["outside_hours"][0].meal_ids == [meals["late"]]
    assert all(f.status == "open" and f.operator_id == world.operator_x for f in result.flags)
    # Running again adds nothing.
    again = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    assert again.new_flags == 0 and len(again.flags) == len(result.flags)


def test_fast_scans_and_identical_counts(world: Any, run: Any) -> None:
    async def setup() -> None:
        cashier = world.users["cashier_a"]
        # Ten walk-in meals 3 s apart by one cashier: more than 8 within 30 s.
        for i in range(10):
            await add_meal(
                world,
                site=world.site_a,
                elder=None,
                day=D,
                at="11:40",
                seconds=3 * i,
                subsidised=False,
                cashier=cashier,
            )
        # An ordinary lunch rush the next day: 60 meals, one every 8 s, for eight minutes.
        for i in range(60):
            await add_meal(
                world,
                site=world.site_a,
                elder=None,
                day=D + dt.timedelta(days=1),
                at="11:30",
                seconds=8 * i,
                subsidised=False,
                cashier=cashier,
            )
        # Point B: exactly 2 meals a day for 8 days running.
        for k in range(8):
            for _ in range(2):
                await add_meal(
                    world, site=world.site_b, elder=None, day=dt.date(2026, 10, 10 + k), subsidised=False
                )

    run(setup)
    kinds = _by_kind(run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH)).flags)
    assert set(kinds) == {"fast_scans", "identical_counts"}
    [fast] = kinds["fast_scans"]  # the burst, not the rush
    assert len(fast.meal_ids) == 10 and D.isoformat() in fast.detail
    assert len(kinds["identical_counts"][0].meal_ids) == 16
    assert kinds["identical_counts"][0].site_id == world.site_b


def test_void_rate_far_above_the_district(world: Any, run: Any) -> None:
    async def setup() -> None:
        # Point A: 55 meals over ten days (1, 2, … 10 a day), none voided.
        for k in range(10):
            for _ in range(k + 1):
                await add_meal(
                    world, site=world.site_a, elder=None, day=dt.date(2026, 10, 1 + k), subsidised=False
                )
        # Point B: 10 meals, 3 voided: 30% against the district's 4.6%.
        for i in range(10):
            await add_meal(
                world,
                site=world.site_b,
                elder=None,
                day=dt.date(2026, 10, 1 + i),
                subsidised=False,
                voided=i < 3,
            )

    run(setup)
    kinds = _by_kind(run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH)).flags)
    assert [f.site_id for f in kinds["void_rate"]] == [world.site_b]
    assert len(kinds["void_rate"][0].meal_ids) == 3


def test_capacity_check(world: Any, run: Any) -> None:
    from canteen.regions.tables import Site

    async def setup() -> None:
        await Site.update({Site.meals_per_slot: 2}).where(Site.id == world.site_a)
        for i in range(3):
            await add_meal(world, site=world.site_a, elder=None, day=D, at=f"11:{10 + i}", subsidised=False)

    run(setup)
    kinds = _by_kind(run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH)).flags)
    assert len(kinds["over_capacity"][0].meal_ids) == 3


def test_clearing_and_upholding_gate_the_settlement(world: Any, run: Any) -> None:
    run(lambda: _anomalies(world))
    flags = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH)).flags
    with pytest.raises(DomainError) as err:
        run(lambda: quality.assert_no_open_flags(world.district_x, MONTH, world.operator_x))
    assert err.value.code == "claim_flags_open" and err.value.status == 409
    # A reason is required.
    with pytest.raises(DomainError) as err:
        run(lambda: quality.decide_flag(official(world), flags[0].id, "cleared", " "))
    assert err.value.code == "reason_required"
    upheld = next(f for f in flags if f.kind == "after_status")
    for f in flags:
        decision = "upheld" if f.id == upheld.id else "cleared"
        view = run(lambda f=f, d=decision: quality.decide_flag(official(world), f.id, d, "核实：家属确认"))
        assert view.status == decision and view.decided_by == world.users["official_x"]
    with pytest.raises(DomainError) as err:
        run(lambda: quality.decide_flag(official(world), upheld.id, "cleared", "改判"))
    assert err.value.code == "flag_decided"
    run(lambda: quality.assert_no_open_flags(world.district_x, MONTH, world.operator_x))
    assert run(lambda: quality.upheld_meal_ids(world.district_x, MONTH)) == set(upheld.meal_ids)


def test_officials_of_another_district_cannot_see_or_decide(world: Any, run: Any) -> None:
    run(lambda: _anomalies(world))
    flags = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH)).flags
    other = official(world, world.district_y)
    with pytest.raises(DomainError) as err:
        run(lambda: quality.decide_flag(other, flags[0].id, "cleared", "no"))
    assert err.value.code == "not_found"
    with pytest.raises(DomainError):
        run(lambda: quality.run_claim_checks(other, world.district_x, MONTH))


def test_claims_over_http(client: Any, world: Any, run: Any, login: Any, finish_job: Any) -> None:
    meals = run(lambda: _anomalies(world))
    h = login("official_x")
    r = client.post(f"/api/v1/districts/{world.district_x}/claim-checks", json={"month": MONTH}, headers=h)
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    done = finish_job(r, h)
    assert done["status"] == "done" and done["result"]["url"] == (
        f"/official/districts/{world.district_x}/claims?month={MONTH}"
    )
    flags = client.get(f"/api/v1/districts/{world.district_x}/claim-flags?month={MONTH}", headers=h).json()[
        "items"
    ]
    assert done["result"]["new_flags"] == len(flags) == 4
    two = next(f for f in flags if f["kind"] == "two_points")
    r = client.get(f"/api/v1/claim-flags/{two['id']}", headers=h)
    assert {m["id"] for m in r.json()["meals"]} == {meals["twice_a"], meals["twice_b"]}
    r = client.post(
        f"/api/v1/claim-flags/{two['id']}/decision",
        json={"decision": "upheld", "reason": "同卡两点"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["status"] == "upheld"
    r = client.post(
        f"/api/v1/claim-flags/{two['id']}/decision",
        json={"decision": "cleared", "reason": "again"},
        headers=h,
    )
    assert r.status_code == 409 and r.json()["code"] == "flag_decided"
    r = client.get(f"/api/v1/districts/{world.district_x}/claim-flags?month={MONTH}", headers=h)
    assert r.json()["open"] == len(flags) - 1
    # Cashiers cannot run the checks.
    r = client.post(
        f"/api/v1/districts/{world.district_x}/claim-checks",
        json={"month": MONTH},
        headers=login("cashier_a"),
    )
    assert r.status_code == 403


def test_ratings_three_faces_once_per_meal(client: Any, world: Any, run: Any, login: Any) -> None:
    elder = run(
        lambda: add_elder(district=world.district_x, community=world.community_x, categories=("dibao",))
    )
    meal = run(lambda: add_meal(world, site=world.site_a, elder=elder, day=D))
    voided = run(lambda: add_meal(world, site=world.site_a, elder=None, day=D, subsidised=False, voided=True))
    other = run(
        lambda: add_meal(
            world, site=world.site_c, elder=None, day=D, subsidised=False, district=world.district_y
        )
    )
    h = login("cashier_a")
    r = client.post(f"/api/v1/meals/{meal}/rating", json={"score": 3}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["score"] == 3 and r.json()["source"] == "counter"
    r = client.post(f"/api/v1/meals/{meal}/rating", json={"score": 1}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "already_rated"
    assert client.post(f"/api/v1/meals/{meal}/rating", json={"score": 4}, headers=h).status_code == 422
    r = client.post(f"/api/v1/meals/{voided}/rating", json={"score": 2}, headers=h)
    assert r.json()["code"] == "meal_voided"
    r = client.post(f"/api/v1/meals/{other}/rating", json={"score": 2}, headers=h)
    assert r.status_code == 404
