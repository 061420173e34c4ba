"""Statements per operator, district and funding source — for a month, a quarter or a run of
whole months (``draft_statement(..., until=)``): draft → submitted → approved → paid.

An operator registers in one (home) district and may run sites in any district of its city; each
district settles its own sites with it (their meals, that district's operating-subsidy rules,
the voids of that district's meals), so a statement covers the operator's sites of ONE district
(``district_id``, by default the home district) and ``Settlement.district`` names it: the
district's officials settle it, the city's officials for the city's own funder, the operator's
staff read all of theirs (docs/decisions.md, 2026-12-01).

Figures come from the per-source rollup rows, so a statement never scans the
meal table for its month. Approved statements are locked. A meal voided after
a statement's figures were computed (and that statement has left draft) is
carried into the NEXT statement drafted for that operator, district and source
as an adjustment line naming the meal — the locked statement is never edited. We
compare ``voided_at`` with the statement's ``computed_at`` (not its approval
time): a void between submission and approval is thus not lost either.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from canteen.accounting.kpis import Base, district_rules, month_base, operating_subsidy
from canteen.accounting.schemas import SettlementLineView, SettlementSummary, SettlementView
from canteen.accounting.tables import Settlement, SettlementLine
from canteen.accounts.roles import OFFICIAL, OPERATOR, Principal
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.periods import month_bounds, months, quarter_months
from canteen.meals.tables import Meal, MonthlyRollup
from canteen.quality.services import assert_no_open_flags
from canteen.regions.tables import District, Operator, Site

register("settlement_state", 409)
register("settlement_locked", 409)
register("settlement_overlap", 409)
register("settlement_period_invalid", 422)
register("settlement_district_invalid", 422)

# A statement covers a month, a quarter or a run of whole months, up to a year.
MAX_PERIOD_MONTHS = 12

LIVE = ("submitted", "approved", "paid")


async def _operator(operator_id: int) -> dict[str, Any]:
    op = (
        await Operator.select(Operator.id, Operator.name, Operator.district)
        .where(Operator.id == operator_id)
        .first()
    )
    if op is None:
        raise DomainError("not_found", {"operator_id": operator_id})
    return op


async def _operator_sites(operator_id: int) -> dict[int, str]:
    rows = await Site.select(Site.id, Site.name).where(Site.operator == operator_id)
    return {r["id"]: r["name"] for r in rows}


async def _site_districts(operator_id: int) -> dict[int, int]:
    """Each site of the operator with its district (the districts it serves)."""
    rows = await Site.select(Site.id, Site.district).where(Site.operator == operator_id)
    return {int(r["id"]): int(r["district"]) for r in rows}


async def _statement_district(
    op: dict[str, Any], district_id: int | None, site_districts: dict[int, int], span: list[str]
) -> int:
    """The district a statement covers: the home district by default, else one where the operator
    runs sites (or had meals in the period, for a site since handed to another operator)."""
    if district_id is None or district_id == op["district"] or district_id in site_districts.values():
        return int(op["district"]) if district_id is None else district_id
    had_meals = await MonthlyRollup.exists().where(
        (MonthlyRollup.operator == op["id"])
        & (MonthlyRollup.district == district_id)
        & (MonthlyRollup.month >= span[0])
        & (MonthlyRollup.month <= span[-1])
    )
    if not had_meals:
        raise DomainError(
            "settlement_district_invalid",
            {"field": "district_id", "district_id": district_id, "operator_id": op["id"]},
        )
    return district_id


def _may_operate(actor: Principal, sites: dict[int, str]) -> bool:
    return actor.is_admin or bool(actor.site_ids(OPERATOR) & set(sites))


# The funding source a city official settles: the city's own money, in every district of the city.
CITY_SOURCE = "city"


def _city_reads(actor: Principal, district_id: int) -> bool:
    """A city official reads every statement of its city's districts."""
    return district_id in actor.city_district_ids()


def settles(actor: Principal, district_id: int, source: str) -> bool:
    """May approve and pay: the district's officials (and admins) for every funder; the city's
    officials for the city's own funder (``CITY_SOURCE``) in any district of their city."""
    return actor.can_district(district_id) or (source == CITY_SOURCE and _city_reads(actor, district_id))


def _may_read(actor: Principal, district_id: int, sites: dict[int, str]) -> bool:
    return actor.can_district(district_id) or _may_operate(actor, sites) or _city_reads(actor, district_id)


