"""Monthly cost entry (form or XLSX upload), operating subsidy rules and funding budgets."""

from __future__ import annotations

import datetime as dt
import io
import math
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from canteen.accounting.kpis import COST_FIELDS
from canteen.accounting.schemas import (
    BudgetIn,
    BudgetView,
    CostIn,
    CostUploadResult,
    CostView,
    RuleIn,
    RuleView,
)
from canteen.accounting.tables import FundingBudget, OperatingSubsidyRule, SiteMonthCost
from canteen.accounts.roles import OPERATOR, Principal
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.periods import month_of, shift
from canteen.core.sheets import append_row
from canteen.regions.tables import District, Site
from canteen.settings import get_settings

register("cost_month_out_of_range", 422)
register("cost_amount_negative", 422)

FIELDS = (*COST_FIELDS, "other_income_fen")
# Costs are entered for months the programme can have run in: none before 2000, none more
# than a year ahead (1994-12 or 2094-12 is a typo, and it would sit in every report).
FIRST_COST_MONTH = "2000-01"
MONTHS_AHEAD = 12


def check_cost_month(month: str, now: dt.datetime) -> None:
    """``cost_month_out_of_range`` (422, naming the field) outside 2000-01 .. a year from now."""
    last = shift(month_of(now.astimezone(get_settings().tz).date()), MONTHS_AHEAD)
    if not FIRST_COST_MONTH <= month <= last:
        raise DomainError(
            "cost_month_out_of_range",
            {"field": "month", "month": month, "min": FIRST_COST_MONTH, "max": last},
        )


def check_not_negative(field: str, raw: Any) -> None:
    """A cost or an income is never negative, and a minus sign is never a zero: "-0", "-0.00"
    or -0.0 meant a negative amount (a credit, a correction) that has no place here.
    ``cost_amount_negative`` (422) names the field."""
    if isinstance(raw, bool) or raw is None:
        return
    negative = (
        (isinstance(raw, int) and raw < 0)
        or (isinstance(raw, float) and (raw < 0 or math.copysign(1.0, raw) < 0))
        or (isinstance(raw, str) and raw.strip().startswith(("-", "−")))
    )
    if negative:
        raise DomainError("cost_amount_negative", {"field": field})


def _view(row: dict[str, Any], name: str) -> CostView:
    return CostView(
        site_id=row["site"],
        site_name=name,
        month=row["month"],
        **{f: row[f] for f in FIELDS},
        residential_utilities=row["residential_utilities"],
        total_fen=sum(row[f] for f in COST_FIELDS),
        updated_at=row["updated_at"].isoformat(),
    )


async def save_cost(actor: Principal, data: CostIn, *, now: dt.datetime | None = None) -> CostView:
    """Create or replace one point's costs for a month (its operator, or an admin)."""
    now = now or utcnow()
    check_cost_month(data.month, now)
    for f in FIELDS:
        check_not_negative(f, getattr(data, f))
    site = await Site.select(Site.id, Site.name, Site.district).where(Site.id == data.site_id).first()
    if site is None:
        raise DomainError("not_found", {"site_id": data.site_id})
    if not actor.is_admin and site["id"] not in actor.site_ids(OPERATOR):
        # Officials read costs but operators enter them; another operator's point is not found.
        code = "forbidden" if actor.can_district(site["district"]) else "not_found"
        raise DomainError(code, {"site_id": data.site_id})
    values = {f: getattr(data, f) for f in FIELDS}
    async with write_transaction():
        before = (
            await SiteMonthCost.select()
            .where((SiteMonthCost.site == data.site_id) & (SiteMonthCost.month == data.month))
            .first()
        )
        cols = {getattr(SiteMonthCost, k): v for k, v in values.items()}
        cols[SiteMonthCost.residential_utilities] = data.residential_utilities
        cols[SiteMonthCost.entered_by] = actor.user_id
        cols[SiteMonthCost.updated_at] = now
        if before is None:
            await SiteMonthCost.insert(
                SiteMonthCost(
                    site=data.site_id,
                    district=site["district"],
                    month=data.month,
                    residential_utilities=data.residential_utilities,
                    entered_by=actor.user_id,
                    updated_at=now,
                    **values,
                )
            )
        else:
            await SiteMonthCost.update(cols).where(SiteMonthCost.id == before["id"])
        await audit.record(
            actor,
            "site_cost.save",
            "site",
            data.site_id,
            before={k: before[k] for k in FIELDS} if before else None,
            after={"month": data.month, **values},
            district_id=site["district"],
            now=now,
        )
        row = (
            await SiteMonthCost.select()
            .where((SiteMonthCost.site == data.site_id) & (SiteMonthCost.month == data.month))
            .first()
        )
    assert row is not None
    return _view(row, site["name"])


