"""Accounting over JSON: monthly costs, operating rules and budgets, viability, spending, settlements.

Exports of a report or statement are the same route with ``?format=xlsx|csv`` (statements also pdf).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, PathParameter, QueryParameter

import canteen.quality.services  # noqa: F401 - registers claim_flags_open for the docs
from canteen.accounting import costs, exports, kpis, settlement
from canteen.accounting.schemas import (
    BudgetIn,
    BudgetView,
    CostIn,
    CostUploadResult,
    CostView,
    DraftIn,
    Fen,
    PayIn,
    RuleIn,
    RuleView,
    SettlementSummary,
    SettlementView,
    SpendingReport,
    ViabilityDays,
    ViabilityReport,
)
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CITY_OFFICIAL, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.core.errors import DomainError
from canteen.core.periods import MONTH_PATTERN
from canteen.core.schemas import Input, PathId
from canteen.meals import rollups

Req = Request[Any, Any, Any]
MONTH_RE = MONTH_PATTERN
MonthPath = Annotated[str, PathParameter(pattern=MONTH_RE, max_length=7)]
MonthQuery = Annotated[str, QueryParameter(pattern=MONTH_RE, max_length=7)]
OptMonthQuery = Annotated[str | None, QueryParameter(pattern=MONTH_RE, max_length=7)]
YearQuery = Annotated[int, QueryParameter(ge=2000, le=2100)]
OptSiteQuery = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]
ReportFormat = Annotated[Literal["json", "xlsx", "csv"], QueryParameter(name="format")]
StatementFormat = Annotated[Literal["xlsx", "pdf", "csv"], QueryParameter(name="format")]
StateQuery = Annotated[
    str | None, QueryParameter(name="state", pattern=r"^(draft|submitted|approved|paid)$", max_length=10)
]
OptDistrict = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_REBUILD_DAYS = 400


def _file(content: bytes | str, media_type: str, name: str) -> Response[bytes]:
    body = content.encode("utf-8-sig") if isinstance(content, str) else content
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class CostBody(Input):
    """A month's costs of the point in the path (fen)."""

    food_fen: Fen = 0
    labour_fen: Fen = 0
    rent_fen: Fen = 0
    utilities_fen: Fen = 0
    depreciation_fen: Fen = 0
    delivery_fen: Fen = 0
    other_fen: Fen = 0
    other_income_fen: Fen = 0
    residential_utilities: bool = False


@dataclass
class CostUpload:
    file: UploadFile


Multipart = Annotated[CostUpload, Body(media_type=RequestEncodingType.MULTI_PART)]
MAX_UPLOAD = 5 * 1024 * 1024


class RebuildIn(Input):
    start: dt.date
    end: dt.date


class RebuildOut(msgspec.Struct, kw_only=True):
    days: int
    rows: int


class CostController(Controller):
    path = "/api/v1"
    tags = ["accounting"]
    guards = [roles(OPERATOR, OFFICIAL)]

    @get(
        "/sites/{site_id:int}/costs/{month:str}",
        summary="A point's costs for one month",
        responses=errors("not_found"),
    )
    async def get_cost(self, request: Req, site_id: PathId, month: MonthPath) -> CostView:
        view = await costs.get_cost(principal_of(request), site_id, month)
        if view is None:
            raise DomainError("not_found", {"site_id": site_id, "month": month})
        return view

    @put(
        "/sites/{site_id:int}/costs/{month:str}",
        summary="Enter or replace a point's costs for one month (its operator)",
        responses=errors("not_found"),
    )
    async def put_cost(
        self, request: Req, site_id: PathId, month: MonthPath, data: JSONBody[CostBody]
    ) -> CostView:
        body = CostIn(site_id=site_id, month=month, **msgspec.structs.asdict(data))
        return await costs.save_cost(principal_of(request), body)

    @post(
        "/costs/upload",
        summary="Upload monthly costs as XLSX (header row: the template's columns, amounts in fen)",
        responses=errors("not_found", "unsupported_media_type"),
        status_code=200,
    )
    async def upload(self, request: Req, data: Multipart) -> CostUploadResult:
        content = await data.file.read()
        if len(content) > MAX_UPLOAD:
            raise DomainError("body_too_large")
        return await costs.upload_costs_xlsx(principal_of(request), content, lang=lang_of(request))

    @get("/costs/template.xlsx", summary="The empty XLSX upload template", responses=errors())
    async def template(self) -> Response[bytes]:
        return _file(costs.cost_template_xlsx(), XLSX, "costs-template.xlsx")


