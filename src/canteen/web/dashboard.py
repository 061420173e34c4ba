"""The district dashboard for officials: the month (grades, subsidies against budget, satisfaction),
coverage (the map and the next point) and the claim checks before settlement. Every table exports
to XLSX/CSV; every chart has its numbers in a table one click away."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template

from canteen import i18n
from canteen.accounting.exports import report_category_label as _category
from canteen.accounting.exports import source_label as _source
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CITY_OFFICIAL, OFFICIAL
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.core.periods import last_complete_month
from canteen.core.sheets import Money
from canteen.quality import jobs as quality_jobs
from canteen.quality import services as quality
from canteen.regions.schemas import DistrictUpdate
from canteen.regions.services import list_districts, update_district
from canteen.reports import services as reports
from canteen.reports.export import MEDIA_TYPES, export
from canteen.settings import get_settings
from canteen.web.pages import page

GUARDS = [roles(OFFICIAL)]
KIND_LABELS = {
    "two_points": "Same card at two points within 30 minutes",
    "over_limit": "More subsidised meals in a day than the policy allows",
    "outside_hours": "Meals recorded outside serving hours",
    "identical_counts": "Identical daily counts for many days running",
    "fast_scans": "Scans faster than a person can be served",
    "void_rate": "Void rate far above the district's",
    "over_capacity": "Meals above the point's capacity",
    "after_status": "Subsidised meals after death or a move",
    "category_expired": "Subsidised meals after category evidence expired",
    "after_status_end": "Meals after the civil-affairs list recorded a death, a move or a hospital stay",
}


STATUS_LABELS = {"open": "Not yet decided", "cleared": "Cleared", "upheld": "Upheld"}
# What each viability grade means (accounting.kpis grades them); shown beside the ranking.
GRADE_TEXT = {
    "A": "covers its costs, uses at least half its capacity and at most 70% of its income is public money",
    "B": "covers its costs, but uses under half its capacity or over 70% of its income is public money",
    "C": "does not cover its costs, but more diners within its capacity would",
    "D": "cannot cover its costs within its capacity: prices, costs or the location must change",
}


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


def _month(month: str) -> str:
    # The last complete month by default: the month under way is one day old on the 2nd.
    return month or last_complete_month(_today())


def _yuan(fen: int | None) -> str:
    return "" if fen is None else yuan(fen)


def _money(fen: int | None) -> Money | str:
    # A money cell: "12.30" on the page, a number formatted 0.00 in the XLSX export.
    return "" if fen is None else Money(fen)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@get("/official/dashboard", guards=GUARDS, include_in_schema=False)
async def dashboard_choose(request: Request[Any, Any, Any]) -> Response[Any]:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if len(ids) == 1:
        return Redirect(path=f"/official/districts/{ids[0]}/dashboard")
    districts = await list_districts(actor)
    return page(request, "dashboard/choose.html", districts=districts.items)


async def _month_data(request: Request[Any, Any, Any], district_id: int, month: str) -> dict[str, Any]:
    actor = principal_of(request)
    overview = await reports.month_overview(actor, district_id, month)
    year = int(month[:4])
    spend = await reports.spending(actor, district_id, year)
    return {"overview": overview, "spending": spend}


def _points_table(overview: Any, lang: str) -> tuple[list[str], list[list[Any]]]:
    headers = [
        "Meal point",
        "Grade",
        "Reasons",
        "Meals",
        "Subsidised meals",
        "Serving days",
        "Subsidy (yuan)",
        "Co-pay (yuan)",
        "Ratings",
        "Satisfaction (1-3)",
    ]
    rows = [
        [
            p.name,
            _grade(p.grade, lang),
            "; ".join(r.en if lang == "en" else r.zh for r in p.reasons),
            p.meals,
            p.subsidised,
            p.serving_days,
            _money(p.subsidy_fen),
            _money(p.copay_fen),
            p.satisfaction.ratings,
            _score(p.satisfaction.score),
        ]
        for p in overview.points
    ]
    return headers, rows


def _days_table(overview: Any) -> tuple[list[str], list[list[Any]]]:
    rows = [[d.day, d.meals, _money(d.subsidy_fen)] for d in overview.days]
    return ["Day", "Meals", "Subsidy (yuan)"], rows


def _spending_table(spend: Any, lang: str) -> tuple[list[str], list[list[Any]]]:
    headers = ["Funding source", "Budget (yuan)", "Spent (yuan)", "Share of budget"] + [
        f"{m:02d}" for m in range(1, 13)
    ]
    rows = []
    for s in getattr(spend, "sources", []) or []:
        share = s.share_of_budget
        rows.append(
            [
                _source(s.source, lang),
                _money(s.budget_fen),
                _money(s.spent_fen),
                "" if share is None else f"{share:.1%}",
            ]
            + [_money(v) for v in s.by_month]
        )
    return headers, rows


def _grade(grade: str | None, lang: str) -> str:
    # A–D are defined on the page (GRADE_TEXT); N means no costs or no meals: no grade is shown.
    return grade if grade in GRADE_TEXT else i18n.gettext(lang, "Not graded")


def _category_table(spend: Any, overview: Any, lang: str) -> tuple[list[str], list[list[Any]]]:
    # The chosen month only (the spending report holds the whole year).
    cells = [c for c in getattr(spend, "cells", None) or [] if c.month == overview.month]
    if cells:
        return ["Funding source", "Category", "Spent (yuan)"], [
            [_source(c.source, lang), _category(c.category, lang), _money(c.fen)] for c in cells
        ]
    return ["Category", "Subsidy (yuan)"], [
        [_category(k, lang), _money(v)] for k, v in overview.by_category.items()
    ]


@get("/official/districts/{district_id:int}/dashboard", guards=GUARDS, include_in_schema=False)
async def dashboard_month(
    request: Request[Any, Any, Any], district_id: FromPath[int], month: FromQuery[str] = ""
) -> Template:
    month = _month(month)
    data = await _month_data(request, district_id, month)
    overview, spend = data["overview"], data["spending"]
    lang = lang_of(request)
    ph, pr = _points_table(overview, lang)
    dh, dr = _days_table(overview)
    sh, sr = _spending_table(spend, lang)
    ch, cr = _category_table(spend, overview, lang)
    split = _split_away(overview.away, district_id)

    def t(msgid: str) -> str:
        return i18n.gettext(lang, msgid)

    charts = {
        "meals": {
            "type": "bar",
            "labels": [p.name for p in overview.points],
            "series": [{"label": t("Meals"), "data": [p.meals for p in overview.points]}],
        },
        "days": {
            "type": "line",
            "labels": [d.day[5:] for d in overview.days],
            "series": [{"label": t("Meals"), "data": [d.meals for d in overview.days]}],
        },
        "budget": {
            "type": "bar",
            "labels": [_source(s.source, lang) for s in getattr(spend, "sources", []) or []],
            "series": [
                {"label": t("Budget"), "data": [(s.budget_fen or 0) / 100 for s in spend.sources]},
                {"label": t("Spent"), "data": [s.spent_fen / 100 for s in spend.sources]},
            ]
            if spend is not None
            else [],
        },
        "satisfaction": {
            "type": "bar",
            "labels": [p.name for p in overview.points],
            "series": [
                {"label": t("Happy"), "data": [p.satisfaction.happy for p in overview.points]},
                {"label": t("Neutral"), "data": [p.satisfaction.neutral for p in overview.points]},
                {"label": t("Unhappy"), "data": [p.satisfaction.unhappy for p in overview.points]},
            ],
            "stacked": True,
        },
    }
    return page(
        request,
        "dashboard/month.html",
        overview=overview,
        spending=spend,
        month=month,
        district_id=district_id,
        points_table=(ph, pr),
        days_table=(dh, dr),
        spending_table=(sh, sr),
        category_table=(ch, cr),
        visitors_table=_away_rows(split["visitors"], "visitors", lang),
        away_table=_away_rows(split["away"], "away", lang),
        charts=charts,
        grades=GRADE_TEXT,
        yuan=_yuan,
        score=_score,
    )


@get("/official/districts/{district_id:int}/coverage", guards=GUARDS, include_in_schema=False)
async def coverage_page(
    request: Request[Any, Any, Any], district_id: FromPath[int], suggestion: FromQuery[str] = ""
) -> Template:
    """The coverage map; ``suggestion`` names the next-point run to show (else the latest)."""
    return await _coverage(request, district_id, suggestion_run=suggestion[:32] or None)


@post("/official/districts/{district_id:int}/coverage/next-point", guards=GUARDS, include_in_schema=False)
async def coverage_next_point(request: Request[Any, Any, Any], district_id: FromPath[int]) -> Response[Any]:
    """Queue the next-point suggestion and follow it on the progress page; its result links back."""
    run = await reports.start_next_point(principal_of(request), district_id, _today())
    return Redirect(path=f"/jobs/{run.id}", status_code=303)


async def _coverage(
    request: Request[Any, Any, Any],
    district_id: int,
    *,
    radius_error: str | None = None,
    radius_value: str | None = None,
    status_code: int = 200,
    suggestion_run: str | None = None,
) -> Template:
    view = await reports.coverage_report(
        principal_of(request), district_id, _today(), suggestion_run=suggestion_run
    )
    lang = lang_of(request)

    def t(msgid: str, **params: Any) -> str:
        return i18n.gettext(lang, msgid, **params)

    near = view.suggestion.near_community if view.suggestion else ""
    covers = view.suggestion.covers if view.suggestion else 0
    map_data = {
        "points": [
            {
                "name": p.name,
                "lat": p.lat,
                "lon": p.lon,
                "open": p.status == "open",
                # The circle on the map is straight-line metres: the walking radius over the detour.
                "radius_m": p.radius_m / view.detour_factor,
            }
            for p in view.points
            if p.lat or p.lon
        ],
        "communities": [
            {"name": c.name, "lat": c.lat, "lon": c.lon, "elders": c.elders, "uncovered": c.uncovered}
            for c in view.communities
            if c.lat or c.lon
        ],
        "suggestion": msgspec.to_builtins(view.suggestion) if view.suggestion else None,
        "radius_m": view.walk_limit_m / view.detour_factor,
        "words": {
            "zoom_in": t("Zoom in"),
            "zoom_out": t("Zoom out"),
            "suggestion": t("Suggested point near {community}: +{n} elders", community=near, n=covers),
        },
    }
    return page(
        request,
        "dashboard/coverage.html",
        status_code=status_code,
        view=view,
        district_id=district_id,
        map_data=map_data,
        coverage_table=_coverage_table(view),
        km=_km(view.walk_limit_m, lang),
        own_radius=[(p.name, _km(p.radius_m, lang)) for p in view.points if p.own_radius],
        radius_error=radius_error,
        radius_value=radius_value if radius_value is not None else str(view.walk_limit_m),
    )


def _km(metres: int, lang: str) -> str:
    """A walking distance for people: "1 公里" / "1.2 km", "800 米" / "800 m"."""
    if metres >= 1000:
        figure = f"{metres / 1000:.1f}".rstrip("0").rstrip(".")
        return i18n.gettext(lang, "{km} km", km=figure)
    return i18n.gettext(lang, "{m} m", m=metres)


class RadiusForm(msgspec.Struct):
    service_radius_m: str = ""


@post("/official/districts/{district_id:int}/coverage/radius", guards=GUARDS, include_in_schema=False)
async def coverage_radius(
    request: Request[Any, Any, Any], district_id: FromPath[int], data: URLEncodedBody[RadiusForm]
) -> Response[Any]:
    """The official sets the district's meal-circle radius; the page shows the new coverage."""
    text = data.service_radius_m.strip()[:6]
    metres = int(text) if text.isdigit() else 0
    if not 100 <= metres <= 5000:
        return await _coverage(
            request,
            district_id,
            radius_error="Type the walking distance in metres, from 100 to 5000.",
            radius_value=text,
            status_code=422,
        )
    await update_district(principal_of(request), district_id, DistrictUpdate(service_radius_m=metres))
    return Redirect(path=f"/official/districts/{district_id}/coverage")


