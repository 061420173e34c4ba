"""Welfare visits (巡访关爱): the district's visit rules, the visit plan per community, visits
recorded by community workers, volunteers and officials, coverage per community and volunteers'
hours.

The plan is computed, not stored: an elder is on it while an active rule of the district matches
them (any of the rule's categories, living alone, a minimum age: every criterion that is set must
hold); several matching rules mean the most frequent one applies. Their last visit is the latest
of their ``Visit`` rows and the courier's door checks (``delivery.WelfareCheck``, read here and
never copied), so a delivery round counts as a visit without anyone writing it twice. The next
visit is due ``every_days`` after the last one (never visited: after the rule or the elder's
registration, whichever is later); past that day the elder is overdue.

Coverage on a day: of the elders planned that day, the share visited within their frequency
(next visit not yet past due). An elder still inside their first window, never visited, is
neither on time nor overdue ("pending").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from canteen.accounts.roles import COMMUNITY_WORKER, OFFICIAL, VOLUNTEER, Principal, require_district
from canteen.accounts.tables import StaffUser
from canteen.care.tables import Visit, VisitRule
from canteen.core import audit, outbox
from canteen.core.categories import CATEGORIES
from canteen.core.clock import utcnow
from canteen.core.db import any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.delivery import services as delivery
from canteen.delivery.tables import RoundStop, WelfareCheck
from canteen.orders.tables import Order
from canteen.regions.tables import Community, District
from canteen.registry.national_id import age_on
from canteen.registry.tables import Elder, ElderCategory
from canteen.settings import get_settings

register("visit_rule_empty", 422)
register("visit_rule_changed", 409)
register("visit_elder_inactive", 409)
register("unknown_category", 422)  # the registry's code: same words for the same mistake

# The longest frequency a rule may set; also how far back the plan looks for a last visit.
MAX_EVERY_DAYS = 366
# A visit written down afterwards (no signal in the stairwell) may be dated back this far.
BACKDATE_DAYS = 30

Level = Literal["fine", "attention", "urgent"]
RuleName = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
CategoryCode = Annotated[str, msgspec.Meta(max_length=30)]
EveryDays = Annotated[int, msgspec.Meta(ge=1, le=MAX_EVERY_DAYS)]
MinAge = Annotated[int, msgspec.Meta(ge=50, le=120)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=600)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]


class VisitRuleIn(msgspec.Struct, forbid_unknown_fields=True):
    name: RuleName
    every_days: EveryDays
    categories: Annotated[list[CategoryCode], msgspec.Meta(max_length=20)] = []
    alone: bool = False
    min_age: MinAge | None = None
    active: bool = True


class VisitRuleUpdate(VisitRuleIn, forbid_unknown_fields=True):
    # The version the editor read: a rule changed meanwhile is refused (visit_rule_changed).
    version: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] = 1


class VisitRuleView(msgspec.Struct):
    id: int
    district_id: int
    name: str
    categories: list[str]
    alone: bool
    min_age: int | None
    every_days: int
    active: bool
    version: int
    updated_at: dt.datetime


class VisitIn(msgspec.Struct, forbid_unknown_fields=True):
    level: Level
    note: Note = ""
    minutes: Minutes = 0
    # With a delivery: the round stop (or the order) the visit came with.
    stop_id: Id | None = None
    order_id: Id | None = None
    # When the visit took place, if written down afterwards (at most 30 days back).
    at: dt.datetime | None = None


class VisitView(msgspec.Struct):
    id: int
    elder_id: int
    at: dt.datetime
    visitor_id: int
    visitor_name: str
    visitor_role: str  # courier | community_worker | volunteer | official
    level: str
    note: str
    minutes: int
    order_id: int | None
    stop_id: int | None
    source: str  # visit | door_check (the courier's welfare check at the door)
    alert_id: int | None = None


class PlanEntry(msgspec.Struct):
    elder_id: int
    name: str
    community_id: int
    community_name: str
    address: str
    every_days: int
    next_due: dt.date
    status: str  # overdue | due | ok | pending
    days_overdue: int
    last_visit_at: dt.datetime | None
    last_visit_level: str | None
    # Left out (None) for a reader who may not see why the elder is planned (a volunteer).
    rule_id: int | None = None
    rule_name: str | None = None
    categories: list[str] | None = None
    living_alone: bool | None = None
    age: int | None = None


class VisitPlan(msgspec.Struct):
    district_id: int
    on: dt.date
    items: list[PlanEntry]


class CommunityCoverage(msgspec.Struct):
    community_id: int
    community_name: str
    planned: int
    on_time: int
    overdue: int
    pending: int
    coverage_pct: float | None  # on_time / planned, one decimal; None when nobody is planned


class VisitCoverage(msgspec.Struct):
    district_id: int
    on: dt.date
    communities: list[CommunityCoverage]
    total: CommunityCoverage


class HoursMonth(msgspec.Struct):
    month: str  # YYYY-MM in the service zone
    visits: int
    minutes: int


class VolunteerHours(msgspec.Struct):
    user_id: int
    months: list[HoursMonth]
    total_minutes: int


# --------------------------------------------------------------------------- pure rules


def _tz() -> Any:
    return get_settings().tz


def _local_day(at: dt.datetime) -> dt.date:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(_tz()).date()


def rule_matches(rule: dict[str, Any], categories: set[str], alone: bool, age: int | None) -> bool:
    """Every criterion the rule sets holds for the elder (a rule with none matches nobody)."""
    wanted = set(_categories(rule["categories"]))
    if not wanted and not rule["alone"] and rule["min_age"] is None:
        return False
    if wanted and not wanted & categories:
        return False
    if rule["alone"] and not alone:
        return False
    return not (rule["min_age"] is not None and (age is None or age < int(rule["min_age"])))


def pick_rule(
    rules: Sequence[dict[str, Any]], categories: set[str], alone: bool, age: int | None
) -> dict[str, Any] | None:
    """The most frequent matching rule (the oldest rule on a tie, so the plan is stable)."""
    found = [r for r in rules if rule_matches(r, categories, alone, age)]
    return min(found, key=lambda r: (int(r["every_days"]), int(r["id"]))) if found else None


def due_status(next_due: dt.date, on: dt.date, visited: bool) -> str:
    if next_due < on:
        return "overdue"
    if not visited:
        return "pending"
    return "due" if next_due == on else "ok"


# --------------------------------------------------------------------------- rules


def _categories(value: Any) -> list[str]:
    # JSON comes back as text from RETURNING (and on SQLite): read it the same way everywhere.
    return list(msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value or [])


def _rule_view(r: dict[str, Any]) -> VisitRuleView:
    return VisitRuleView(
        id=int(r["id"]),
        district_id=int(r["district"]),
        name=str(r["name"]),
        categories=_categories(r["categories"]),
        alone=bool(r["alone"]),
        min_age=r["min_age"],
        every_days=int(r["every_days"]),
        active=bool(r["active"]),
        version=int(r["version"]),
        updated_at=r["updated_at"],
    )


def _check_rule(data: VisitRuleIn) -> list[str]:
    codes = list(dict.fromkeys(c.strip() for c in data.categories if c.strip()))
    unknown = [c for c in codes if c not in CATEGORIES]
    if unknown:
        raise DomainError("unknown_category", {"field": "categories", "codes": unknown})
    if not codes and not data.alone and data.min_age is None:
        raise DomainError("visit_rule_empty", {"field": "categories"})
    if not data.name.strip():
        raise DomainError("validation_failed", {"field": "name"})
    return codes


def _rule_values(data: VisitRuleIn, codes: list[str]) -> dict[str, Any]:
    return {
        "name": data.name.strip(),
        "categories": codes,
        "alone": data.alone,
        "min_age": data.min_age,
        "every_days": data.every_days,
        "active": data.active,
    }


async def list_rules(actor: Principal, district_id: int) -> list[VisitRuleView]:
    """The district's visit rules, active ones first, most frequent first."""
    require_district(actor, district_id)
    rows = await VisitRule.select().output(load_json=True).where(VisitRule.district == district_id)
    rows.sort(key=lambda r: (not r["active"], r["every_days"], r["id"]))
    return [_rule_view(r) for r in rows]