class PolicyController(Controller):
    """Operating subsidy rules and funding budgets: set by the district's officials."""

    path = "/api/v1"
    tags = ["accounting"]
    guards = [roles(OFFICIAL)]

    @get(
        "/districts/{district_id:int}/operating-rules", summary="Operating subsidy rules", responses=errors()
    )
    async def rules(self, request: Req, district_id: PathId) -> list[RuleView]:
        return await costs.list_rules(principal_of(request), district_id)

    @post("/operating-rules", summary="Add an operating subsidy rule", responses=errors("not_found"))
    async def add_rule(self, request: Req, data: JSONBody[RuleIn]) -> RuleView:
        return await costs.add_rule(principal_of(request), data)

    @get("/districts/{district_id:int}/budgets", summary="Funding budgets of a year", responses=errors())
    async def budgets(self, request: Req, district_id: PathId, year: YearQuery) -> list[BudgetView]:
        return await costs.list_budgets(principal_of(request), district_id, year)

    @put("/budgets", summary="Set a funding source's budget for a year", responses=errors("not_found"))
    async def set_budget(self, request: Req, data: JSONBody[BudgetIn]) -> BudgetView:
        return await costs.set_budget(principal_of(request), data)

    @post(
        "/districts/{district_id:int}/rollups/rebuild",
        summary="Rebuild the daily and monthly rollups of a date range from the meals (idempotent)",
        responses=errors("not_found"),
        status_code=200,
    )
    async def rebuild(self, request: Req, district_id: PathId, data: JSONBody[RebuildIn]) -> RebuildOut:
        if not principal_of(request).can_district(district_id):
            raise DomainError("forbidden", {"district_id": district_id})
        days = (data.end - data.start).days + 1
        if not 1 <= days <= MAX_REBUILD_DAYS:
            raise DomainError("validation_failed", {"field": "end", "max_days": MAX_REBUILD_DAYS})
        rows = await rollups.rollup_range(district_id, data.start, data.end)
        return RebuildOut(days=days, rows=rows)


class ReportController(Controller):
    path = "/api/v1"
    tags = ["accounting"]

    @get(
        "/districts/{district_id:int}/viability",
        summary="Every point's KPIs and grade for a month (?format=xlsx|csv to export)",
        guards=[roles(OFFICIAL, OPERATOR)],
        responses=errors(),
        media_type="application/json",
    )
    async def viability(
        self, request: Req, district_id: PathId, month: MonthQuery, fmt: ReportFormat = "json"
    ) -> Response[Any]:
        lang = lang_of(request)
        report = await kpis.viability_report(principal_of(request), district_id, month, lang=lang)
        name = f"viability-{district_id}-{month}"
        if fmt == "xlsx":
            return _file(exports.viability_xlsx(report, lang), XLSX, f"{name}.xlsx")
        if fmt == "csv":
            return _file(exports.viability_csv(report, lang), "text/csv", f"{name}.csv")
        return Response(msgspec.to_builtins(report))

    @get(
        "/districts/{district_id:int}/viability/days",
        summary="Viability by day: each point's serving days with meals, income and cost share",
        description="The month's fixed operating subsidies, other income and fixed costs are spread "
        "evenly over the serving days, the variable costs (food, delivery) by each day's meals, so a "
        "point's days add up to its row of `/viability` to the fen. `cost_fen` and `margin_fen` are null "
        "until the operator enters the month's costs.",
        guards=[roles(OFFICIAL, OPERATOR)],
        responses=errors("not_found"),
    )
    async def viability_days(
        self, request: Req, district_id: PathId, month: MonthQuery, site_id: OptSiteQuery = None
    ) -> ViabilityDays:
        return await kpis.viability_days(principal_of(request), district_id, month, site_id=site_id)

    @get(
        "/districts/{district_id:int}/spending",
        summary="Subsidy spending of a year against each funding source's budget (?format=xlsx|csv)",
        guards=[roles(OFFICIAL)],
        responses=errors(),
        media_type="application/json",
    )
    async def spending(
        self, request: Req, district_id: PathId, year: YearQuery, fmt: ReportFormat = "json"
    ) -> Response[Any]:
        lang = lang_of(request)
        report = await kpis.spending_vs_budget(principal_of(request), district_id, year)
        name = f"spending-{district_id}-{year}"
        if fmt == "xlsx":
            return _file(exports.spending_xlsx(report, lang), XLSX, f"{name}.xlsx")
        if fmt == "csv":
            return _file(exports.spending_csv(report, lang), "text/csv", f"{name}.csv")
        return Response(msgspec.to_builtins(report))