def _funding_fen(funding: Any, source: str) -> int:
    parts = json.loads(funding) if isinstance(funding, str | bytes) else (funding or [])
    return sum(int(p["fen"]) for p in parts if p.get("source") == source)


async def _adjustments(
    operator_id: int,
    district_id: int,
    source: str,
    month: str,
    now: dt.datetime,
    redraft_of: int | None,
) -> list[dict[str, Any]]:
    """Voids of the district's meals after earlier statements of the same operator, district and
    source (periods before ``month``) left draft, not yet carried into any statement; each
    earlier statement's months are searched."""
    earlier = await Settlement.select(
        Settlement.id, Settlement.month, Settlement.period_end, Settlement.computed_at
    ).where(
        (Settlement.operator == operator_id)
        & (Settlement.district == district_id)
        & (Settlement.source == source)
        & (Settlement.month < month)
        & Settlement.state.is_in(list(LIVE))
    )
    if not earlier:
        return []
    carried = {
        r["meal_id"]
        for r in await SettlementLine.select(SettlementLine.meal_id).where(
            (SettlementLine.kind == "adjustment")
            & SettlementLine.settlement.is_in(
                Settlement.select(Settlement.id).where(
                    (Settlement.operator == operator_id)
                    & (Settlement.district == district_id)
                    & (Settlement.source == source)
                    & (Settlement.id != (redraft_of or 0))
                )
            )
        )
    }
    lines = []
    for s in earlier:
        first, _ = month_bounds(s["month"])
        _, last = month_bounds(s["period_end"] or s["month"])
        meals = await Meal.select(
            Meal.id, Meal.site, Meal.funding, Meal.tier_code, Meal.voided_at, Meal.void_reason
        ).where(
            (Meal.operator == operator_id)
            & (Meal.district == district_id)
            & (Meal.service_date >= first)
            & (Meal.service_date <= last)
            & Meal.voided_at.is_not_null()
            & (Meal.voided_at > s["computed_at"])
            & (Meal.voided_at <= now)
            & (Meal.subsidised == True)  # noqa: E712 (Piccolo builds SQL from ==)
        )
        for m in meals:
            fen = _funding_fen(m["funding"], source)
            if fen and m["id"] not in carried:
                lines.append(
                    {
                        "kind": "adjustment",
                        "site": m["site"],
                        "tier": (m["tier_code"] or "")[:40],
                        "meals": -1,
                        "subsidy_fen": -fen,
                        "amount_fen": -fen,
                        "meal_id": m["id"],
                        "adjusts_month": s["month"],
                        "reason": f"void after statement {s['id']} ({s['month']}): {m['void_reason']}"[:300],
                    }
                )
    return lines


def period_months(month: str, until: str | None) -> list[str]:
    """The months of a statement from ``month`` to ``until`` (inclusive; None: ``month`` alone);
    ``settlement_period_invalid`` when ``until`` is before ``month`` or the span is over a year."""
    span = months(month, until or month)
    if not span or len(span) > MAX_PERIOD_MONTHS:
        raise DomainError(
            "settlement_period_invalid",
            {"field": "until", "month": month, "until": until, "max_months": MAX_PERIOD_MONTHS},
        )
    return span


def period_of(month: str, period: str, until: str | None) -> tuple[str, str | None]:
    """(first month, last month or None) of a period asked for as month, quarter or range."""
    if period == "quarter":
        return quarter_months(month)
    if period == "range":
        if until is None:
            raise DomainError("settlement_period_invalid", {"field": "until", "reason": "missing"})
        return month, until
    return month, None


async def _overlapping(
    operator_id: int, district_id: int, source: str, span: list[str]
) -> list[dict[str, Any]]:
    """Statements of this operator, district and funder whose months meet ``span``."""
    rows = await Settlement.select(
        Settlement.id, Settlement.month, Settlement.period_end, Settlement.state
    ).where(
        (Settlement.operator == operator_id)
        & (Settlement.district == district_id)
        & (Settlement.source == source)
    )
    first, last = span[0], span[-1]
    return [r for r in rows if r["month"] <= last and (r["period_end"] or r["month"]) >= first]