async def create_rule(
    actor: Principal, district_id: int, data: VisitRuleIn, *, now: dt.datetime | None = None
) -> VisitRuleView:
    """Add a visit rule to the district (officials of the district and admin), audited."""
    now = now or utcnow()
    require_district(actor, district_id)
    codes = _check_rule(data)
    values = _rule_values(data, codes)
    async with write_transaction():
        rows = await VisitRule.insert(
            VisitRule(
                district=district_id, created_by=actor.user_id, created_at=now, updated_at=now, **values
            )
        ).returning(*VisitRule.all_columns())
        row = rows[0]
        await audit.record(
            actor,
            "visit_rule.create",
            "visit_rule",
            row["id"],
            after=values,
            district_id=district_id,
            now=now,
        )
    return _rule_view(row)


async def update_rule(
    actor: Principal, district_id: int, rule_id: int, data: VisitRuleUpdate, *, now: dt.datetime | None = None
) -> VisitRuleView:
    """Change a rule (or switch it off with ``active=false``); the old values go to the audit log.
    ``data.version`` must be the version the editor read."""
    now = now or utcnow()
    require_district(actor, district_id)
    codes = _check_rule(data)
    values = _rule_values(data, codes)
    async with write_transaction():
        row = (
            await VisitRule.select()
            .output(load_json=True)
            .where((VisitRule.id == rule_id) & (VisitRule.district == district_id))
            .first()
        )
        if row is None:
            raise DomainError("not_found", {"rule_id": rule_id})
        if int(row["version"]) != data.version:
            raise DomainError("visit_rule_changed", {"rule_id": rule_id, "version": int(row["version"])})
        changes: dict[Any, Any] = {**values, "version": data.version + 1, "updated_at": now}
        await VisitRule.update(changes).where((VisitRule.id == rule_id) & (VisitRule.version == data.version))
        before = {k: row[k] for k in values}
        await audit.record(
            actor,
            "visit_rule.update",
            "visit_rule",
            rule_id,
            before=before,
            after=values,
            district_id=district_id,
            now=now,
        )
    return _rule_view({**row, **values, "version": data.version + 1, "updated_at": now})


