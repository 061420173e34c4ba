"""Welfare visit pages: the visit plan a community worker or volunteer works from on a phone
(one tap + a note records a visit), the district's coverage per community and its visit rules for
officials, and a volunteer's own hours."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from babel.dates import format_skeleton
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template

from canteen import i18n
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import COMMUNITY_WORKER, OFFICIAL, VOLUNTEER
from canteen.care import visits
from canteen.care.visits import VisitIn, VisitRuleIn, VisitRuleUpdate
from canteen.core.categories import CATEGORY_LABELS, category_label
from canteen.core.errors import DomainError
from canteen.web.delivery_words import words
from canteen.web.pages import page

Req = Request[Any, Any, Any]
VISITOR_GUARDS = [roles(OFFICIAL, COMMUNITY_WORKER, VOLUNTEER)]
OFFICIAL_GUARDS = [roles(OFFICIAL)]
OptId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None

# Plan statuses in words (the data keeps the codes).
STATUS_WORDS = {
    "overdue": "visit.status.overdue",
    "due": "visit.status.due",
    "ok": "visit.status.ok",
    "pending": "visit.status.pending",
}
ROLE_WORDS = {
    "courier": "visit.by.courier",
    "community_worker": "visit.by.community_worker",
    "volunteer": "visit.by.volunteer",
    "official": "visit.by.official",
}


def _words(lang: str) -> dict[str, Any]:
    base = words(lang)
    return {
        "welfare_words": base["welfare_words"],
        "status_words": lambda c: i18n.gettext(lang, STATUS_WORDS.get(c, "delivery.unknown")),
        "role_words": lambda c: i18n.gettext(lang, ROLE_WORDS.get(c, "delivery.unknown")),
        "category_words": lambda codes: "、".join(category_label(c, lang) for c in codes or []),
        "CATEGORY_LABELS": {c: category_label(c, lang) for c in CATEGORY_LABELS},
        "month_words": lambda ym: format_skeleton(
            "yMMMM", dt.date.fromisoformat(f"{ym}-01"), locale="en" if lang == "en" else "zh_CN"
        ),
    }


async def profile_visits(actor: Any, elder_id: int, lang: str) -> dict[str, Any] | None:
    """The elder profile's visits section (None for a reader outside the elder's communities)."""
    try:
        items = await visits.elder_visits(actor, elder_id, limit=10)
    except DomainError as err:
        if err.code in ("forbidden", "not_found"):
            return None
        raise
    w = _words(lang)
    return {"items": items, "role": w["role_words"], "level": w["welfare_words"]}


def _page(request: Req, template: str, status_code: int = 200, **context: Any) -> Template:
    return page(request, template, status_code, **_words(lang_of(request)), **context)


def _error(request: Req, err: DomainError) -> dict[str, str]:
    """The refusal as words next to the field it names (``_form`` when it names none)."""
    field = str(err.detail.get("field") or "_form")
    return {field: err.message(lang_of(request))}


# ------------------------------------------------------------------------ the plan


class VisitForm(msgspec.Struct):
    level: Annotated[str, msgspec.Meta(max_length=12)] = ""
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
    minutes: Annotated[str, msgspec.Meta(max_length=4)] = ""
    community_id: Annotated[str, msgspec.Meta(max_length=12)] = ""


async def _plan_page(
    request: Req,
    district_id: int | None,
    community_id: int | None,
    *,
    status_code: int = 200,
    done: int | None = None,
    errors: dict[str, str] | None = None,
    failed: int | None = None,
) -> Template:
    actor = principal_of(request)
    districts = await visits.visit_districts(actor)
    if district_id is None:
        if not districts:
            raise DomainError("not_found", {"district_id": None})
        district_id = districts[0][0]
    plan = await visits.visit_plan(actor, district_id, community_id=community_id)
    communities = sorted({(p.community_id, p.community_name) for p in plan.items}, key=lambda c: c[1])
    return _page(
        request,
        "care/visits_plan.html",
        status_code,
        plan=plan,
        districts=districts,
        district_id=district_id,
        community_id=community_id,
        communities=communities,
        done=done,
        errors=errors or {},
        failed=failed,
    )


@get("/care/plan", guards=VISITOR_GUARDS, include_in_schema=False)
async def plan_page(
    request: Req,
    district_id: FromQuery[OptId] = None,
    community_id: FromQuery[OptId] = None,
    done: FromQuery[OptId] = None,
) -> Template:
    return await _plan_page(request, district_id, community_id, done=done)


@post("/care/elders/{elder_id:int}/visits", guards=VISITOR_GUARDS, include_in_schema=False)
async def record_form(
    request: Req, elder_id: FromPath[int], data: URLEncodedBody[VisitForm]
) -> Response[Any]:
    actor = principal_of(request)
    community = int(data.community_id) if data.community_id.isdigit() else None
    try:
        if data.level not in ("fine", "attention", "urgent"):
            raise DomainError("validation_failed", {"field": "level"})
        minutes = data.minutes.strip()
        if minutes and (not minutes.isdigit() or int(minutes) > 600):
            raise DomainError("validation_failed", {"field": "minutes"})
        level: Any = data.level
        view = await visits.record_visit(
            actor, elder_id, VisitIn(level=level, note=data.note.strip(), minutes=int(minutes or 0))
        )
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _plan_page(
            request, None, community, status_code=err.status, errors=_error(request, err), failed=elder_id
        )
    query = f"?done={view.elder_id}" + (f"&community_id={community}" if community else "")
    return Redirect(path=f"/care/plan{query}")


@get("/care/hours", guards=VISITOR_GUARDS, include_in_schema=False)
async def hours_page(request: Req) -> Template:
    data = await visits.volunteer_hours(principal_of(request))
    return _page(request, "care/visits_hours.html", hours=data)


# ------------------------------------------------------------------------ officials


@get("/care/coverage", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def coverage_choose(request: Req) -> Response[Any]:
    actor = principal_of(request)
    districts = await visits.visit_districts(actor)
    if len(districts) == 1:
        return Redirect(path=f"/care/districts/{districts[0][0]}/coverage")
    return _page(request, "care/visits_choose.html", districts=districts)


@get("/care/districts/{district_id:int}/coverage", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def coverage_page(
    request: Req, district_id: FromPath[int], on: FromQuery[dt.date | None] = None
) -> Template:
    data = await visits.visit_coverage(principal_of(request), district_id, on=on)
    return _page(request, "care/visits_coverage.html", cov=data)


class RuleForm(msgspec.Struct):
    name: str = ""
    every_days: str = ""
    categories: list[str] = []
    alone: str = ""
    min_age: str = ""
    active: str = ""
    version: str = ""


async def _read_rule_form(request: Req) -> RuleForm:
    """The rule form as posted (checkboxes repeat ``categories``), every value cut to its bound."""
    form = await request.form()

    def one(key: str, n: int) -> str:
        return str(form.get(key) or "")[:n]

    cats = [str(v)[:30] for v in form.getall("categories")][:20] if "categories" in form else []
    return RuleForm(
        name=one("name", 60),
        every_days=one("every_days", 4),
        categories=cats,
        alone=one("alone", 4),
        min_age=one("min_age", 4),
        active=one("active", 4),
        version=one("version", 10),
    )


def _rule_in(form: RuleForm, *, new: bool) -> VisitRuleUpdate:
    """The form in the service's terms; a number that is not one is refused naming its field."""
    if not form.every_days.strip().isdigit() or not 1 <= int(form.every_days) <= visits.MAX_EVERY_DAYS:
        raise DomainError("validation_failed", {"field": "every_days"})
    age = form.min_age.strip()
    if age and (not age.isdigit() or not 50 <= int(age) <= 120):
        raise DomainError("validation_failed", {"field": "min_age"})
    if not form.name.strip():
        raise DomainError("validation_failed", {"field": "name"})
    return VisitRuleUpdate(
        name=form.name.strip(),
        every_days=int(form.every_days),
        categories=[c for c in form.categories if c],
        alone=bool(form.alone),
        min_age=int(age) if age else None,
        active=True if new else bool(form.active),
        version=int(form.version) if form.version.isdigit() else 1,
    )