async def draft_statement(
    actor: Principal,
    operator_id: int,
    month: str,
    source: str,
    *,
    until: str | None = None,
    district_id: int | None = None,
    now: dt.datetime | None = None,
) -> SettlementView:
    """Compute (or recompute, while still a draft) an operator's statement for a funding source
    over a month, a quarter or any run of whole months (``month`` to ``until``), for its sites in
    ``district_id`` (None: the operator's home district).

    The district's own officials (or, for the city's funder, the city's) and the operator's staff
    may draft it; a district where the operator runs nothing is ``settlement_district_invalid``.
    Each line names its month, so a quarter's claim lists its months and each month's subtotal
    equals that month's own statement. Periods of one operator, district and funder never
    overlap: a draft meeting another statement's months is refused (``settlement_overlap``),
    unless it is the same period being recomputed."""
    now = now or utcnow()
    span = period_months(month, until)
    period_end = span[-1] if len(span) > 1 else ""
    op = await _operator(operator_id)
    site_districts = await _site_districts(operator_id)
    every_site = dict.fromkeys(site_districts, "")
    wanted = district_id if district_id is not None else int(op["district"])
    if not (settles(actor, wanted, source) or _may_operate(actor, every_site)):
        raise DomainError("forbidden", {"operator_id": operator_id, "district_id": wanted})
    district = await _statement_district(op, district_id, site_districts, span)
    sites = sorted(s for s, d in site_districts.items() if d == district)
    async with write_transaction():
        others = await _overlapping(operator_id, district, source, span)
        existing = next(
            (r for r in others if r["month"] == month and (r["period_end"] or "") == period_end), None
        )
        clash = [r for r in others if r is not existing]
        if clash:
            raise DomainError(
                "settlement_overlap",
                {
                    "field": "month",
                    "settlement_id": clash[0]["id"],
                    "month": clash[0]["month"],
                    "until": clash[0]["period_end"] or clash[0]["month"],
                },
            )
        if existing is not None and existing["state"] != "draft":
            raise DomainError(
                "settlement_locked", {"settlement_id": existing["id"], "state": existing["state"]}
            )
        rows = await MonthlyRollup.raw(
            "SELECT month, site, category, tier, SUM(meals) AS meals, SUM(subsidy_fen) AS fen "
            "FROM monthly_rollup WHERE operator = {} AND district = {} AND source = {} "
            "AND month >= {} AND month <= {} "
            "GROUP BY month, site, category, tier ORDER BY month, site, category, tier",
            operator_id,
            district,
            source,
            span[0],
            span[-1],
        )
        lines: list[dict[str, Any]] = [
            {
                "kind": "meals",
                "month": r["month"],
                "site": r["site"],
                "category": r["category"],
                "tier": r["tier"],
                "meals": int(r["meals"] or 0),
                "subsidy_fen": int(r["fen"] or 0),
                "amount_fen": int(r["fen"] or 0),
            }
            for r in rows
            if int(r["meals"] or 0)
        ]
        rules = [r for r in await district_rules(district) if r["source"] == source]
        for m in span if rules else []:
            bases = await month_base(district, m, categories=False)
            for site_id in sites:
                fen = operating_subsidy(rules, site_id, m, bases.get(site_id, Base())).get(source, 0)
                if fen:
                    lines.append(
                        {
                            "kind": "operating",
                            "month": m,
                            "site": site_id,
                            "operating_fen": fen,
                            "amount_fen": fen,
                        }
                    )
        lines.sort(key=lambda li: (li["month"], li["kind"] != "meals", li["site"]))
        lines.extend(
            await _adjustments(
                operator_id, district, source, month, now, existing["id"] if existing else None
            )
        )
        totals = {
            "meals": sum(li.get("meals", 0) for li in lines if li["kind"] == "meals"),
            "subsidy_fen": sum(li.get("subsidy_fen", 0) for li in lines if li["kind"] == "meals"),
            "operating_fen": sum(li.get("operating_fen", 0) for li in lines),
            "adjustment_fen": sum(li["amount_fen"] for li in lines if li["kind"] == "adjustment"),
        }
        totals["total_fen"] = totals["subsidy_fen"] + totals["operating_fen"] + totals["adjustment_fen"]
        if existing is None:
            row = Settlement(
                operator=operator_id,
                district=district,
                month=month,
                period_end=period_end,
                source=source,
                state="draft",
                computed_at=now,
                **totals,
            )
            await row.save()
            sid = row.id
        else:
            sid = existing["id"]
            await SettlementLine.delete().where(SettlementLine.settlement == sid)
            await Settlement.update(
                {Settlement.computed_at: now, **{getattr(Settlement, k): v for k, v in totals.items()}}
            ).where(Settlement.id == sid)
        if lines:
            await SettlementLine.insert(*(SettlementLine(settlement=sid, **li) for li in lines))
        await audit.record(
            actor,
            "settlement.draft",
            "settlement",
            sid,
            after={
                "operator": operator_id,
                "district": district,
                "month": month,
                "until": span[-1],
                "source": source,
                **totals,
            },
            district_id=district,
            now=now,
        )
    return await _view(sid)