# --------------------------------------------------------------------------- plan


async def _communities(actor: Principal, district_id: int, community_id: int | None) -> dict[int, str]:
    """The communities of the district the actor may see the plan of ({} for none)."""
    query = Community.select(Community.id, Community.name).where(Community.district == district_id)
    if not actor.can_district(district_id):
        mine = sorted(actor.community_ids(COMMUNITY_WORKER, VOLUNTEER))
        if not mine:
            return {}
        query = query.where(any_of(Community.id, mine))
    if community_id is not None:
        query = query.where(Community.id == community_id)
    return {int(r["id"]): str(r["name"]) for r in await query.order_by(Community.name)}


async def _last_visits(elder_ids: list[int], until: dt.datetime) -> dict[int, tuple[dt.datetime, str]]:
    """Each elder's latest visit or door check up to ``until`` (looking back a year at most)."""
    since = until - dt.timedelta(days=MAX_EVERY_DAYS + 1)
    last: dict[int, tuple[dt.datetime, str]] = {}
    if not elder_ids:
        return last
    visits = await Visit.select(Visit.elder, Visit.at, Visit.level).where(
        any_of(Visit.elder, elder_ids), Visit.at <= until, Visit.at >= since
    )
    checks = await WelfareCheck.select(WelfareCheck.elder, WelfareCheck.at, WelfareCheck.level).where(
        any_of(WelfareCheck.elder, elder_ids), WelfareCheck.at <= until, WelfareCheck.at >= since
    )
    for r in [*visits, *checks]:
        at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=dt.UTC)
        e = int(r["elder"])
        if e not in last or at > last[e][0]:
            last[e] = (at, str(r["level"]))
    return last


