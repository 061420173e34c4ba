"""Claim checks at city scale (issue #15): the checks run in the database as a job, idempotent;
thresholds are the district's own; an official decides many flags at once with one reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.core.errors import DomainError
from canteen.core.tables import AuditEntry
from canteen.quality import services as quality
from canteen.quality.tables import ClaimFlag
from canteen.regions.tables import Site
from tests.integration.reports.helpers import add_meal, official

MONTH = "2026-10"
D = dt.date(2026, 10, 5)
FIRST = dt.date(2026, 10, 1)
LUNCH = {"slot": "lunch", "start": "10:00", "end": "13:00", "cutoff": "09:00"}


def _flags(run: Any, district: int) -> list[tuple[str, str, list[int], str]]:
    rows = run(
        lambda: (
            ClaimFlag.select(ClaimFlag.kind, ClaimFlag.fingerprint, ClaimFlag.meal_ids, ClaimFlag.status)
            .where((ClaimFlag.district == district) & (ClaimFlag.month == MONTH))
            .order_by(ClaimFlag.fingerprint)
            .output(load_json=True)
        )
    )
    return [(r["kind"], r["fingerprint"], sorted(r["meal_ids"]), r["status"]) for r in rows]


async def _late_meals(w: Any, days: int) -> None:
    """One counter meal at 15:00 (lunch long over) each day at A and at B: 2 × days flags
    (and, from 7 days, each point's identical daily count of one meal)."""
    await Site.update({Site.slots: [LUNCH]}).where(Site.id.is_in([w.site_a, w.site_b]))
    for k in range(days):
        for site in (w.site_a, w.site_b):
            await add_meal(
                w, site=site, elder=None, day=FIRST + dt.timedelta(days=k), at="15:00", subsidised=False
            )


def test_running_twice_gives_the_same_flags_and_decisions_stand(world: Any, run: Any) -> None:
    run(lambda: _late_meals(world, 3))
    first = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    assert first.new_flags == 6
    before = _flags(run, world.district_x)
    again = run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    assert again.new_flags == 0 and _flags(run, world.district_x) == before
    # A decided flag keeps its decision (and its meals) through another run.
    decided = first.flags[0]
    run(lambda: quality.decide_flag(official(world), decided.id, "upheld", "核实：非供餐时段"))
    run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    after = _flags(run, world.district_x)
    assert [f[3] for f in after].count("upheld") == 1 and len(after) == 6
    assert [f[:3] for f in after] == [f[:3] for f in before]


def test_bulk_review_one_reason_audited_and_settlement_unblocked(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    run(lambda: _late_meals(world, 30))
    h = login("official_x")
    done = finish_job(
        client.post(f"/api/v1/districts/{world.district_x}/claim-checks", json={"month": MONTH}, headers=h), h
    )
    assert done["status"] == "done" and done["result"]["open"] == 62
    ids = [f.id for f in run(lambda: quality.open_flags(world.district_x, MONTH))]
    assert len(ids) == 62
    with pytest.raises(DomainError):
        run(lambda: quality.assert_no_open_flags(world.district_x, MONTH, world.operator_x))

    url = f"/api/v1/districts/{world.district_x}/claim-flags/review"
    # Another district's official: the flags are not theirs (not found), nothing is decided.
    other = {"flag_ids": ids, "decision": "cleared", "reason": "补录"}
    r = client.post(f"/api/v1/districts/{world.district_y}/claim-flags/review", json=other, headers=h)
    assert r.status_code == 404
    r = client.post(url, json={**other, "flag_ids": [*ids, 2_000_000]}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.post(url, json={**other, "flag_ids": list(range(1, 5002))}, headers=h)
    assert r.status_code == 422  # more than 5,000 ids is refused before the database
    assert len(run(lambda: quality.open_flags(world.district_x, MONTH))) == 62

    reason = "下午堂食补录，已核实签到表"
    r = client.post(url, json={"flag_ids": ids, "decision": "cleared", "reason": reason}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["decided"] == 62
    rows = run(lambda: ClaimFlag.select().where(ClaimFlag.id.is_in(ids)))
    assert {(x["status"], x["reason"], x["decided_by"]) for x in rows} == {
        ("cleared", reason, world.users["official_x"])
    }
    audits = run(
        lambda: AuditEntry.select(AuditEntry.target_id, AuditEntry.note).where(
            (AuditEntry.action == "claim_flag.cleared") & (AuditEntry.target_type == "claim_flag")
        )
    )
    assert sorted(int(a["target_id"]) for a in audits) == sorted(ids)
    assert {a["note"] for a in audits} == {"bulk review of 62 flags"}
    run(lambda: quality.assert_no_open_flags(world.district_x, MONTH, world.operator_x))
    # Deciding them again is refused as a whole.
    r = client.post(url, json={"flag_ids": ids[:3], "decision": "upheld", "reason": "改判"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "flag_decided"


def test_thresholds_are_the_districts_and_change_what_is_flagged(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    async def setup() -> None:
        # Six meals 2 s apart: fast, but not more than 8 within 30 s (the defaults).
        for i in range(6):
            await add_meal(
                world,
                site=world.site_a,
                elder=None,
                day=D,
                at="11:40",
                seconds=2 * i,
                subsidised=False,
                cashier=world.users["cashier_a"],
            )

    run(setup)
    h = login("official_x")
    settings_url = f"/api/v1/districts/{world.district_x}/claim-check-settings"
    assert client.get(settings_url, headers=h).json()["fast_scan_count"] == 8
    # An admin may set any district's: one that does not exist is not found (was a 500).
    r = client.put("/api/v1/districts/292623/claim-check-settings", json={}, headers=login("admin"))
    assert r.status_code == 404 and r.json()["code"] == "not_found", r.text

    def fast() -> list[Any]:
        r = client.post(
            f"/api/v1/districts/{world.district_x}/claim-checks", json={"month": MONTH}, headers=h
        )
        assert finish_job(r, h)["status"] == "done"
        return [f for f in run(lambda: quality.open_flags(world.district_x, MONTH)) if f.kind == "fast_scans"]

    assert fast() == []
    r = client.put(settings_url, json={"fast_scan_count": 4, "fast_scan_seconds": 10}, headers=h)
    assert r.status_code == 200 and r.json()["fast_scan_count"] == 4 and r.json()["two_points_minutes"] == 30
    [flag] = fast()
    assert len(flag.meal_ids) == 6
    audit = run(
        lambda: (
            AuditEntry.select(AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.action == "claim_checks.thresholds")
            .output(load_json=True)
        )
    )
    assert audit[0]["before"]["fast_scan_count"] == 8 and audit[0]["after"]["fast_scan_count"] == 4
    # Out of bounds is refused; another district's official cannot see or set them.
    assert client.put(settings_url, json={"fast_scan_count": 1}, headers=h).status_code == 422
    y = login("official_y")
    assert client.get(settings_url, headers=y).status_code == 404
    assert client.put(settings_url, json={"fast_scan_count": 20}, headers=y).status_code == 404
    # Raised again: the open flag the check no longer finds goes away on the next run.
    client.put(settings_url, json={"fast_scan_count": 8, "fast_scan_seconds": 30}, headers=h)
    assert fast() == []


def test_claim_pages_bulk_review_and_thresholds(client: Any, world: Any, run: Any) -> None:
    import re

    from tests.integration.test_admin_pages import page_login, post_form

    run(lambda: _late_meals(world, 4))
    run(lambda: quality.run_claim_checks(official(world), world.district_x, MONTH))
    page_login(client, "official_x")
    base = f"/official/districts/{world.district_x}/claims"
    r = client.get(f"{base}?month={MONTH}")
    ticks = re.findall(r'name="flag_ids" value="(\d+)"', r.text)
    assert len(ticks) == 8 and 'id="th-fast_scan_count"' in r.text
    # No reason: the error is next to the field, nothing decided.
    r = post_form(client, f"{base}/review", {"month": MONTH, "flag_ids": ticks[:2], "decision": "upheld"})
    assert r.status_code == 422 and 'id="review-reason-error"' in r.text
    r = post_form(
        client,
        f"{base}/review",
        {"month": MONTH, "flag_ids": ticks[:2], "decision": "upheld", "reason": "无人就餐"},
    )
    assert r.status_code == 303
    assert len(run(lambda: quality.open_flags(world.district_x, MONTH))) == 6
    # Every open flag of one kind at once.
    r = post_form(
        client,
        f"{base}/review",
        {"month": MONTH, "all_of_kind": "outside_hours", "decision": "cleared", "reason": "补录"},
    )
    assert r.status_code == 303
    assert run(lambda: quality.open_flags(world.district_x, MONTH)) == []
    r = post_form(client, f"{base}/settings", {"month": MONTH, "fast_scan_count": "1"})
    assert r.status_code == 422 and 'id="th-fast_scan_count-error"' in r.text
    r = post_form(
        client,
        f"{base}/settings",
        {
            "month": MONTH,
            "fast_scan_count": "12",
            "fast_scan_seconds": "20",
            "two_points_minutes": "30",
            "identical_days": "7",
        },
    )
    assert r.status_code == 303
    assert run(lambda: quality.thresholds_for(world.district_x)).fast_scan_count == 12