def _coverage_table(view: Any) -> tuple[list[str], list[list[Any]]]:
    return ["Community", "Registered elders", "Eligible elders", "Uncovered eligible elders"], [
        [c.name, c.elders, c.eligible, c.uncovered] for c in view.communities
    ]


def _flags_table(flags: Any, lang: str) -> tuple[list[str], list[list[Any]]]:
    def t(labels: dict[str, str], code: str) -> str:
        return i18n.gettext(lang, labels[code]) if code in labels else code

    return ["Flag", "Kind of check", "Meal point", "Meals", "Detail", "Status", "Reason"], [
        [
            f.id,
            t(KIND_LABELS, f.kind),
            f.site_id or "",
            len(f.meal_ids),
            f.detail,
            t(STATUS_LABELS, f.status),
            f.reason,
        ]
        for f in flags.items
    ]


@get(
    "/official/districts/{district_id:int}/dashboard/export",
    # Each table checks its own scope: a city official may export the inter-district statement.
    guards=[roles(OFFICIAL, CITY_OFFICIAL)],
    include_in_schema=False,
)
async def dashboard_export(
    request: Request[Any, Any, Any],
    district_id: FromPath[int],
    table: FromQuery[str] = "points",
    fmt: FromQuery[str] = "xlsx",
    month: FromQuery[str] = "",
) -> Response[bytes]:
    month = _month(month)
    actor = principal_of(request)
    if fmt not in MEDIA_TYPES:
        raise DomainError("export_format", {"format": fmt})
    if table == "coverage":
        headers, rows = _coverage_table(await reports.coverage_report(actor, district_id, _today()))
    elif table == "flags":
        headers, rows = _flags_table(await quality.list_flags(actor, district_id, month), lang_of(request))
    elif table in ("visitors", "away"):
        view = await reports.inter_district_statement(actor, district_id, month, today=_today())
        headers, rows = _away_table(view, table, lang_of(request))
    elif table in ("points", "days", "spending", "categories"):
        data = await _month_data(request, district_id, month)
        if table == "points":
            headers, rows = _points_table(data["overview"], lang_of(request))
        elif table == "days":
            headers, rows = _days_table(data["overview"])
        elif table == "spending":
            headers, rows = _spending_table(data["spending"], lang_of(request))
        else:
            headers, rows = _category_table(data["spending"], data["overview"], lang_of(request))
    else:
        raise DomainError("not_found", {"table": table})
    lang = lang_of(request)
    body = export(rows, headers, fmt, title=table, lang=lang)
    name = f"{table}-{district_id}-{month}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _split_away(lines: list[Any], district_id: int) -> dict[str, list[Any]]:
    return {
        "visitors": [li for li in lines if li.host_district_id == district_id],
        "away": [li for li in lines if li.home_district_id == district_id],
    }