async def _plan(district_id: int, communities: dict[int, str], on: dt.date) -> list[PlanEntry]:
    """Every elder of these communities a rule of the district puts on the plan, overdue first."""
    if not communities:
        return []
    rules = (
        await VisitRule.select()
        .output(load_json=True)
        .where((VisitRule.district == district_id) & (VisitRule.active.eq(True)))
    )
    if not rules:
        return []
    elders = await Elder.select(
        Elder.id,
        Elder.name,
        Elder.community,
        Elder.address,
        Elder.birth_date,
        Elder.living_situation,
        Elder.created_at,
    ).where(
        (Elder.district == district_id) & (Elder.status == "active"),
        any_of(Elder.community, list(communities)),
    )
    ids = [int(e["id"]) for e in elders]
    cats: dict[int, set[str]] = defaultdict(set)
    if ids:
        for c in await ElderCategory.select(
            ElderCategory.elder, ElderCategory.code, ElderCategory.valid_until
        ).where(any_of(ElderCategory.elder, ids), ElderCategory.valid_from <= on):
            if c["valid_until"] is None or c["valid_until"] >= on:
                cats[int(c["elder"])].add(str(c["code"]))
    end_of_day = dt.datetime.combine(on + dt.timedelta(days=1), dt.time(0), _tz()).astimezone(dt.UTC)
    last = await _last_visits(ids, end_of_day)
    out: list[PlanEntry] = []
    for e in elders:
        eid = int(e["id"])
        age = age_on(e["birth_date"], on) if e["birth_date"] else None
        alone = e["living_situation"] == "alone"
        rule = pick_rule(rules, cats[eid], alone, age)
        if rule is None:
            continue
        every = int(rule["every_days"])
        seen = last.get(eid)
        if seen is not None:
            next_due = _local_day(seen[0]) + dt.timedelta(days=every)
        else:
            start = max(_local_day(rule["created_at"]), _local_day(e["created_at"]))
            next_due = start + dt.timedelta(days=every)
        out.append(
            PlanEntry(
                elder_id=eid,
                name=str(e["name"]),
                community_id=int(e["community"]),
                community_name=communities.get(int(e["community"]), ""),
                address=str(e["address"]),
                every_days=every,
                next_due=next_due,
                status=due_status(next_due, on, seen is not None),
                days_overdue=max(0, (on - next_due).days),
                last_visit_at=seen[0] if seen else None,
                last_visit_level=seen[1] if seen else None,
                rule_id=int(rule["id"]),
                rule_name=str(rule["name"]),
                categories=sorted(cats[eid]),
                living_alone=alone,
                age=age,
            )
        )
    out.sort(key=lambda p: (p.status != "overdue", p.next_due, p.community_name, p.name, p.elder_id))
    return out


def _sees_why(actor: Principal, district_id: int, community_id: int) -> bool:
    """Officials and the community's workers see why an elder is planned; a volunteer does not."""
    return actor.can_district(district_id) or community_id in actor.community_ids(COMMUNITY_WORKER)


def _today() -> dt.date:
    return utcnow().astimezone(_tz()).date()


async def visit_plan(
    actor: Principal, district_id: int, *, community_id: int | None = None, on: dt.date | None = None
) -> VisitPlan:
    """The visit plan of the communities of the district the actor works in (all of them for an
    official), overdue elders first. Out of scope: not_found. A volunteer sees name, community,
    address and dates only: no categories, age or rule name (least privilege)."""
    on = on or _today()
    communities = await _communities(actor, district_id, community_id)
    if not communities:
        raise DomainError("not_found", {"district_id": district_id, "community_id": community_id})
    items = await _plan(district_id, communities, on)
    for p in items:
        if not _sees_why(actor, district_id, p.community_id):
            p.rule_id = p.rule_name = p.categories = p.living_alone = p.age = None
    return VisitPlan(district_id=district_id, on=on, items=items)


def _coverage_row(cid: int, name: str, entries: list[PlanEntry]) -> CommunityCoverage:
    planned = len(entries)
    on_time = sum(1 for p in entries if p.status in ("ok", "due"))
    overdue = sum(1 for p in entries if p.status == "overdue")
    return CommunityCoverage(
        community_id=cid,
        community_name=name,
        planned=planned,
        on_time=on_time,
        overdue=overdue,
        pending=planned - on_time - overdue,
        coverage_pct=round(100 * on_time / planned, 1) if planned else None,
    )


async def visit_coverage(actor: Principal, district_id: int, *, on: dt.date | None = None) -> VisitCoverage:
    """Per community of the district: elders planned on ``on``, visited within their frequency,
    overdue, and the coverage share (officials of the district and admin)."""
    require_district(actor, district_id)
    on = on or _today()
    communities = await _communities(actor, district_id, None)
    items = await _plan(district_id, communities, on)
    per: dict[int, list[PlanEntry]] = defaultdict(list)
    for p in items:
        per[p.community_id].append(p)
    rows = [_coverage_row(cid, name, per[cid]) for cid, name in communities.items()]
    return VisitCoverage(district_id=district_id, on=on, communities=rows, total=_coverage_row(0, "", items))


