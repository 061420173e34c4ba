"""Meal ratings (three faces) and the claim checks run before a settlement is approved.

The checks are the edit checks public meal programmes run on claims. Each finding becomes a
:class:`ClaimFlag` holding the meals behind it; an official clears it (the meals are genuine) or
upholds it (they are not paid), always with a reason. Settlement approval refuses while a flag of
its district, month and operator is open: :func:`assert_no_open_flags`.

Thresholds (documented here, one place to change them):
- two points: the same elder (their card resolves to them) served at two points within 30 minutes,
  in the same slot of the same service day;
- over limit: more subsidised meals for one elder in one slot of a day than the policy allows;
- outside hours: a counter meal recorded outside the site's serving hours for that slot, by the
  counter's own rule (``checkin.rules.slot_open_at``: the hours plus its grace window);
- identical counts: the same daily meal count at a point for 7 or more serving days running;
- fast scans: one cashier recording meals < 10 s apart, 5 or more times in a day;
- void rate: a point voiding more than 3× the district's rate and more than 5% of its meals;
- over capacity: more meals in a slot than the point's ``meals_per_slot``;
- after death or move: a subsidised meal after the elder's status became deceased or moved;
- category expired: a subsidised meal whose tier needed a category no longer valid that day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from canteen.accounts.roles import CASHIER, COURIER, OFFICIAL, OPERATOR, Principal, require_district
from canteen.checkin.rules import slot_open_at
from canteen.core import audit
from canteen.core.clock import local_time, utcnow
from canteen.core.db import UniqueViolation, any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.periods import month_bounds
from canteen.meals.tables import Meal
from canteen.quality.schemas import FlagList, FlagMeal, FlagMeals, FlagView, RatingOut, RunOut
from canteen.quality.tables import ClaimFlag, MealRating
from canteen.regions.tables import Site
from canteen.registry.tables import ElderCategory, ElderStatusEvent
from canteen.settings import get_settings
from canteen.subsidies.services import policy_for

register("already_rated", 409)
register("meal_voided", 409)
register("flag_decided", 409)
register("reason_required", 422)
register("claim_flags_open", 409)

TWO_POINTS_MINUTES = 30
IDENTICAL_DAYS = 7
FAST_SCAN_SECONDS = 10
FAST_SCAN_TIMES = 5
VOID_RATE_FACTOR = 3.0
VOID_RATE_FLOOR = 0.05
KINDS = (
    "two_points",
    "over_limit",
    "outside_hours",
    "identical_counts",
    "fast_scans",
    "void_rate",
    "over_capacity",
    "after_status",
    "category_expired",
)


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


@dataclass
class Finding:
    kind: str
    fingerprint: str
    meal_ids: list[int]
    detail: str
    site: int | None = None
    elder: int | None = None
    operator: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def served_outside_hours(site_slots: list[dict[str, Any]], slot: str, served_local: dt.time) -> bool:
    """The ``outside_hours`` check for one counter meal: true when ``slot`` was not open at
    ``served_local`` by the counter's own rule (:func:`canteen.checkin.rules.slot_open_at`,
    serving hours plus the grace window), so a meal the counter accepted is never flagged."""
    return not any(slot_open_at(s, served_local) for s in site_slots if s.get("slot") == slot)


def _jl(value: Any) -> list[Any]:
    if isinstance(value, str):
        return list(json.loads(value or "[]"))
    return list(value or [])


async def _findings(district_id: int, first: dt.date, last: dt.date) -> list[Finding]:
    tz = get_settings().tz
    meals = (
        await Meal.select(
            Meal.id,
            Meal.site,
            Meal.elder,
            Meal.service_date,
            Meal.slot,
            Meal.mode,
            Meal.served_at,
            Meal.subsidised,
            Meal.tier_code,
            Meal.categories,
            Meal.cashier_id,
            Meal.operator,
            Meal.voided_at,
            Meal.policy_district,
        )
        .where((Meal.district == district_id) & (Meal.service_date >= first) & (Meal.service_date <= last))
        .order_by(Meal.served_at)
    )
    sites = {
        int(s["id"]): s
        for s in await Site.select(Site.id, Site.name, Site.slots, Site.meals_per_slot, Site.operator).where(
            Site.district == district_id
        )
    }
    live = [m for m in meals if m["voided_at"] is None]
    out: list[Finding] = []

    def op_of(site_id: int) -> int | None:
        s = sites.get(site_id)
        return s["operator"] if s else None

    # The same elder at two points within 30 minutes, in one slot of one service day: meals of
    # different slots or days are different meals, never a pair. Each group is ordered by the
    # moment the meal was served, so only neighbours in time are compared.
    by_elder_slot: dict[tuple[int, dt.date, str], list[dict[str, Any]]] = defaultdict(list)
    for m in live:
        if m["elder"] is not None:
            by_elder_slot[(int(m["elder"]), m["service_date"], str(m["slot"]))].append(m)
    window = dt.timedelta(minutes=TWO_POINTS_MINUTES)
    for (elder, day, slot), ms in by_elder_slot.items():
        ms.sort(key=lambda m: (m["served_at"], m["id"]))
        pair_ids: set[int] = set()
        for a, b in itertools.pairwise(ms):
            if a["site"] != b["site"] and b["served_at"] - a["served_at"] <= window:
                pair_ids.update((a["id"], b["id"]))
        if not pair_ids:
            continue
        paired = [m for m in ms if m["id"] in pair_ids]
        out.append(
            Finding(
                "two_points",
                f"two_points:{elder}:{day}:{slot}",
                sorted(pair_ids),
                f"elder #{elder} served {slot} at {len({m['site'] for m in paired})} points "
                f"within {TWO_POINTS_MINUTES} minutes on {day}",
                site=paired[0]["site"],
                elder=elder,
                operator=paired[0]["operator"],
            )
        )

    # More subsidised meals in a slot than the policy allows.
    per_slot: dict[tuple[int, dt.date, str], list[dict[str, Any]]] = defaultdict(list)
    for m in live:
        if m["subsidised"] and m["elder"] is not None:
            per_slot[(int(m["elder"]), m["service_date"], m["slot"])].append(m)
    for (elder, day, slot), ms in per_slot.items():
        # The policy that priced the meals: the elder's home district's (补贴跟着人走).
        policy = await policy_for(int(ms[0]["policy_district"] or district_id), day)
        limit = policy.per_slot_daily_limit if policy else 1
        if len(ms) > limit:
            out.append(
                Finding(
                    "over_limit",
                    f"over_limit:{elder}:{day}:{slot}",
                    [m["id"] for m in ms],
                    f"{len(ms)} subsidised {slot} meals on {day}; the policy allows {limit}",
                    site=ms[0]["site"],
                    elder=elder,
                    operator=ms[0]["operator"],
                )
            )

    # Counter meals outside the site's serving hours.
    outside: dict[tuple[int, dt.date], list[int]] = defaultdict(list)
    for m in live:
        site = sites.get(int(m["site"]))
        if site is None or m["mode"] != "dine_in":
            continue
        if served_outside_hours(_jl(site["slots"]), m["slot"], local_time(m["served_at"], tz)):
            outside[(int(m["site"]), m["service_date"])].append(m["id"])
    for (site_id, day), ids in outside.items():
        out.append(
            Finding(
                "outside_hours",
                f"outside_hours:{site_id}:{day}",
                ids,
                f"{len(ids)} meals recorded outside serving hours on {day}",
                site=site_id,
                operator=op_of(site_id),
            )
        )

    # Identical daily counts for many serving days running.
    daily: dict[int, dict[dt.date, list[int]]] = defaultdict(lambda: defaultdict(list))
    for m in live:
        daily[int(m["site"])][m["service_date"]].append(m["id"])
    for site_id, days in daily.items():
        ordered = sorted(days.items())
        run: list[tuple[dt.date, list[int]]] = []
        for day, ids in [*ordered, (dt.date.max, [])]:
            if run and len(ids) == len(run[-1][1]) and day != dt.date.max:
                run.append((day, ids))
                continue
            if len(run) >= IDENTICAL_DAYS:
                out.append(
                    Finding(
                        "identical_counts",
                        f"identical_counts:{site_id}:{run[0][0]}",
                        [i for _, ids_ in run for i in ids_],
                        f"exactly {len(run[0][1])} meals a day for {len(run)} serving days from {run[0][0]}",
                        site=site_id,
                        operator=op_of(site_id),
                    )
                )
            run = [(day, ids)]

    # One cashier scanning faster than a person can be served.
    by_cashier: dict[tuple[int, dt.date], list[dict[str, Any]]] = defaultdict(list)
    for m in live:
        if m["cashier_id"] is not None and m["mode"] == "dine_in":
            by_cashier[(int(m["cashier_id"]), m["service_date"])].append(m)
    for (cashier, day), ms in by_cashier.items():
        fast: set[int] = set()
        times = 0
        for a, b in itertools.pairwise(ms):
            if (b["served_at"] - a["served_at"]).total_seconds() < FAST_SCAN_SECONDS:
                times += 1
                fast.update((a["id"], b["id"]))
        if times >= FAST_SCAN_TIMES:
            out.append(
                Finding(
                    "fast_scans",
                    f"fast_scans:{cashier}:{day}",
                    sorted(fast),
                    f"cashier #{cashier} recorded meals less than {FAST_SCAN_SECONDS} s apart "
                    f"{times} times on {day}",
                    site=ms[0]["site"],
                    operator=ms[0]["operator"],
                )
            )

    # Void rates far above the district's.
    total = len(meals)
    voided_all = sum(1 for m in meals if m["voided_at"] is not None)
    district_rate = voided_all / total if total else 0.0
    per_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in meals:
        per_site[int(m["site"])].append(m)
    for site_id, ms in per_site.items():
        voided = [m["id"] for m in ms if m["voided_at"] is not None]
        rate = len(voided) / len(ms)
        if rate > VOID_RATE_FLOOR and rate > VOID_RATE_FACTOR * district_rate:
            out.append(
                Finding(
                    "void_rate",
                    f"void_rate:{site_id}",
                    voided,
                    f"voided {rate:.1%} of its meals; the district voided {district_rate:.1%}",
                    site=site_id,
                    operator=op_of(site_id),
                )
            )

    # Meals above a point's capacity in a slot.
    per_service: dict[tuple[int, dt.date, str], list[int]] = defaultdict(list)
    for m in live:
        if m["mode"] == "dine_in":
            per_service[(int(m["site"]), m["service_date"], m["slot"])].append(m["id"])
    for (site_id, day, slot), ids in per_service.items():
        cap = int((sites.get(site_id) or {}).get("meals_per_slot") or 0)
        if cap and len(ids) > cap:
            out.append(
                Finding(
                    "over_capacity",
                    f"over_capacity:{site_id}:{day}:{slot}",
                    ids,
                    f"{len(ids)} {slot} meals on {day}; capacity {cap}",
                    site=site_id,
                    operator=op_of(site_id),
                )
            )

    # Subsidised meals after death or a move, or after the category evidence expired.
    subsidised = [m for m in live if m["subsidised"] and m["elder"] is not None]
    elder_ids = sorted({int(m["elder"]) for m in subsidised})
    if elder_ids:
        events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in (
            await ElderStatusEvent.select(
                ElderStatusEvent.elder, ElderStatusEvent.status, ElderStatusEvent.at
            )
            .where(any_of(ElderStatusEvent.elder, elder_ids))
            .order_by(ElderStatusEvent.at)
        ):
            events[int(e["elder"])].append(e)
        cats: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in await ElderCategory.select(
            ElderCategory.elder, ElderCategory.code, ElderCategory.valid_from, ElderCategory.valid_until
        ).where(any_of(ElderCategory.elder, elder_ids)):
            cats[int(c["elder"])].append(c)
        after: dict[int, list[dict[str, Any]]] = defaultdict(list)
        expired: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for m in subsidised:
            elder = int(m["elder"])
            state = "active"
            for e in events.get(elder, []):
                if e["at"] <= m["served_at"]:
                    state = e["status"]
            if state in ("deceased", "moved"):
                after[elder].append({**m, "state": state})
            policy = await policy_for(int(m["policy_district"] or district_id), m["service_date"])
            tier = next((t for t in (policy.tiers if policy else []) if t.code == m["tier_code"]), None)
            # The tier's categories when the policy is known; otherwise the categories the counter
            # recorded as valid for this meal (the snapshot it was subsidised on).
            needed = set(tier.categories) if tier is not None else {str(c) for c in _jl(m["categories"])}
            if needed:
                held = [c for c in cats.get(elder, []) if c["code"] in needed]
                valid = any(
                    c["valid_from"] <= m["service_date"]
                    and (c["valid_until"] is None or c["valid_until"] >= m["service_date"])
                    for c in held
                )
                if held and not valid:
                    expired[elder].append(m)
        for elder, ms in after.items():
            out.append(
                Finding(
                    "after_status",
                    f"after_status:{elder}",
                    [m["id"] for m in ms],
                    f"{len(ms)} subsidised meals after the elder was recorded as {ms[0]['state']}",
                    site=ms[0]["site"],
                    elder=elder,
                    operator=ms[0]["operator"],
                )
            )
        for elder, ms in expired.items():
            out.append(
                Finding(
                    "category_expired",
                    f"category_expired:{elder}",
                    [m["id"] for m in ms],
                    f"{len(ms)} subsidised meals after the category evidence "
                    f"for tier {ms[0]['tier_code']} expired",
                    site=ms[0]["site"],
                    elder=elder,
                    operator=ms[0]["operator"],
                )
            )
    return out


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


async def run_claim_checks(
    actor: Principal, district_id: int, month: str, *, now: dt.datetime | None = None
) -> RunOut:
    """Run every claim check over a district's month and store new findings as open flags.

    Re-running is safe: a finding already flagged (same kind and subject) keeps its flag and
    its decision; a decided flag whose meals changed is not reopened (the decision stands)."""
    if not actor.has_role(OFFICIAL):
        raise DomainError("forbidden")
    require_district(actor, district_id)
    first, last = month_bounds(month)
    now = now or utcnow()
    findings = await _findings(district_id, first, last)
    created = 0
    async with write_transaction():
        known = {
            r["fingerprint"]
            for r in await ClaimFlag.select(ClaimFlag.fingerprint).where(
                (ClaimFlag.district == district_id) & (ClaimFlag.month == month)
            )
        }
        for f in findings:
            if f.fingerprint in known:
                continue
            known.add(f.fingerprint)
            await ClaimFlag.insert(
                ClaimFlag(
                    district=district_id,
                    month=month,
                    kind=f.kind,
                    site=f.site,
                    operator=f.operator,
                    elder=f.elder,
                    meal_ids=sorted(f.meal_ids),
                    detail=f.detail[:2000],
                    fingerprint=f.fingerprint[:200],
                    status="open",
                    created_at=now,
                )
            )
            created += 1
        await audit.record(
            actor,
            "claim_checks.run",
            "district",
            district_id,
            after={"month": month, "findings": len(findings), "new_flags": created},
            district_id=district_id,
            now=now,
        )
    flags = await list_flags(actor, district_id, month)
    return RunOut(findings=len(findings), new_flags=created, flags=flags.items)


async def list_flags(actor: Principal, district_id: int, month: str) -> FlagList:
    require_district(actor, district_id)
    month_bounds(month)
    rows = (
        await ClaimFlag.select()
        .where((ClaimFlag.district == district_id) & (ClaimFlag.month == month))
        .order_by(ClaimFlag.id)
    )
    items = [_view(r) for r in rows]
    return FlagList(items=items, open=sum(1 for i in items if i.status == "open"))


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