async def _transition(
    actor: Principal,
    settlement_id: int,
    *,
    frm: str,
    to: str,
    who: str,
    now: dt.datetime | None,
    reference: str = "",
) -> SettlementView:
    now = now or utcnow()
    async with write_transaction():
        s = await Settlement.select().where(Settlement.id == settlement_id).first()
        if s is None:
            raise DomainError("not_found", {"settlement_id": settlement_id})
        sites = await _operator_sites(s["operator"])
        if not _may_read(actor, s["district"], sites):
            raise DomainError("not_found", {"settlement_id": settlement_id})  # not theirs: not even there
        if who == OPERATOR:
            allowed = _may_operate(actor, sites)
        else:
            allowed = settles(actor, s["district"], s["source"])
        if not allowed:
            raise DomainError("forbidden", {"settlement_id": settlement_id})
        if s["state"] != frm:
            raise DomainError("settlement_state", {"state": s["state"], "expected": frm})
        if to == "approved":
            # Claim checks (canteen.quality): every flag of every month of the period must be
            # cleared or upheld first.
            for m in months(s["month"], s["period_end"] or s["month"]):
                await assert_no_open_flags(s["district"], m, s["operator"])
        values: dict[Any, Any] = {Settlement.state: to}
        if to == "submitted":
            values.update({Settlement.submitted_at: now, Settlement.submitted_by: actor.user_id})
        elif to == "approved":
            values.update(
                {Settlement.approved_at: now, Settlement.approved_by: actor.user_id, Settlement.locked: True}
            )
        elif to == "paid":
            values.update(
                {
                    Settlement.paid_at: now,
                    Settlement.paid_by: actor.user_id,
                    Settlement.payment_reference: reference,
                }
            )
        # The state in the WHERE makes a concurrent transition lose cleanly.
        updated = (
            await Settlement.update(values)
            .where((Settlement.id == settlement_id) & (Settlement.state == frm))
            .returning(Settlement.id)
        )
        if not updated:
            raise DomainError("conflict", {"settlement_id": settlement_id})
        await audit.record(
            actor,
            f"settlement.{to}",
            "settlement",
            settlement_id,
            before={"state": frm},
            after={"state": to, **({"reference": reference} if reference else {})},
            district_id=s["district"],
            now=now,
        )
    return await _view(settlement_id)


async def submit_statement(
    actor: Principal, settlement_id: int, *, now: dt.datetime | None = None
) -> SettlementView:
    """The operator submits its draft for approval (admin may too)."""
    return await _transition(actor, settlement_id, frm="draft", to="submitted", who=OPERATOR, now=now)


async def approve_statement(
    actor: Principal, settlement_id: int, *, now: dt.datetime | None = None
) -> SettlementView:
    """An official of the district (or, for the city's own funder, of the city) approves a submitted
    statement; it is locked from then on."""
    return await _transition(actor, settlement_id, frm="submitted", to="approved", who=OFFICIAL, now=now)


async def pay_statement(
    actor: Principal, settlement_id: int, reference: str, *, now: dt.datetime | None = None
) -> SettlementView:
    """An official (or admin) records the payment of an approved statement with its reference."""
    return await _transition(
        actor, settlement_id, frm="approved", to="paid", who=OFFICIAL, now=now, reference=reference[:100]
    )


def _by_month(lines: list[dict[str, Any]]) -> dict[str, int]:
    """Each month's total of a period (meals and operating lines; adjustments stand apart)."""
    out: dict[str, int] = {}
    for li in lines:
        if li["kind"] != "adjustment" and li["month"]:
            out[li["month"]] = out.get(li["month"], 0) + int(li["amount_fen"])
    return dict(sorted(out.items()))


def _iso(v: dt.datetime | None) -> str | None:
    return v.isoformat() if v else None