def _away_rows(lines: list[Any], which: str, lang: str) -> tuple[list[str], list[list[Any]]]:
    """Meals across districts (补贴跟着人走), one row per home district × point: ``visitors`` are
    other districts' residents served at this district's points (their home owes it), ``away``
    this district's residents served elsewhere (it owes the host)."""
    headers = [
        "Home district" if which == "visitors" else "Host district",
        "Meal point",
        "Meals",
        "Subsidised meals",
        "Subsidy (yuan)",
        "By funding source (yuan)",
        "Delivery subsidy (yuan)",
        "Owed between districts (yuan)",
    ]
    rows = [
        [
            li.home_district_name if which == "visitors" else li.host_district_name,
            li.site_name,
            li.meals,
            li.subsidised,
            _money(li.subsidy_fen),
            " · ".join(f"{_source(src, lang)} {yuan(fen)}" for src, fen in li.by_source.items()),
            _money(li.delivery_subsidy_fen),
            _money(li.owed_fen),
        ]
        for li in lines
    ]
    return headers, rows


def _away_table(view: Any, which: str, lang: str) -> tuple[list[str], list[list[Any]]]:
    return _away_rows(view.visitors if which == "visitors" else view.residents_away, which, lang)


@get(
    "/official/districts/{district_id:int}/inter-district",
    guards=[roles(OFFICIAL, CITY_OFFICIAL)],
    include_in_schema=False,
)
async def inter_district_page(
    request: Request[Any, Any, Any], district_id: FromPath[int], month: FromQuery[str] = ""
) -> Template:
    """The month's inter-district statement: what this district's residents ate elsewhere (it owes
    the hosts) and what other districts' residents ate here (their home districts owe it)."""
    month = _month(month)
    view = await reports.inter_district_statement(principal_of(request), district_id, month, today=_today())
    lang = lang_of(request)
    return page(
        request,
        "dashboard/inter_district.html",
        view=view,
        month=month,
        district_id=district_id,
        visitors_table=_away_table(view, "visitors", lang),
        away_table=_away_table(view, "away", lang),
        city_wide=" · ".join(_source(s, lang) for s in view.city_wide_sources),
        yuan=_yuan,
    )