# --------------------------------------------------------------------------- visits


async def _elder_in_scope(actor: Principal, elder_id: int) -> dict[str, Any]:
    row = (
        await Elder.select(Elder.id, Elder.district, Elder.community, Elder.status)
        .where(Elder.id == elder_id)
        .first()
    )
    if row is None or not actor.can_community(
        int(row["community"]), int(row["district"]), COMMUNITY_WORKER, VOLUNTEER
    ):
        raise DomainError("not_found", {"elder_id": elder_id})
    return row


def _visitor_role(actor: Principal, district_id: int, community_id: int) -> str:
    if actor.can_district(district_id):
        return "official"
    if community_id in actor.community_ids(COMMUNITY_WORKER):
        return "community_worker"
    return "volunteer"


async def _delivery_of(elder_id: int, data: VisitIn) -> tuple[int | None, int | None]:
    """The (order, stop) the visit came with, checked to be this elder's."""
    order_id, stop_id = data.order_id, data.stop_id
    if stop_id is not None:
        stop = await RoundStop.select(RoundStop.order, RoundStop.elder).where(RoundStop.id == stop_id).first()
        if stop is None or int(stop["elder"]) != elder_id:
            raise DomainError("validation_failed", {"field": "stop_id"})
        if order_id is not None and order_id != int(stop["order"]):
            raise DomainError("validation_failed", {"field": "order_id"})
        order_id = int(stop["order"])
    elif order_id is not None:
        order = await Order.select(Order.elder).where(Order.id == order_id).first()
        if order is None or int(order["elder"]) != elder_id:
            raise DomainError("validation_failed", {"field": "order_id"})
    return order_id, stop_id


async def record_visit(
    actor: Principal, elder_id: int, data: VisitIn, *, now: dt.datetime | None = None
) -> VisitView:
    """Record a home visit to an elder of the actor's communities (officials: their district).

    ``attention`` and ``urgent`` put a ``welfare_attention`` / ``welfare_urgent`` event in the
    outbox in the visit's transaction (family and community hear of it); ``urgent`` also raises
    the district's in-app alert, as the courier's urgent door check does. Audited."""
    now = now or utcnow()
    elder = await _elder_in_scope(actor, elder_id)
    district_id, community_id = int(elder["district"]), int(elder["community"])
    if elder["status"] != "active":
        raise DomainError("visit_elder_inactive", {"elder_id": elder_id, "status": elder["status"]})
    at = data.at or now
    if at.tzinfo is None:
        raise DomainError("validation_failed", {"field": "at"})
    if at > now + dt.timedelta(minutes=5) or at < now - dt.timedelta(days=BACKDATE_DAYS):
        raise DomainError("validation_failed", {"field": "at"})
    order_id, stop_id = await _delivery_of(elder_id, data)
    role = _visitor_role(actor, district_id, community_id)
    note = data.note.strip()
    alert_id: int | None = None
    publish: Any = None
    async with write_transaction():
        rows = await Visit.insert(
            Visit(
                district=district_id,
                community=community_id,
                elder=elder_id,
                at=at,
                visitor=actor.user_id,
                visitor_role=role,
                order=order_id,
                stop=stop_id,
                level=data.level,
                note=note,
                minutes=data.minutes,
                created_at=now,
            )
        ).returning(Visit.id)
        visit_id = int(rows[0]["id"])
        if data.level in ("attention", "urgent"):
            await outbox.emit(
                f"welfare_{data.level}",
                district_id=district_id,
                elder_id=elder_id,
                payload={"visit_id": visit_id, "level": data.level, "visitor_role": role, "note": note},
                dedupe_key=f"visit:{visit_id}:{data.level}",
                now=now,
            )
        if data.level == "urgent":
            alert_id, publish = await delivery.raise_urgent_visit_alert(
                elder_id, visit_id=visit_id, visitor_id=actor.user_id, note=note, now=now
            )
        await audit.record(
            actor,
            "visit.record",
            "elder",
            elder_id,
            after={"visit_id": visit_id, "level": data.level, "minutes": data.minutes, "alert_id": alert_id},
            district_id=district_id,
            now=now,
        )
    if publish is not None:
        publish()
    return VisitView(
        id=visit_id,
        elder_id=elder_id,
        at=at,
        visitor_id=actor.user_id,
        visitor_name=actor.display_name,
        visitor_role=role,
        level=data.level,
        note=note,
        minutes=data.minutes,
        order_id=order_id,
        stop_id=stop_id,
        source="visit",
        alert_id=alert_id,
    )


