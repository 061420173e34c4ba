"""Meal ratings (three faces) and the claim checks run before a settlement is approved.

The checks are the edit checks public meal programmes run on claims. Each finding becomes a
:class:`ClaimFlag` holding the meals behind it; an official clears it (the meals are genuine) or
upholds it (they are not paid), always with a reason. Settlement approval refuses while a flag of
its district, month and operator is open: :func:`assert_no_open_flags`.

The checks run in the database (``quality.checks``: one statement each over a district-month,
both engines) as the job ``quality.claim_checks``; thresholds are the district's own
(:class:`ClaimCheckSettings`, defaults in ``quality.rules.Thresholds``):
- two points: the same elder served at two points within ``two_points_minutes`` (30), in the same
  slot of the same service day;
- over limit: more subsidised meals for one elder in one slot of a day than the policy allows;
- outside hours: a counter meal recorded outside the site's serving hours for that slot, by the
  counter's own rule (``checkin.rules.slot_open_at``: the hours plus its grace window);
- identical counts: the same daily meal count at a point for ``identical_days`` (7) serving days running;
- fast scans: one cashier recording more than ``fast_scan_count`` (8) meals within any
  ``fast_scan_seconds`` (30) — a burst, not a busy lunch;
- void rate: a point voiding more than 3× the district's rate and more than 5% of its meals;
- over capacity: more meals in a slot than the point's ``meals_per_slot``;
- after death or move: a subsidised meal after the elder's status became deceased or moved;
- category expired: a subsidised meal whose tier needed a category no longer valid that day.

At city scale an official reviews flags in bulk (:func:`review_flags`): one decision and one reason
for up to 5,000 flags of their district, in one transaction, one audit row per flag.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from canteen.accounts.roles import CASHIER, COURIER, OFFICIAL, OPERATOR, Principal, require_district
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.periods import month_bounds
from canteen.meals.tables import Meal
from canteen.quality import checks
from canteen.quality.checks import CHECKS, Finding
from canteen.quality.rules import BOUNDS, DEFAULT_THRESHOLDS, Thresholds, open_windows, out_of_bounds
from canteen.quality.schemas import (
    FlagList,
    FlagMeal,
    FlagMeals,
    FlagView,
    RatingOut,
    ReviewOut,
    RunOut,
    RunSummary,
    ThresholdsView,
)
from canteen.quality.tables import ClaimCheckSettings, ClaimFlag, MealRating
from canteen.regions.tables import District
from canteen.settings import get_settings

register("already_rated", 409)
register("meal_voided", 409)
register("flag_decided", 409)
register("reason_required", 422)
register("claim_flags_open", 409)
register("threshold_out_of_range", 422)
register("too_many_flags", 422)

KINDS = tuple(kind for kind, _ in CHECKS)
# What the progress page says while each check runs (catalog msgids).
STAGES = {
    "two_points": "Checking: the same card at two points",
    "over_limit": "Checking: meals above the policy's limit",
    "outside_hours": "Checking: meals outside serving hours",
    "identical_counts": "Checking: identical daily counts",
    "fast_scans": "Checking: bursts of fast scans",
    "void_rate": "Checking: void rates",
    "over_capacity": "Checking: meals above capacity",
    "after_status": "Checking: meals after death or a move",
    "category_expired": "Checking: expired category evidence",
}
MAX_REVIEW = 5000


# ---------------------------------------------------------------------- ratings


async def rate_meal(
    actor: Principal, meal_id: int, score: int, source: str, *, now: dt.datetime | None = None
) -> RatingOut:
    """Record an elder's rating of one meal (1 unhappy, 2 neutral, 3 happy); once per meal.

    The cashier's keypad rates counter meals, the courier delivered ones: both must be staff of
    the meal's site (admins and the district's officials too)."""
    now = now or utcnow()
    meal = (
        await Meal.select(Meal.id, Meal.site, Meal.district, Meal.elder, Meal.service_date, Meal.voided_at)
        .where(Meal.id == meal_id)
        .first()
    )
    if meal is None or not actor.can_site(meal["site"], meal["district"], CASHIER, OPERATOR, COURIER):
        raise DomainError("not_found", {"meal_id": meal_id})
    if meal["voided_at"] is not None:
        raise DomainError("meal_voided", {"meal_id": meal_id})
    # The unique index on meal is the referee when two devices rate at once; the violation is
    # translated as the transaction closes, so the try wraps the whole transaction.
    try:
        async with write_transaction():
            rows = await MealRating.insert(
                MealRating(
                    meal=meal_id,
                    elder=meal["elder"],
                    site=meal["site"],
                    district=meal["district"],
                    service_date=meal["service_date"],
                    score=score,
                    source=source,
                    at=now,
                    actor_id=actor.user_id,
                )
            ).returning(MealRating.id)
    except UniqueViolation as exc:
        raise DomainError("already_rated", {"meal_id": meal_id}) from exc
    return RatingOut(id=int(rows[0]["id"]), meal_id=meal_id, score=score, source=source, at=now.isoformat())


# ---------------------------------------------------------------------- claim checks


def served_outside_hours(site_slots: list[dict[str, Any]], slot: str, served_local: dt.time) -> bool:
    """The ``outside_hours`` check for one counter meal: true when ``slot`` was not open at
    ``served_local`` by the counter's own rule (:func:`canteen.checkin.rules.slot_open_at`,
    serving hours plus the grace window), so a meal the counter accepted is never flagged.
    The SQL check compares against the same windows (:func:`canteen.quality.rules.open_windows`)."""
    minute = served_local.hour * 60 + served_local.minute
    windows = open_windows(0, [s for s in site_slots if s.get("slot") == slot])
    return not any(w["lo"] <= minute <= w["hi"] for w in windows)


def _jl(value: Any) -> list[Any]:
    if isinstance(value, str):
        return list(json.loads(value or "[]"))
    return list(value or [])


def _view(row: dict[str, Any]) -> FlagView:
    return FlagView(
        id=int(row["id"]),
        district_id=int(row["district"]),
        month=row["month"],
        kind=row["kind"],
        site_id=row["site"],
        operator_id=row["operator"],
        elder_id=row["elder"],
        meal_ids=[int(i) for i in _jl(row["meal_ids"])],
        detail=row["detail"],
        status=row["status"],
        reason=row["reason"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"].isoformat() if row["decided_at"] else None,
    )


# --- thresholds (a district's own, the defaults otherwise) --------------------------------------


async def thresholds_for(district_id: int) -> Thresholds:
    """The district's claim-check thresholds (no actor: the job reads them)."""
    row = await ClaimCheckSettings.select().where(ClaimCheckSettings.district == district_id).first()
    if row is None:
        return DEFAULT_THRESHOLDS
    return Thresholds(**{k: int(row[k]) for k in BOUNDS})