@get("/official/districts/{district_id:int}/claims", guards=GUARDS, include_in_schema=False)
async def claims_page(
    request: Request[Any, Any, Any],
    district_id: FromPath[int],
    month: FromQuery[str] = "",
    kind: FromQuery[str] = "",
) -> Template:
    return await _claims_page(request, district_id, _month(month[:7]), kind[:30])


CLAIMS_SHOWN = 1000  # rows on the page; the kind filter and "all open flags of this kind" reach the rest


async def _claims_page(
    request: Request[Any, Any, Any],
    district_id: int,
    month: str,
    kind: str = "",
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    reason: str = "",
) -> Template:
    actor = principal_of(request)
    flags = await quality.list_flags(
        actor, district_id, month, kind=kind if kind in KIND_LABELS else None, limit=CLAIMS_SHOWN
    )
    return page(
        request,
        "dashboard/claims.html",
        status_code=status_code,
        flags=flags,
        month=month,
        kind=kind,
        district_id=district_id,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        thresholds=await quality.claim_settings(actor, district_id),
        bounds=quality.BOUNDS,
        shown=CLAIMS_SHOWN,
        errors=errors or {},
        reason=reason,
    )


class RunForm(msgspec.Struct):
    month: str = ""


@post("/official/districts/{district_id:int}/claims/run", guards=GUARDS, include_in_schema=False)
async def claims_run(
    request: Request[Any, Any, Any], district_id: FromPath[int], data: URLEncodedBody[RunForm]
) -> Response[Any]:
    """Queue the month's claim checks and show their progress (the result links back here)."""
    month = _month(data.month[:7])
    run = await quality_jobs.start_claim_checks(principal_of(request), district_id, month)
    return Redirect(path=f"/jobs/{run.id}", status_code=303)