XLSX_COLUMNS = ("site_id", "month", *FIELDS, "residential_utilities")
# The same sheet in yuan, as people type amounts in the cost form (the pages' template): an
# amount column ``food_yuan`` stands for ``food_fen``, read to the fen (at most 2 decimals).
YUAN_COLUMNS = {f.removesuffix("_fen") + "_yuan": f for f in FIELDS}
XLSX_YUAN_COLUMNS = ("site_id", "month", *YUAN_COLUMNS, "residential_utilities")


def _yuan_to_fen(value: Any) -> Any:
    """A yuan cell as fen; anything else (not an amount to the fen, or signed: "-0" is a
    negative amount too) is left as text for the checks and validation to refuse."""
    if isinstance(value, bool):
        return value
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return value
    if not amount.is_finite() or amount.is_signed() or amount != amount.quantize(Decimal("0.01")):
        return str(value)
    return int(amount * 100)


async def upload_costs_xlsx(
    actor: Principal, content: bytes, *, lang: str = "zh-CN", now: dt.datetime | None = None
) -> CostUploadResult:
    """Save every row of an XLSX sheet with a header row naming ``XLSX_COLUMNS`` (amounts in fen)
    or ``XLSX_YUAN_COLUMNS`` (amounts in yuan)."""
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        raise DomainError("invalid_body", {"reason": "not an XLSX file"}) from exc
    ws = wb.active
    rows = list(ws.iter_rows(values_only=True)) if ws is not None else []
    if not rows:
        return CostUploadResult(saved=0, errors=["empty sheet" if lang.startswith("en") else "表格为空"])
    header = [str(h or "").strip() for h in rows[0]]
    saved, errors = 0, []
    for n, raw in enumerate(rows[1:2001], start=2):
        if not any(raw):
            continue
        rec = {h: v for h, v in zip(header, raw, strict=False) if h in XLSX_COLUMNS and v is not None}
        for h, v in zip(header, raw, strict=False):
            if h in YUAN_COLUMNS and v is not None:
                rec[YUAN_COLUMNS[h]] = _yuan_to_fen(v)
        rec["residential_utilities"] = str(rec.get("residential_utilities", "")).lower() in {
            "1",
            "true",
            "yes",
            "是",
        }
        try:
            for f in FIELDS:
                check_not_negative(f, rec.get(f))
            data = msgspec.convert(rec, CostIn, strict=False)
            await save_cost(actor, data, now=now)
            saved += 1
        except (msgspec.ValidationError, DomainError) as exc:
            msg = exc.message(lang) if isinstance(exc, DomainError) else str(exc)
            errors.append(f"row {n}: {msg}" if lang.startswith("en") else f"第{n}行：{msg}")
    return CostUploadResult(saved=saved, errors=errors)


async def _require_district(district_id: int) -> None:
    # An admin may reach any district id; an unknown one is a 404, not a foreign-key failure.
    if not await District.exists().where(District.id == district_id):
        raise DomainError("not_found", {"district_id": district_id})


async def set_budget(actor: Principal, data: BudgetIn, *, now: dt.datetime | None = None) -> BudgetView:
    """An official sets a funding source's budget for a year."""
    now = now or utcnow()
    if not actor.can_district(data.district_id):
        raise DomainError("forbidden", {"district_id": data.district_id})
    await _require_district(data.district_id)
    async with write_transaction():
        where = (
            (FundingBudget.district == data.district_id)
            & (FundingBudget.year == data.year)
            & (FundingBudget.source == data.source)
        )
        before = await FundingBudget.select().where(where).first()
        if before is None:
            await FundingBudget.insert(
                FundingBudget(
                    district=data.district_id,
                    year=data.year,
                    source=data.source,
                    budget_fen=data.budget_fen,
                    updated_at=now,
                )
            )
        else:
            await FundingBudget.update(
                {FundingBudget.budget_fen: data.budget_fen, FundingBudget.updated_at: now}
            ).where(where)
        await audit.record(
            actor,
            "budget.set",
            "funding_budget",
            f"{data.year}:{data.source}",
            before={"budget_fen": before["budget_fen"]} if before else None,
            after={"budget_fen": data.budget_fen},
            district_id=data.district_id,
            now=now,
        )
    return BudgetView(
        district_id=data.district_id, year=data.year, source=data.source, budget_fen=data.budget_fen
    )