async def _view(settlement_id: int) -> SettlementView:
    s = await Settlement.select().where(Settlement.id == settlement_id).first()
    if s is None:
        raise DomainError("not_found", {"settlement_id": settlement_id})
    op = await _operator(s["operator"])
    lines = (
        await SettlementLine.select()
        .where(SettlementLine.settlement == settlement_id)
        .order_by(SettlementLine.id)
    )
    names = {
        r["id"]: r["name"]
        for r in await Site.select(Site.id, Site.name).where(Site.district == s["district"])
    }
    district = await District.select(District.name).where(District.id == s["district"]).first()
    return SettlementView(
        id=s["id"],
        operator_id=s["operator"],
        operator_name=op["name"],
        district_id=s["district"],
        district_name=district["name"] if district else "",
        month=s["month"],
        until=s["period_end"] or s["month"],
        months=months(s["month"], s["period_end"] or s["month"]),
        by_month=_by_month(lines),
        source=s["source"],
        state=s["state"],
        locked=s["locked"],
        meals=s["meals"],
        subsidy_fen=s["subsidy_fen"],
        delivery_subsidy_fen=s["delivery_subsidy_fen"],
        operating_fen=s["operating_fen"],
        adjustment_fen=s["adjustment_fen"],
        total_fen=s["total_fen"],
        payment_reference=s["payment_reference"],
        computed_at=s["computed_at"].isoformat(),
        submitted_at=_iso(s["submitted_at"]),
        approved_at=_iso(s["approved_at"]),
        paid_at=_iso(s["paid_at"]),
        lines=[
            SettlementLineView(
                id=li["id"],
                kind=li["kind"],
                month=li["month"],
                site_id=li["site"],
                site_name=names.get(li["site"], str(li["site"])),
                category=li["category"],
                tier=li["tier"],
                meals=li["meals"],
                subsidy_fen=li["subsidy_fen"],
                delivery_subsidy_fen=li["delivery_subsidy_fen"],
                operating_fen=li["operating_fen"],
                amount_fen=li["amount_fen"],
                meal_id=li["meal_id"],
                reason=li["reason"],
            )
            for li in lines
        ],
    )


async def get_statement(actor: Principal, settlement_id: int) -> SettlementView:
    """One statement with its lines, for the operator, the district's officials and admins."""
    view = await _view(settlement_id)
    if not _may_read(actor, view.district_id, await _operator_sites(view.operator_id)):
        raise DomainError("not_found", {"settlement_id": settlement_id})
    return view


async def list_statements(
    actor: Principal, *, district_id: int | None = None, month: str | None = None, state: str | None = None
) -> list[SettlementSummary]:
    """Statements this actor may see, newest month first: those of its districts (an official),
    of its city's districts (a city official), all of its operator's (operator staff)."""
    q = Settlement.select(
        Settlement.id,
        Settlement.operator,
        Settlement.operator.name.as_alias("operator_name"),
        Settlement.district,
        Settlement.district.name.as_alias("district_name"),
        Settlement.month,
        Settlement.period_end,
        Settlement.source,
        Settlement.state,
        Settlement.total_fen,
    )
    where = []
    if district_id is not None:
        where.append(Settlement.district == district_id)
    if month:
        where.append(Settlement.month == month)
    if state:
        where.append(Settlement.state == state)
    for w in where:
        q = q.where(w)
    rows = await q.order_by(Settlement.month, ascending=False).order_by(Settlement.id)
    own_ops: set[int] = set()
    if not actor.is_admin and actor.site_ids(OPERATOR):
        own_ops = {
            r["operator"]
            for r in await Site.select(Site.operator).where(Site.id.is_in(list(actor.site_ids(OPERATOR))))
            if r["operator"]
        }
    by_op: dict[int, list[Any]] = defaultdict(list)
    out = []
    for r in rows:
        if actor.can_district(r["district"]) or r["operator"] in own_ops or _city_reads(actor, r["district"]):
            by_op[r["operator"]].append(r)
            out.append(
                SettlementSummary(
                    id=r["id"],
                    operator_id=r["operator"],
                    operator_name=r["operator_name"] or "",
                    district_id=r["district"],
                    district_name=r["district_name"] or "",
                    month=r["month"],
                    until=r["period_end"] or r["month"],
                    source=r["source"],
                    state=r["state"],
                    total_fen=r["total_fen"],
                )
            )
    return out