async def _rules_page(
    request: Req,
    district_id: int,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: RuleForm | None = None,
    failed: int | None = None,
) -> Template:
    rules = await visits.list_rules(principal_of(request), district_id)
    return _page(
        request,
        "care/visits_rules.html",
        status_code,
        rules=rules,
        district_id=district_id,
        errors=errors or {},
        form=form or RuleForm(),
        failed=failed,
    )


@get("/care/districts/{district_id:int}/visit-rules", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def rules_page(request: Req, district_id: FromPath[int]) -> Template:
    return await _rules_page(request, district_id)


@post("/care/districts/{district_id:int}/visit-rules", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def rule_create_form(request: Req, district_id: FromPath[int]) -> Response[Any]:
    data = await _read_rule_form(request)
    try:
        values = _rule_in(data, new=True)
        fields = {f: getattr(values, f) for f in VisitRuleIn.__struct_fields__}
        await visits.create_rule(principal_of(request), district_id, VisitRuleIn(**fields))
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _rules_page(
            request, district_id, status_code=err.status, errors=_error(request, err), form=data
        )
    return Redirect(path=f"/care/districts/{district_id}/visit-rules")


@post(
    "/care/districts/{district_id:int}/visit-rules/{rule_id:int}",
    guards=OFFICIAL_GUARDS,
    include_in_schema=False,
)
async def rule_update_form(request: Req, district_id: FromPath[int], rule_id: FromPath[int]) -> Response[Any]:
    data = await _read_rule_form(request)
    try:
        await visits.update_rule(principal_of(request), district_id, rule_id, _rule_in(data, new=False))
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _rules_page(
            request, district_id, status_code=err.status, errors=_error(request, err), failed=rule_id
        )
    return Redirect(path=f"/care/districts/{district_id}/visit-rules")


PAGES = [
    plan_page,
    record_form,
    hours_page,
    coverage_choose,
    coverage_page,
    rules_page,
    rule_create_form,
    rule_update_form,
]