async def add_rule(actor: Principal, data: RuleIn, *, now: dt.datetime | None = None) -> RuleView:
    """An official adds an operating subsidy rule for the district (or one point)."""
    now = now or utcnow()
    if not actor.can_district(data.district_id):
        raise DomainError("forbidden", {"district_id": data.district_id})
    await _require_district(data.district_id)
    if data.site_id is not None and not await Site.exists().where(
        (Site.id == data.site_id) & (Site.district == data.district_id)
    ):
        # A point of another district (or none) is unknown here, whoever asks.
        raise DomainError("not_found", {"site_id": data.site_id, "field": "site_id"})
    if data.effective_until is not None and data.effective_until < data.effective_from:
        raise DomainError("invalid_body", {"field": "effective_until", "reason": "before effective_from"})
    async with write_transaction():
        row = OperatingSubsidyRule(
            district=data.district_id,
            site=data.site_id,
            kind=data.kind,
            amount_fen=data.amount_fen,
            years=data.years,
            effective_from=data.effective_from,
            effective_until=data.effective_until,
            source=data.source,
            created_at=now,
        )
        await row.save()
        await audit.record(
            actor,
            "operating_rule.add",
            "operating_subsidy_rule",
            row.id,
            after=msgspec.to_builtins(data),
            district_id=data.district_id,
            now=now,
        )
    return RuleView(
        id=row.id,
        district_id=data.district_id,
        site_id=data.site_id,
        kind=data.kind,
        amount_fen=data.amount_fen,
        years=data.years,
        effective_from=data.effective_from,
        effective_until=data.effective_until,
        source=data.source,
    )


async def get_cost(actor: Principal, site_id: int, month: str) -> CostView | None:
    """One point's costs for a month (its operator, the district's officials, admins); None if not entered."""
    site = await Site.select(Site.id, Site.name, Site.district).where(Site.id == site_id).first()
    if site is None or not (
        actor.can_district(site["district"]) or site_id in actor.site_ids(OPERATOR) or actor.is_admin
    ):
        raise DomainError("not_found", {"site_id": site_id})
    row = (
        await SiteMonthCost.select()
        .where((SiteMonthCost.site == site_id) & (SiteMonthCost.month == month))
        .first()
    )
    return _view(row, site["name"]) if row else None


async def list_rules(actor: Principal, district_id: int) -> list[RuleView]:
    if not actor.can_district(district_id):
        raise DomainError("forbidden", {"district_id": district_id})
    rows = await OperatingSubsidyRule.select().where(OperatingSubsidyRule.district == district_id)
    return [
        RuleView(
            id=r["id"],
            district_id=r["district"],
            site_id=r["site"],
            kind=r["kind"],
            amount_fen=r["amount_fen"],
            years=r["years"],
            effective_from=r["effective_from"],
            effective_until=r["effective_until"],
            source=r["source"],
        )
        for r in rows
    ]


async def list_budgets(actor: Principal, district_id: int, year: int) -> list[BudgetView]:
    if not actor.can_district(district_id):
        raise DomainError("forbidden", {"district_id": district_id})
    rows = await FundingBudget.select().where(
        (FundingBudget.district == district_id) & (FundingBudget.year == year)
    )
    return [
        BudgetView(district_id=district_id, year=year, source=r["source"], budget_fen=r["budget_fen"])
        for r in rows
    ]


def cost_template_xlsx(*, unit: str = "fen") -> bytes:
    """An empty upload sheet: the header row ``XLSX_COLUMNS`` (amounts in fen), or with
    ``unit="yuan"`` the row ``XLSX_YUAN_COLUMNS`` (amounts in yuan, like the cost form)."""
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    # Machine column names (the upload reads them back) and amounts in fen: no money cells here.
    append_row(ws, XLSX_YUAN_COLUMNS if unit == "yuan" else XLSX_COLUMNS)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