async def claim_settings(actor: Principal, district_id: int) -> ThresholdsView:
    require_district(actor, district_id)
    th = await thresholds_for(district_id)
    return ThresholdsView(district_id=district_id, **msgspec.structs.asdict(th))


async def update_claim_settings(
    actor: Principal, district_id: int, values: dict[str, int], *, now: dt.datetime | None = None
) -> ThresholdsView:
    """Set a district's claim-check thresholds (its official or an admin); audited with before
    and after. They apply from the next run of the checks."""
    if not actor.has_role(OFFICIAL):
        raise DomainError("forbidden")
    require_district(actor, district_id)
    # An admin passes the scope check for any id: a district that does not exist is not found
    # (it was a foreign-key violation and a 500 under the fuzzer).
    if not await District.exists().where(District.id == district_id):
        raise DomainError("not_found", {"district_id": district_id})
    bad = out_of_bounds(values)
    if bad:
        raise DomainError("threshold_out_of_range", {"field": bad[0], "bounds": list(BOUNDS[bad[0]])})
    now = now or utcnow()
    async with write_transaction():
        before = await thresholds_for(district_id)
        after = msgspec.structs.replace(before, **{k: int(v) for k, v in values.items() if k in BOUNDS})
        fields = msgspec.structs.asdict(after)
        values_in: dict[Any, Any] = {**fields, "updated_by": actor.user_id, "updated_at": now}
        updated = (
            await ClaimCheckSettings.update(values_in)
            .where(ClaimCheckSettings.district == district_id)
            .returning(ClaimCheckSettings.id)
        )
        if not updated:
            await ClaimCheckSettings.insert(
                ClaimCheckSettings(district=district_id, updated_by=actor.user_id, updated_at=now, **fields)
            )
        await audit.record(
            actor,
            "claim_checks.thresholds",
            "district",
            district_id,
            before=msgspec.structs.asdict(before),
            after=fields,
            district_id=district_id,
            now=now,
        )
    return ThresholdsView(district_id=district_id, **fields)


# --- running the checks ------------------------------------------------------------------------


