"""Accounting pages: operators enter monthly costs (form or XLSX); settlements with their state
buttons; the viability table of a district and month for officials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template

from canteen.accounting import costs, kpis, settlement
from canteen.accounting.exports import report_category_label, source_label
from canteen.accounting.schemas import CostIn, CostUploadResult, RuleIn
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CITY_OFFICIAL, OFFICIAL, OPERATOR
from canteen.core.clock import local_date, utcnow
from canteen.core.errors import DomainError
from canteen.core.periods import last_complete_month, month_bounds, month_of, shift
from canteen.core.schemas import PathId
from canteen.regions import services as regions
from canteen.regions.tables import District, Operator, Site
from canteen.settings import get_settings
from canteen.subsidies import services as subsidies
from canteen.subsidies.schemas import FUNDING_SOURCE_LABELS
from canteen.web.pages import page

Req = Request[Any, Any, Any]
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
OptMonth = Annotated[str | None, QueryParameter(max_length=7)]
OptId = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]
OptFlag = Annotated[int | None, QueryParameter(ge=0, le=1)]
Action = Annotated[str, PathParameter(pattern=r"^(submit|approve|pay)$", max_length=10)]
COST_INPUTS = (
    ("food_fen", "Food (or the kitchen's transfer price)"),
    ("labour_fen", "Labour"),
    ("rent_fen", "Rent"),
    ("utilities_fen", "Utilities"),
    ("depreciation_fen", "Equipment depreciation"),
    ("delivery_fen", "Delivery"),
    ("other_fen", "Other costs"),
    ("other_income_fen", "Other income"),
)
MAX_YUAN = Decimal("100000000")


def _this_month() -> str:
    return month_of(utcnow().astimezone(get_settings().tz).date())


def _month(value: str | None) -> str:
    return value if value and MONTH_RE.match(value) else _this_month()


def _fen(text: str) -> int | None:
    """'1234.5' yuan → 123450 fen; None when not a non-negative amount with at most 2 decimals."""
    text = (text or "").strip().replace(",", "") or "0"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    # is_signed: "-0" or "-0.00" meant a negative amount, never a zero.
    if value.is_signed() or value > MAX_YUAN or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


async def _own_sites(request: Req) -> list[dict[str, Any]]:
    actor = principal_of(request)
    q = Site.select(Site.id, Site.name, Site.district).where(Site.kind == "meal_point")
    if not actor.is_admin:
        ids = list(actor.site_ids(OPERATOR))
        if not ids:
            return []
        q = q.where(Site.id.is_in(ids))
    return await q.order_by(Site.name)


async def _cost_page(
    request: Req,
    site_id: int | None,
    month: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    upload: Any = None,
    status_code: int = 200,
) -> Template:
    sites = await _own_sites(request)
    site = next((s for s in sites if s["id"] == site_id), sites[0] if sites else None)
    if form is None:
        form = {}
        if site is not None:
            current = await costs.get_cost(principal_of(request), site["id"], month)
            if current is not None:
                form = {f: f"{getattr(current, f) / 100:.2f}" for f, _ in COST_INPUTS}
                form["residential_utilities"] = current.residential_utilities
    return page(
        request,
        "accounting/costs.html",
        status_code=status_code,
        sites=sites,
        site=site,
        month=month,
        form=form,
        errors=errors or {},
        saved=saved,
        upload=upload,
        inputs=COST_INPUTS,
    )


@get("/accounting/costs", guards=[roles(OPERATOR)], include_in_schema=False)
async def costs_page(
    request: Req, site_id: OptId = None, month: OptMonth = None, saved: OptId = None
) -> Template:
    return await _cost_page(request, site_id, _month(month), saved=bool(saved))


@post("/accounting/costs", guards=[roles(OPERATOR)], include_in_schema=False)
async def costs_submit(request: Req, data: URLEncodedBody[dict[str, str]]) -> Response[Any]:
    errors: dict[str, str] = {}
    month = data.get("month", "")
    if not MONTH_RE.match(month):
        errors["month"] = "Enter a month as YYYY-MM."
    try:
        site_id = int(data.get("site_id", ""))
    except ValueError:
        site_id = 0
        errors["site_id"] = "Choose a meal point."
    amounts: dict[str, int] = {}
    for name, _ in COST_INPUTS:
        fen = _fen(data.get(name, ""))
        if fen is None:
            errors[name] = "Enter an amount in yuan, e.g. 1234.50."
        else:
            amounts[name] = fen
    residential = data.get("residential_utilities") in ("on", "1", "true")
    if not errors:
        try:
            body = CostIn(site_id=site_id, month=month, residential_utilities=residential, **amounts)
            await costs.save_cost(principal_of(request), body)
            return Redirect(
                path=f"/accounting/costs?site_id={site_id}&month={month}&saved=1", status_code=303
            )
        except DomainError as err:
            errors["site_id"] = err.message(lang_of(request))
    form = {**data, "residential_utilities": residential}
    return await _cost_page(
        request, site_id or None, _month(month), form=form, errors=errors, status_code=400
    )


@dataclass
class UploadForm:
    file: UploadFile


@post("/accounting/costs/upload", guards=[roles(OPERATOR)], include_in_schema=False)
async def costs_upload(
    request: Req, data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]
) -> Template:
    content = await data.file.read()
    if len(content) > 5 * 1024 * 1024:
        raise DomainError("body_too_large")
    try:
        result = await costs.upload_costs_xlsx(principal_of(request), content, lang=lang_of(request))
    except DomainError as err:
        result = CostUploadResult(saved=0, errors=[err.message(lang_of(request))])
    return await _cost_page(request, None, _this_month(), upload=result)


@get("/accounting/costs/template.xlsx", guards=[roles(OPERATOR)], include_in_schema=False)
async def costs_template(request: Req) -> Response[bytes]:
    # In yuan, like the form on the same page (the API's template is in fen, like the API).
    return Response(
        costs.cost_template_xlsx(unit="yuan"),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="costs-template.xlsx"'},
    )


@get("/accounting/settlements", guards=[roles(OPERATOR, OFFICIAL, CITY_OFFICIAL)], include_in_schema=False)
async def settlements_page(request: Req, month: OptMonth = None) -> Template:
    actor = principal_of(request)
    rows = await settlement.list_statements(actor, month=month if month and MONTH_RE.match(month) else None)

    if actor.is_admin:
        ops = await Operator.select(Operator.id, Operator.name).order_by(Operator.name)
    else:
        districts = list(actor.district_ids(OFFICIAL) | actor.city_district_ids())
        own = [s["id"] for s in await _own_sites(request)]
        op_ids = {
            r["operator"]
            for r in await Site.select(Site.operator).where(
                Site.district.is_in(districts or [0]) | Site.id.is_in(own or [0])
            )
            if r["operator"]
        }
        ops = await Operator.select(Operator.id, Operator.name).where(Operator.id.is_in(list(op_ids) or [0]))
    served = await regions.served_districts([int(o["id"]) for o in ops])
    operators = [
        {"id": o["id"], "name": o["name"], "serves": [d.name for d in served.get(int(o["id"]), [])]}
        for o in ops
    ]
    draft_districts = await _draft_districts(actor, served)
    funders = await _funders([o["id"] for o in ops], lang_of(request))
    if not actor.is_admin and not actor.district_ids(OFFICIAL) and not actor.site_ids(OPERATOR):
        # A city official draws the statements of the city's own funder only.
        funders = [(code, label) for code, label in funders if code == settlement.CITY_SOURCE]
    return page(
        request,
        "accounting/settlements.html",
        rows=rows,
        operators=operators,
        districts=draft_districts,
        # An official drafts for their own district by default (the only one they settle).
        district_default=min(actor.district_ids(OFFICIAL), default=None),
        funders=funders,
        source_label=lambda code: source_label(code, lang_of(request)),
        month=shift(_this_month(), -1),
    )


async def _draft_districts(actor: Any, served: dict[int, list[Any]]) -> list[dict[str, Any]]:
    """The districts a statement can be drafted for here, by name: those the listed operators serve,
    kept to the official's own districts (or the city official's city) for officials."""
    by_id = {d.id: d.name for ds in served.values() for d in ds}
    if not actor.is_admin and not actor.site_ids(OPERATOR):
        mine = actor.district_ids(OFFICIAL) | actor.city_district_ids()
        by_id = {i: n for i, n in by_id.items() if i in mine}
        missing = sorted(set(actor.district_ids(OFFICIAL)) - set(by_id))
        if missing:
            rows = await District.select(District.id, District.name).where(District.id.is_in(missing))
            by_id.update({int(r["id"]): r["name"] for r in rows})
    return [{"id": i, "name": n} for i, n in sorted(by_id.items(), key=lambda kv: kv[0])]


async def _funders(operator_ids: list[int], lang: str) -> list[tuple[str, str]]:
    """The funding sources a statement can be drawn for: the payers of the policies in force in
    the operators' districts and of their operating-subsidy rules, each with its label."""
    districts = {
        r["district"]
        for r in await Site.select(Site.district).where(Site.operator.is_in(operator_ids or [0]))
    }
    today = local_date(utcnow(), get_settings().tz)
    found: list[str] = []
    for district_id in sorted(districts):
        policy = await subsidies.policy_for(district_id, today)
        found += [f.source for f in policy.funding] if policy is not None else []
        found += [str(r["source"]) for r in await kpis.district_rules(district_id)]
    codes = [c for c in FUNDING_SOURCE_LABELS if c in found] or list(FUNDING_SOURCE_LABELS)
    return [(c, source_label(c, lang)) for c in codes]