async def elder_visits(actor: Principal, elder_id: int, *, limit: int = 20) -> list[VisitView]:
    """An elder's latest visits, the courier's door checks included, newest first."""
    await _elder_in_scope(actor, elder_id)
    visits = (
        await Visit.select().where(Visit.elder == elder_id).order_by(Visit.at, ascending=False).limit(limit)
    )
    checks = (
        await WelfareCheck.select()
        .where(WelfareCheck.elder == elder_id)
        .order_by(WelfareCheck.at, ascending=False)
        .limit(limit)
    )
    users = sorted({int(v["visitor"]) for v in visits} | {int(c["courier"]) for c in checks})
    names = {
        int(u["id"]): str(u["display_name"])
        for u in (
            await StaffUser.select(StaffUser.id, StaffUser.display_name).where(any_of(StaffUser.id, users))
            if users
            else []
        )
    }
    out = [
        VisitView(
            id=int(v["id"]),
            elder_id=elder_id,
            at=v["at"],
            visitor_id=int(v["visitor"]),
            visitor_name=names.get(int(v["visitor"]), ""),
            visitor_role=str(v["visitor_role"]),
            level=str(v["level"]),
            note=str(v["note"]),
            minutes=int(v["minutes"]),
            order_id=v["order"],
            stop_id=v["stop"],
            source="visit",
        )
        for v in visits
    ] + [
        VisitView(
            id=int(c["id"]),
            elder_id=elder_id,
            at=c["at"],
            visitor_id=int(c["courier"]),
            visitor_name=names.get(int(c["courier"]), ""),
            visitor_role="courier",
            level=str(c["level"]),
            note=str(c["note"]),
            minutes=0,
            order_id=c["order"],
            stop_id=c["stop"],
            source="door_check",
        )
        for c in checks
    ]
    out.sort(key=lambda v: v.at if v.at.tzinfo else v.at.replace(tzinfo=dt.UTC), reverse=True)
    return out[:limit]


async def volunteer_hours(
    actor: Principal, *, months: int = 12, now: dt.datetime | None = None
) -> VolunteerHours:
    """The actor's own visits and minutes per month (service zone), the last ``months`` months."""
    now = now or utcnow()
    local = now.astimezone(_tz())
    first = local.date().replace(day=1)
    for _ in range(max(1, months) - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    since = dt.datetime.combine(first, dt.time(0), _tz()).astimezone(dt.UTC)
    rows = await Visit.select(Visit.at, Visit.minutes).where(
        (Visit.visitor == actor.user_id) & (Visit.at >= since)
    )
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        key = _local_day(r["at"]).strftime("%Y-%m")
        per[key][0] += 1
        per[key][1] += int(r["minutes"])
    items = [HoursMonth(month=k, visits=v[0], minutes=v[1]) for k, v in sorted(per.items(), reverse=True)]
    return VolunteerHours(user_id=actor.user_id, months=items, total_minutes=sum(m.minutes for m in items))


async def visit_districts(actor: Principal) -> list[tuple[int, str]]:
    """The districts whose plan the actor may open: an official's, or those of its communities."""
    ids = set(actor.district_ids(OFFICIAL))
    mine = sorted(actor.community_ids(COMMUNITY_WORKER, VOLUNTEER))
    if mine:
        ids |= {
            int(r["district"])
            for r in await Community.select(Community.district).where(any_of(Community.id, mine))
        }
    query = District.select(District.id, District.name).order_by(District.id)
    if not actor.is_admin:
        if not ids:
            return []
        query = query.where(any_of(District.id, sorted(ids)))
    return [(int(r["id"]), str(r["name"])) for r in await query]