def authorize_claim_checks(actor: Principal, district_id: int, month: str) -> None:
    """Who may run the checks of a district-month (the fast part, before the work is queued)."""
    if not actor.has_role(OFFICIAL):
        raise DomainError("forbidden")
    require_district(actor, district_id)
    month_bounds(month)


_UPSERT_ROWS = 100  # 11 parameters a row: 1,100 per statement


async def _upsert(
    district_id: int, month: str, found: list[Finding], run_id: str, now: dt.datetime
) -> tuple[int, int]:
    """Write findings as flags: a new one opens, an open one gets today's meals and detail, a
    decided one keeps its decision (the conflict's update skips it). Returns (new, refreshed)."""
    new = 0
    for i in range(0, len(found), _UPSERT_ROWS):
        part = found[i : i + _UPSERT_ROWS]
        before = await ClaimFlag.count().where(
            (ClaimFlag.district == district_id)
            & (ClaimFlag.month == month)
            & any_of(ClaimFlag.fingerprint, [f.fingerprint[:200] for f in part])
        )
        values = ", ".join(["({}, {}, {}, {}, {}, {}, {}, {}, {}, 'open', '', {}, {})"] * len(part))
        args: list[Any] = []
        for f in part:
            args += [
                district_id,
                month,
                f.kind,
                f.site,
                f.operator,
                f.elder,
                json.dumps(sorted(f.meal_ids)),
                f.detail[:2000],
                f.fingerprint[:200],
                now,
                run_id,
            ]
        sql = (
            "INSERT INTO claim_flag (district, month, kind, site, operator, elder, meal_ids, detail, "  # noqa: S608 - placeholders only
            f"fingerprint, status, reason, created_at, checked_run) VALUES {values}"
            " ON CONFLICT (district, month, fingerprint) DO UPDATE SET meal_ids = excluded.meal_ids, "
            "detail = excluded.detail, site = excluded.site, operator = excluded.operator, "
            "checked_run = excluded.checked_run WHERE claim_flag.status = 'open'"
        )
        await ClaimFlag.raw(sql, *args)
        new += len(part) - before
    return new, len(found)


async def check_month(
    district_id: int,
    month: str,
    *,
    run_id: str,
    progress: Callable[[int, int, str], Awaitable[None]] | None = None,
    now: dt.datetime | None = None,
) -> RunSummary:
    """Run every claim check over a district's month in the database and upsert the flags.

    Idempotent: a finding keeps its flag (one per district, month and fingerprint); a decided
    flag keeps its decision and its meals; an open flag its check no longer finds (thresholds
    raised, a meal voided) is removed. Each check commits on its own, so a retry after a crash
    redoes the month and ends with the same flags. No actor: the job runs as the system, after
    :func:`authorize_claim_checks` was asked when the work was submitted."""
    first, last = month_bounds(month)
    now = now or utcnow()
    th = await thresholds_for(district_id)
    tz = get_settings().tz
    total_found = new_flags = 0
    by_kind: dict[str, int] = {}
    for i, (kind, check) in enumerate(CHECKS):
        if progress is not None:
            await progress(i, len(CHECKS), STAGES[kind])
        if kind == "outside_hours":
            found = await checks.outside_hours(district_id, first, last, th, tz)
        else:
            found = await check(district_id, first, last, th)  # type: ignore[operator]
        async with write_transaction():
            new, _ = await _upsert(district_id, month, found, run_id, now)
            await ClaimFlag.delete().where(
                (ClaimFlag.district == district_id)
                & (ClaimFlag.month == month)
                & (ClaimFlag.kind == kind)
                & (ClaimFlag.status == "open")
                & (ClaimFlag.checked_run != run_id)
            )
        total_found += len(found)
        new_flags += new
        by_kind[kind] = len(found)
    if progress is not None:
        await progress(len(CHECKS), len(CHECKS), "Claim checks done")
    counts = await flag_counts(district_id, month)
    return RunSummary(findings=total_found, new_flags=new_flags, by_kind=by_kind, open=counts["open"])


async def run_claim_checks(
    actor: Principal, district_id: int, month: str, *, now: dt.datetime | None = None
) -> RunOut:
    """Run the checks here and now, as ``actor`` (tests, the command line); pages and the API
    queue them instead (``quality.jobs.start_claim_checks``)."""
    authorize_claim_checks(actor, district_id, month)
    summary = await check_month(district_id, month, run_id=secrets.token_hex(8), now=now)
    flags = await list_flags(actor, district_id, month)
    return RunOut(findings=summary.findings, new_flags=summary.new_flags, flags=flags.items)