@post("/accounting/settlements", guards=[roles(OPERATOR, OFFICIAL, CITY_OFFICIAL)], include_in_schema=False)
async def settlement_draft(request: Req, data: URLEncodedBody[dict[str, str]]) -> Response[Any]:
    month = data.get("month", "")
    source = data.get("source", "").strip()
    if not MONTH_RE.match(month) or source not in FUNDING_SOURCE_LABELS:
        raise DomainError("validation_failed", {"field": "month" if not MONTH_RE.match(month) else "source"})
    try:
        operator_id = int(data.get("operator_id", ""))
    except ValueError as exc:
        raise DomainError("validation_failed", {"field": "operator_id"}) from exc
    period = data.get("period", "month")
    until = data.get("until", "").strip() or None
    if period not in ("month", "quarter", "range") or (until is not None and not MONTH_RE.match(until)):
        raise DomainError("validation_failed", {"field": "until" if until else "period"})
    district_text = data.get("district_id", "").strip()
    district_id = _int(district_text)
    if district_text and district_id is None:
        raise DomainError("validation_failed", {"field": "district_id"})
    first, last = settlement.period_of(month, period, until)
    view = await settlement.draft_statement(
        principal_of(request), operator_id, first, source, until=last, district_id=district_id
    )
    return Redirect(path=f"/accounting/settlements/{view.id}", status_code=303)