@post("/official/districts/{district_id:int}/claims/settings", guards=GUARDS, include_in_schema=False)
async def claims_settings(request: Request[Any, Any, Any], district_id: FromPath[int]) -> Response[Any]:
    """The district's claim-check thresholds, from the form on the claim-check page."""
    form = await request.form()
    month = _month(str(form.get("month") or "")[:7])
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    lang = lang_of(request)
    for name in quality.BOUNDS:
        raw = str(form.get(name) or "").strip()
        if raw.isdigit() and len(raw) <= 6:
            values[name] = int(raw)
        elif raw:
            errors[name] = i18n.gettext(lang, "error.threshold_out_of_range")
    if not errors:
        try:
            await quality.update_claim_settings(principal_of(request), district_id, values)
        except DomainError as err:
            if err.code != "threshold_out_of_range":
                raise
            errors[str(err.detail.get("field"))] = err.message(lang)
    if errors:
        return await _claims_page(request, district_id, month, status_code=422, errors=errors)
    return Redirect(path=f"/official/districts/{district_id}/claims?month={month}", status_code=303)


@post("/official/districts/{district_id:int}/claims/review", guards=GUARDS, include_in_schema=False)
async def claims_review(request: Request[Any, Any, Any], district_id: FromPath[int]) -> Response[Any]:
    """One decision with one reason for the ticked flags, or for every open flag of one kind."""
    form = await request.form()
    month = _month(str(form.get("month") or "")[:7])
    kind = str(form.get("kind") or "")[:30]
    reason = str(form.get("reason") or "")[:500]
    ids = [
        int(v)
        for v in (form.getall("flag_ids") if "flag_ids" in form else [])
        if str(v).isdigit() and len(str(v)) <= 10
    ][: quality.MAX_REVIEW]
    every = str(form.get("all_of_kind") or "")[:30]
    if every in KIND_LABELS:
        ids = sorted(set(ids) | set(await quality.open_flag_ids(district_id, month, every)))[
            : quality.MAX_REVIEW
        ]
    actor = principal_of(request)
    lang = lang_of(request)
    try:
        if not ids:
            raise DomainError("invalid_body", {"field": "flag_ids"})
        await quality.review_flags(actor, district_id, ids, str(form.get("decision") or ""), reason)
    except DomainError as err:
        if err.code not in ("reason_required", "flag_decided", "invalid_body", "too_many_flags"):
            raise
        field = "reason" if err.code == "reason_required" else "flag_ids"
        message = (
            i18n.gettext(lang, "Tick the flags to decide, or choose all open flags of one kind.")
            if err.code == "invalid_body"
            else err.message(lang)
        )
        return await _claims_page(
            request, district_id, month, kind, status_code=err.status, errors={field: message}, reason=reason
        )
    suffix = f"&kind={kind}" if kind in KIND_LABELS else ""
    return Redirect(path=f"/official/districts/{district_id}/claims?month={month}{suffix}", status_code=303)