# For the OpenAPI schema: the JSON shapes of the two reports.
REPORT_SCHEMAS = (ViabilityReport, SpendingReport)


class SettlementController(Controller):
    path = "/api/v1/settlements"
    tags = ["accounting"]
    guards = [roles(OFFICIAL, CITY_OFFICIAL, OPERATOR)]

    @get("/", summary="Statements this user may see, newest month first", responses=errors())
    async def list_(
        self,
        request: Req,
        district_id: OptDistrict = None,
        month: OptMonthQuery = None,
        wanted_state: StateQuery = None,
    ) -> list[SettlementSummary]:
        return await settlement.list_statements(
            principal_of(request), district_id=district_id, month=month, state=wanted_state
        )

    @post(
        "/",
        summary="Draft (or redraft) an operator's statement for a district and funder: a month, a "
        "quarter or months",
        description="`period`: `month` (default), `quarter` (the calendar quarter of `month`) or `range` "
        "(`month` to `until`, whole months, at most twelve). Lines name their month and `by_month` gives "
        'each month\'s subtotal. Example: `{"operator_id": 1, "month": "2026-08", "source": '
        '"district", "period": "quarter"}` → July to September.\n\n'
        "`district_id`: an operator may run sites in several districts of its city; each district "
        "settles its own sites (their meals, its operating-subsidy rules, voids of its meals), so a "
        "statement is per operator, district and funder. Omitted, the operator's home district. A "
        "district official drafts for their own district only; a city official the city funder "
        "(`city`) in any district of the city. Example: "
        '`{"operator_id": 1, "district_id": 2, "month": "2026-08", "source": "district"}`.',
        responses=errors(
            "not_found",
            "settlement_locked",
            "settlement_overlap",
            "settlement_period_invalid",
            "settlement_district_invalid",
        ),
    )
    async def draft(self, request: Req, data: JSONBody[DraftIn]) -> SettlementView:
        first, until = settlement.period_of(data.month, data.period, data.until)
        return await settlement.draft_statement(
            principal_of(request),
            data.operator_id,
            first,
            data.source,
            until=until,
            district_id=data.district_id,
        )

    @get("/{settlement_id:int}", summary="One statement with its lines", responses=errors("not_found"))
    async def detail(self, request: Req, settlement_id: PathId) -> SettlementView:
        return await settlement.get_statement(principal_of(request), settlement_id)

    @get(
        "/{settlement_id:int}/export",
        summary="A statement as XLSX, PDF or CSV",
        responses=errors("not_found"),
        media_type=XLSX,
    )
    async def export(self, request: Req, settlement_id: PathId, fmt: StatementFormat) -> Response[bytes]:
        view = await settlement.get_statement(principal_of(request), settlement_id)
        lang = lang_of(request)
        name = f"statement-{view.id}-{view.month}-{view.source}"
        if fmt == "pdf":
            return _file(exports.statement_pdf(view, lang), "application/pdf", f"{name}.pdf")
        if fmt == "csv":
            return _file(exports.statement_csv(view, lang), "text/csv", f"{name}.csv")
        return _file(exports.statement_xlsx(view, lang), XLSX, f"{name}.xlsx")

    @post(
        "/{settlement_id:int}/submit",
        summary="The operator submits a draft",
        responses=errors("not_found", "settlement_state", "conflict"),
        status_code=200,
    )
    async def submit(self, request: Req, settlement_id: PathId) -> SettlementView:
        return await settlement.submit_statement(principal_of(request), settlement_id)

    @post(
        "/{settlement_id:int}/approve",
        summary="An official approves a submitted statement (locks it; claim flags must be resolved)",
        responses=errors("not_found", "settlement_state", "conflict", "claim_flags_open"),
        status_code=200,
    )
    async def approve(self, request: Req, settlement_id: PathId) -> SettlementView:
        return await settlement.approve_statement(principal_of(request), settlement_id)

    @post(
        "/{settlement_id:int}/pay",
        summary="An official records the payment of an approved statement with its reference",
        responses=errors("not_found", "settlement_state", "conflict"),
        status_code=200,
    )
    async def pay(self, request: Req, settlement_id: PathId, data: JSONBody[PayIn]) -> SettlementView:
        return await settlement.pay_statement(principal_of(request), settlement_id, data.reference)


CONTROLLERS = [CostController, PolicyController, ReportController, SettlementController]