@get(
    "/accounting/settlements/{settlement_id:int}",
    guards=[roles(OPERATOR, OFFICIAL, CITY_OFFICIAL)],
    include_in_schema=False,
)
async def settlement_page(request: Req, settlement_id: PathId) -> Template:
    actor = principal_of(request)
    view = await settlement.get_statement(actor, settlement_id)
    return page(
        request,
        "accounting/settlement.html",
        s=view,
        **await _statement_labels(view, lang_of(request)),
        can_submit=view.state == "draft" and (actor.is_admin or bool(actor.site_ids(OPERATOR))),
        can_decide=settlement.settles(actor, view.district_id, view.source),
        error=request.query_params.get("error"),
    )


@post(
    "/accounting/settlements/{settlement_id:int}/{action:str}",
    guards=[roles(OPERATOR, OFFICIAL, CITY_OFFICIAL)],
    include_in_schema=False,
)
async def settlement_action(
    request: Req, settlement_id: PathId, action: Action, data: URLEncodedBody[dict[str, str]]
) -> Response[Any]:
    actor = principal_of(request)
    try:
        if action == "submit":
            await settlement.submit_statement(actor, settlement_id)
        elif action == "approve":
            await settlement.approve_statement(actor, settlement_id)
        elif action == "pay":
            reference = (data.get("reference") or "").strip()
            if not reference or len(reference) > 100:
                raise DomainError("validation_failed", {"field": "reference"})
            await settlement.pay_statement(actor, settlement_id, reference)
        else:
            raise DomainError("not_found", {"action": action[:20]})
    except DomainError as err:
        if err.code in ("not_found", "forbidden"):
            raise
        view = await settlement.get_statement(actor, settlement_id)
        return page(
            request,
            "accounting/settlement.html",
            status_code=409 if err.code != "validation_failed" else 400,
            s=view,
            **await _statement_labels(view, lang_of(request)),
            can_submit=view.state == "draft",
            can_decide=settlement.settles(actor, view.district_id, view.source),
            error=err.message(lang_of(request)),
        )
    return Redirect(path=f"/accounting/settlements/{settlement_id}", status_code=303)