@get("/official/claim-flags/{flag_id:int}", guards=GUARDS, include_in_schema=False)
async def flag_page(request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Template:
    data = await quality.flag_meals(principal_of(request), flag_id)
    return page(
        request,
        "dashboard/flag.html",
        data=data,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        yuan=_yuan,
        error=None,
        reason="",
    )


class DecisionForm(msgspec.Struct):
    decision: str = ""
    reason: str = ""


@post("/official/claim-flags/{flag_id:int}/decision", guards=GUARDS, include_in_schema=False)
async def flag_decide(
    request: Request[Any, Any, Any], flag_id: FromPath[int], data: URLEncodedBody[DecisionForm]
) -> Response[Any]:
    actor = principal_of(request)
    try:
        flag = await quality.decide_flag(actor, flag_id, data.decision, data.reason[:500])
    except DomainError as err:
        if err.code not in ("reason_required", "flag_decided", "invalid_body"):
            raise
        found = await quality.flag_meals(actor, flag_id)
        return page(
            request,
            "dashboard/flag.html",
            status_code=err.status,
            data=found,
            kinds=KIND_LABELS,
            statuses=STATUS_LABELS,
            yuan=_yuan,
            error=err.message(lang_of(request)),
            reason=data.reason[:500],
        )
    return Redirect(path=f"/official/districts/{flag.district_id}/claims?month={flag.month}")


PAGES = [
    dashboard_choose,
    dashboard_month,
    coverage_page,
    coverage_next_point,
    coverage_radius,
    dashboard_export,
    inter_district_page,
    claims_page,
    claims_run,
    claims_settings,
    claims_review,
    flag_page,
    flag_decide,
]