async def flag_counts(district_id: int, month: str) -> dict[str, int]:
    rows = await ClaimFlag.raw(
        "SELECT status, count(*) AS n FROM claim_flag WHERE district = {} AND month = {} GROUP BY status",
        district_id,
        month,
    )
    out = {"open": 0, "cleared": 0, "upheld": 0}
    out.update({str(r["status"]): int(r["n"]) for r in rows})
    return out


async def list_flags(
    actor: Principal,
    district_id: int,
    month: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> FlagList:
    """The flags of a district's month (of one kind or status when given; the first ``limit``).
    ``open`` counts every open flag of the month, whatever the filter."""
    require_district(actor, district_id)
    month_bounds(month)
    where = (ClaimFlag.district == district_id) & (ClaimFlag.month == month)
    if kind:
        where = where & (ClaimFlag.kind == kind[:30])
    if status:
        where = where & (ClaimFlag.status == status[:10])
    q = ClaimFlag.select().where(where).order_by(ClaimFlag.id)
    if limit:
        q = q.limit(limit)
    items = [_view(r) for r in await q]
    counts = await flag_counts(district_id, month)
    return FlagList(items=items, open=counts["open"])


async def get_flag(actor: Principal, flag_id: int) -> FlagView:
    row = await ClaimFlag.select().where(ClaimFlag.id == flag_id).first()
    if row is None or not actor.can_district(int(row["district"])):
        raise DomainError("not_found", {"flag_id": flag_id})
    return _view(row)


async def flag_meals(actor: Principal, flag_id: int) -> FlagMeals:
    """The flag and the meals behind it (the evidence an official looks at before deciding)."""
    flag = await get_flag(actor, flag_id)
    rows = []
    if flag.meal_ids:
        rows = (
            await Meal.select(
                Meal.id,
                Meal.site.name,
                Meal.elder,
                Meal.service_date,
                Meal.slot,
                Meal.mode,
                Meal.served_at,
                Meal.subsidised,
                Meal.subsidy_fen,
                Meal.copay_fen,
                Meal.cashier_id,
                Meal.voided_at,
            )
            .where(Meal.id.is_in(flag.meal_ids[:2000]))
            .order_by(Meal.served_at)
        )
    tz = get_settings().tz
    meals = [
        FlagMeal(
            id=int(r["id"]),
            site=r["site.name"],
            elder_id=r["elder"],
            service_date=r["service_date"].isoformat(),
            slot=r["slot"],
            mode=r["mode"],
            served_at=r["served_at"].astimezone(tz).isoformat(timespec="seconds"),
            subsidised=bool(r["subsidised"]),
            subsidy_fen=int(r["subsidy_fen"]),
            copay_fen=int(r["copay_fen"]),
            cashier_id=r["cashier_id"],
            voided=r["voided_at"] is not None,
        )
        for r in rows
    ]
    return FlagMeals(flag=flag, meals=meals)


async def decide_flag(
    actor: Principal, flag_id: int, decision: str, reason: str, *, now: dt.datetime | None = None
) -> FlagView:
    """Clear (the meals are genuine) or uphold (they are not reimbursed) an open flag, with a reason."""
    if not actor.has_role(OFFICIAL):
        raise DomainError("forbidden")
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise DomainError("reason_required", {"field": "reason"})
    if decision not in ("cleared", "upheld"):
        raise DomainError("invalid_body", {"field": "decision"})
    now = now or utcnow()
    async with write_transaction():
        row = await ClaimFlag.select().where(ClaimFlag.id == flag_id).first()
        if row is None or not actor.can_district(int(row["district"])):
            raise DomainError("not_found", {"flag_id": flag_id})
        if row["status"] != "open":
            raise DomainError("flag_decided", {"flag_id": flag_id, "status": row["status"]})
        await ClaimFlag.update(
            {
                ClaimFlag.status: decision,
                ClaimFlag.reason: reason[:500],
                ClaimFlag.decided_by: actor.user_id,
                ClaimFlag.decided_at: now,
            }
        ).where((ClaimFlag.id == flag_id) & (ClaimFlag.status == "open"))
        await audit.record(
            actor,
            f"claim_flag.{decision}",
            "claim_flag",
            flag_id,
            before={"status": "open"},
            after={"status": decision, "reason": reason[:500]},
            district_id=int(row["district"]),
            now=now,
        )
        row = await ClaimFlag.select().where(ClaimFlag.id == flag_id).first()
    assert row is not None
    return _view(row)


async def open_flag_ids(district_id: int, month: str, kind: str, limit: int = MAX_REVIEW) -> list[int]:
    """The open flags of one kind in a district's month ("select all of this kind"), at most ``limit``."""
    rows = (
        await ClaimFlag.select(ClaimFlag.id)
        .where(
            (ClaimFlag.district == district_id)
            & (ClaimFlag.month == month)
            & (ClaimFlag.kind == kind[:30])
            & (ClaimFlag.status == "open")
        )
        .order_by(ClaimFlag.id)
        .limit(limit)
    )
    return [int(r["id"]) for r in rows]


async def review_flags(
    actor: Principal,
    district_id: int,
    flag_ids: list[int],
    decision: str,
    reason: str,
    *,
    now: dt.datetime | None = None,
) -> ReviewOut:
    """One decision with one reason for many open flags of one district, all or none.

    A flag of another district (or one that does not exist) is ``not_found``; one already decided
    is ``flag_decided`` (someone else was quicker): the whole review is refused, so a decision is
    never half applied. One audit row per flag (as a single decision writes), each naming the
    review's size in its note: a flag's history is then one query on its own id, whichever way
    it was decided."""
    if not actor.has_role(OFFICIAL):
        raise DomainError("forbidden")
    require_district(actor, district_id)
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise DomainError("reason_required", {"field": "reason"})
    if decision not in ("cleared", "upheld"):
        raise DomainError("invalid_body", {"field": "decision"})
    ids = sorted({int(i) for i in flag_ids})
    if not ids:
        raise DomainError("invalid_body", {"field": "flag_ids"})
    if len(ids) > MAX_REVIEW:
        raise DomainError("too_many_flags", {"count": len(ids), "max": MAX_REVIEW})
    now = now or utcnow()
    async with write_transaction():
        rows = await ClaimFlag.select(ClaimFlag.id, ClaimFlag.district, ClaimFlag.status).where(
            any_of(ClaimFlag.id, ids)
        )
        mine = {int(r["id"]): r for r in rows if int(r["district"]) == district_id}
        missing = [i for i in ids if i not in mine]
        if missing:
            raise DomainError("not_found", {"flag_ids": missing[:50]})
        decided = [i for i in ids if mine[i]["status"] != "open"]
        if decided:
            raise DomainError("flag_decided", {"flag_ids": decided[:50], "count": len(decided)})
        await ClaimFlag.update(
            {
                ClaimFlag.status: decision,
                ClaimFlag.reason: reason[:500],
                ClaimFlag.decided_by: actor.user_id,
                ClaimFlag.decided_at: now,
            }
        ).where(
            any_of(ClaimFlag.id, ids) & (ClaimFlag.status == "open") & (ClaimFlag.district == district_id)
        )
        for flag_id in ids:
            await audit.record(
                actor,
                f"claim_flag.{decision}",
                "claim_flag",
                flag_id,
                before={"status": "open"},
                after={"status": decision, "reason": reason[:500]},
                district_id=district_id,
                note=f"bulk review of {len(ids)} flags",
                now=now,
            )
    return ReviewOut(decided=len(ids), decision=decision, flag_ids=ids)


async def open_flags(district_id: int, month: str, operator_id: int | None = None) -> list[FlagView]:
    """Open flags of a district's month (of one operator when given). No actor: settlement calls it."""
    where = (ClaimFlag.district == district_id) & (ClaimFlag.month == month) & (ClaimFlag.status == "open")
    if operator_id is not None:
        where = where & (ClaimFlag.operator == operator_id)
    return [_view(r) for r in await ClaimFlag.select().where(where).order_by(ClaimFlag.id)]


async def upheld_meal_ids(district_id: int, month: str, operator_id: int | None = None) -> set[int]:
    """Meals behind upheld flags: a settlement leaves their subsidies out."""
    where = (ClaimFlag.district == district_id) & (ClaimFlag.month == month) & (ClaimFlag.status == "upheld")
    if operator_id is not None:
        where = where & (ClaimFlag.operator == operator_id)
    out: set[int] = set()
    for r in await ClaimFlag.select(ClaimFlag.meal_ids).where(where):
        out.update(int(i) for i in _jl(r["meal_ids"]))
    return out


async def assert_no_open_flags(district_id: int, month: str, operator_id: int | None = None) -> None:
    """Raise ``DomainError("claim_flags_open")`` while any flag of the month (and operator) is open."""
    found = await open_flags(district_id, month, operator_id)
    if found:
        raise DomainError("claim_flags_open", {"flag_ids": [f.id for f in found][:50], "count": len(found)})