async def _statement_labels(view: Any, lang: str) -> dict[str, Any]:
    """Words for a statement's codes: its funder, each line's category and tier (the policy in
    force at the start of the month names the tiers)."""
    policy = await subsidies.policy_for(view.district_id, month_bounds(view.month)[0])
    tiers = {t.code: (t.name_en if lang == "en" else t.name_zh) for t in (policy.tiers if policy else [])}
    return {
        "source_name": source_label(view.source, lang),
        "category_label": lambda code: report_category_label(code, lang),
        "tier_label": lambda code: tiers.get(code, code) if code else "",
    }


@get("/accounting/viability", guards=[roles(OFFICIAL)], include_in_schema=False)
async def viability_page(request: Req, district_id: OptId = None, month: OptMonth = None) -> Template:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if district_id is None:
        if not ids and actor.is_admin:
            first = await District.select(District.id).order_by(District.id).first()
            ids = [first["id"]] if first else []
        if not ids:
            raise DomainError("not_found", {"district_id": None})
        district_id = ids[0]
    m = _month(month) if month else last_complete_month(local_date(utcnow(), get_settings().tz))
    report = await kpis.viability_report(actor, district_id, m, lang=lang_of(request))
    return page(
        request,
        "accounting/viability.html",
        report=report,
        district_id=district_id,
        month=m,
        prev=shift(m, -1),
        next=shift(m, 1),
        today=local_date(utcnow(), get_settings().tz),
    )


@get("/accounting/viability/days", guards=[roles(OFFICIAL)], include_in_schema=False)
async def viability_days_page(
    request: Req, district_id: OptId = None, month: OptMonth = None, site_id: OptId = None
) -> Template:
    """One point's serving days: meals, income, its share of the month's costs and the margin."""
    actor = principal_of(request)
    district = _official_district(request, district_id)
    m = _month(month) if month else last_complete_month(local_date(utcnow(), get_settings().tz))
    sites = await (
        Site.select(Site.id, Site.name)
        .where((Site.district == district) & (Site.kind == "meal_point"))
        .order_by(Site.name)
    )
    chosen = next((s["id"] for s in sites if s["id"] == site_id), sites[0]["id"] if sites else None)
    view = await kpis.viability_days(actor, district, m, site_id=chosen) if chosen else None
    return page(
        request,
        "accounting/viability_days.html",
        district_id=district,
        month=m,
        prev=shift(m, -1),
        next=shift(m, 1),
        sites=sites,
        site_id=chosen,
        days=view.days if view else [],
        yuan=lambda fen: "" if fen is None else f"{fen / 100:.2f}",
    )


# The kinds of operating subsidy in words (English msgids; canteen.accounting.kpis.RULE_KINDS).
RULE_KIND_LABELS: dict[str, str] = {
    "per_meal": "Per subsidised meal",
    "per_diner_day": "Per elder served, per day",
    "monthly_per_open_point": "Per month the point serves",
    "construction_spread": "Construction grant, spread over years",
}


_RULE_DEFAULTS = {"kind": "per_meal", "source": "district", "years": "1"}


class RuleForm(msgspec.Struct):
    district_id: str = ""
    kind: str = ""
    amount: str = ""
    source: str = ""
    site_id: str = ""
    effective_from: str = ""
    effective_until: str = ""
    years: str = "1"


def _official_district(request: Req, district_id: int | None) -> int:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if district_id is None:
        if not ids:
            raise DomainError("not_found", {"district_id": None})
        return ids[0]
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    return district_id


async def _rules_page(
    request: Req,
    district_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Template:
    actor = principal_of(request)
    lang = lang_of(request)
    rules = await costs.list_rules(actor, district_id)
    sites = await (
        Site.select(Site.id, Site.name)
        .where((Site.district == district_id) & (Site.kind == "meal_point"))
        .order_by(Site.name)
    )
    names = {int(s["id"]): s["name"] for s in sites}
    return page(
        request,
        "accounting/operating_rules.html",
        status_code=status_code,
        district_id=district_id,
        rules=[
            {
                "kind": RULE_KIND_LABELS.get(r.kind, r.kind),
                "amount": f"{r.amount_fen / 100:.2f}",
                "source": source_label(r.source, lang),
                "site": names.get(r.site_id, "") if r.site_id else "",
                "months": (r.effective_from, r.effective_until),
                "years": r.years if r.kind == "construction_spread" else None,
            }
            for r in sorted(rules, key=lambda r: (r.effective_from, r.id))
        ],
        sites=sites,
        kinds=RULE_KIND_LABELS,
        sources=[(code, source_label(code, lang)) for code in FUNDING_SOURCE_LABELS],
        form=form
        or {"kind": "per_meal", "source": "district", "effective_from": _this_month(), "years": "1"},
        errors=errors or {},
        saved=saved,
    )


@get("/accounting/operating-rules", guards=[roles(OFFICIAL)], include_in_schema=False)
async def rules_page(request: Req, district_id: OptId = None, saved: OptFlag = None) -> Template:
    """The district's operating subsidies, in words, and a form to add one."""
    return await _rules_page(request, _official_district(request, district_id), saved=bool(saved))


@post("/accounting/operating-rules", guards=[roles(OFFICIAL)], include_in_schema=False)
async def rules_submit(request: Req, data: URLEncodedBody[RuleForm]) -> Response[Any]:
    district_id = _official_district(request, _int(data.district_id))
    form = msgspec.structs.asdict(data)
    errors: dict[str, str] = {}
    amount = _fen(data.amount)
    if amount is None or amount == 0:
        errors["amount"] = "Enter an amount in yuan, such as 3 or 2.50."
    if data.kind not in RULE_KIND_LABELS:
        errors["kind"] = "Choose what the subsidy pays for."
    if data.source not in FUNDING_SOURCE_LABELS:
        errors["source"] = "Choose who pays."
    if not MONTH_RE.match(data.effective_from.strip()):
        errors["effective_from"] = "Enter a month like 2026-01."
    until = data.effective_until.strip() or None
    if until is not None and (not MONTH_RE.match(until) or until < data.effective_from.strip()):
        errors["effective_until"] = "Enter a month like 2026-12, not before the first, or leave it empty."
    years = _int(data.years) or 0
    if not 1 <= years <= 50:
        errors["years"] = "Enter a whole number of years from 1 to 50."
    if errors:
        return await _rules_page(request, district_id, form=form, errors=errors, status_code=422)
    try:
        await costs.add_rule(
            principal_of(request),
            RuleIn(
                district_id=district_id,
                kind=data.kind,
                amount_fen=amount or 0,
                source=data.source,
                effective_from=data.effective_from.strip(),
                effective_until=until,
                years=years,
                site_id=_int(data.site_id),
            ),
        )
    except DomainError as err:
        if err.code != "not_found":
            raise
        errors["site_id"] = "Choose a meal point of this district, or none for all of them."
        return await _rules_page(request, district_id, form=form, errors=errors, status_code=422)
    return Redirect(path=f"/accounting/operating-rules?district_id={district_id}&saved=1")


def _int(text: str) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= 2_147_483_647 else None


PAGES = [
    viability_days_page,
    rules_page,
    rules_submit,
    costs_page,
    costs_submit,
    costs_upload,
    costs_template,
    settlements_page,
    settlement_draft,
    settlement_page,
    settlement_action,
    viability_page,
]
