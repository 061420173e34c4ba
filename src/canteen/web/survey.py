"""Satisfaction survey and complaints pages.

Elder pages (the elder / family cookie of ``web.elder``): the quarterly survey as one short page
(five big faces per dimension), "my complaints" with the replies, and a complaint form.
Staff pages (operator of a point, district official): the complaints list with status and age,
one complaint with the reply form and the status buttons, and a point's survey results with a
form for paper answers.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template

from canteen import i18n
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import OFFICIAL, OPERATOR
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.quality import complaints, survey
from canteen.regions.tables import Site
from canteen.registry.tables import Elder
from canteen.web.elder import _elder_info, _home_site, _page, _problem, _signin_redirect, _who
from canteen.web.pages import page

Req = Request[Any, Any, Any]
OptId = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]
OptQuarter = Annotated[str | None, QueryParameter(max_length=7)]
OptStatus = Annotated[str | None, QueryParameter(max_length=12)]

# Every code on a page goes through the catalog: these are the msgids.
DIMENSION_NAMES = {
    "taste": "Taste",
    "quantity": "Quantity",
    "hygiene": "Hygiene",
    "service": "Service",
    "price": "Price",
}
SCORE_NAMES = {1: "Very poor", 2: "Poor", 3: "So-so", 4: "Good", 5: "Very good"}
SCORE_FACES = {1: "😣", 2: "🙁", 3: "😐", 4: "🙂", 5: "😄"}
CATEGORY_NAMES = {
    "food": "complaint.category.food",
    "hygiene": "complaint.category.hygiene",
    "service": "complaint.category.service",
    "delivery": "complaint.category.delivery",
    "price": "complaint.category.price",
    "other": "complaint.category.other",
}
STATUS_NAMES = {
    "open": "complaint.status.open",
    "in_progress": "complaint.status.in_progress",
    "replied": "complaint.status.replied",
    "closed": "complaint.status.closed",
}
AUTHOR_NAMES = {
    "operator": "The meal point",
    "official": "The district office",
    "admin": "The district office",
}
KIND_NAMES = {"elder": "The elder", "family": "A family member", "staff": "Staff on their behalf"}


def _dimension_name(dimension: str, lang: str) -> str:
    return i18n.gettext(lang, DIMENSION_NAMES.get(dimension, dimension))


def _words(lang: str) -> dict[str, Any]:
    return {
        "dimensions": survey.DIMENSIONS,
        "dimension_name": lambda d: _dimension_name(d, lang),
        "score_name": lambda s: i18n.gettext(lang, SCORE_NAMES[s]),
        "score_face": lambda s: SCORE_FACES[s],
        "categories": complaints.CATEGORIES,
        "category_name": lambda c: i18n.gettext(lang, CATEGORY_NAMES.get(c, "complaint.category.other")),
        "complaint_status_name": lambda s: i18n.gettext(lang, STATUS_NAMES.get(s, "complaint.status.open")),
        "author_name": lambda a: i18n.gettext(lang, AUTHOR_NAMES.get(a, "The district office")),
        "kind_name": lambda k: i18n.gettext(lang, KIND_NAMES.get(k, "Staff on their behalf")),
        "quarter_words": lambda q: _quarter_words(q, lang),
    }


def _quarter_words(quarter: str, lang: str) -> str:
    """ "2026-Q4" → "2026年第4季度" / "Q4 2026"."""
    return i18n.gettext(lang, "Quarter {q} of {year}", q=quarter[6:], year=quarter[:4])


async def _district_points(elder_id: int) -> list[dict[str, Any]]:
    """The meal points an elder may rate or complain about: the open points of their district."""
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        return []
    return list(
        await Site.select(Site.id, Site.name)
        .where((Site.district == elder["district"]) & (Site.kind == "meal_point") & (Site.status == "open"))
        .order_by(Site.name)
    )


def _to_int(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


def _scores(data: Any, lang: str, scores: dict[str, int], errors: dict[str, str]) -> None:
    """The five 1–5 scores of a posted form; a missing or bad one is an error next to its line."""
    for d in survey.DIMENSIONS:
        v = _to_int(getattr(data, d))
        if v is None or not 1 <= v <= 5:
            what = i18n.gettext(lang, DIMENSION_NAMES[d])
            errors[d] = i18n.gettext(lang, "Please choose one face for {what}.", what=what)
        else:
            scores[d] = v


# --- elder: survey ----------------------------------------------------------------------------


class SurveyForm(msgspec.Struct):
    site_id: str = ""
    taste: str = ""
    quantity: str = ""
    hygiene: str = ""
    service: str = ""
    price: str = ""
    comment: str = ""


async def _survey_page(
    request: Req,
    elder_id: int,
    site_id: int | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    lang = lang_of(request)
    points = await _district_points(elder_id)
    chosen = site_id if any(p["id"] == site_id for p in points) else await _home_site(elder_id)
    if chosen is None and points:
        chosen = points[0]["id"]
    quarter = survey.current_quarter()
    who = await _who(request)
    existing = (
        await survey.my_answer(who, elder_id, chosen, quarter)
        if (who and chosen and values is None)
        else None
    )
    if values is None:
        values = {**existing.scores, "comment": existing.comment} if existing else {}
    return _page(
        request,
        "survey/elder_survey.html",
        status_code=status_code,
        elder=await _elder_info(elder_id),
        points=points,
        site_id=chosen,
        quarter=quarter,
        values=values,
        errors=errors or {},
        answered=existing is not None,
        **_words(lang),
    )


@get("/elder/{elder_id:int}/survey", include_in_schema=False)
async def elder_survey(request: Req, elder_id: FromPath[int], site_id: OptId = None) -> Response[Any]:
    """This quarter's survey for one meal point: five dimensions, five faces each, on one page."""
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    return await _survey_page(request, elder_id, site_id)


@post("/elder/{elder_id:int}/survey", include_in_schema=False)
async def elder_survey_submit(
    request: Req, elder_id: FromPath[int], data: URLEncodedBody[SurveyForm]
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    lang = lang_of(request)
    site_id = _to_int(data.site_id)
    scores: dict[str, int] = {}
    errors: dict[str, str] = {}
    _scores(data, lang, scores, errors)
    comment = data.comment.strip()
    if len(comment) > 300:
        errors["comment"] = i18n.gettext(lang, "Please write at most {n} characters.", n=300)
    values = {**scores, "comment": comment}
    if errors or site_id is None:
        return await _survey_page(request, elder_id, site_id, values=values, errors=errors, status_code=422)
    try:
        await survey.answer_survey(who, site_id, scores, comment=comment, elder_id=elder_id, now=utcnow())
    except DomainError as err:
        if err.status >= 500:
            raise
        return _problem(request, await _elder_info(elder_id), err)
    return Redirect(path=f"/elder/{elder_id}/survey/thanks")


@get("/elder/{elder_id:int}/survey/thanks", include_in_schema=False)
async def elder_survey_thanks(request: Req, elder_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    return _page(request, "survey/elder_thanks.html", elder=await _elder_info(elder_id))


# --- elder: complaints ------------------------------------------------------------------------


class ComplaintForm(msgspec.Struct):
    site_id: str = ""
    category: str = ""
    text: str = ""


@get("/elder/{elder_id:int}/complaints", include_in_schema=False)
async def elder_complaints(request: Req, elder_id: FromPath[int]) -> Response[Any]:
    """My complaints, newest first, each with its status and the replies (times in the service zone)."""
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    mine = await complaints.for_elder(who, elder_id, now=utcnow())
    return _page(
        request,
        "survey/elder_complaints.html",
        elder=await _elder_info(elder_id),
        items=mine.items,
        filed=request.query_params.get("filed") == "1",
        **_words(lang_of(request)),
    )


async def _complaint_form(
    request: Req,
    elder_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    values = values or {}
    points = await _district_points(elder_id)
    site_id = values.get("site_id") or await _home_site(elder_id) or (points[0]["id"] if points else None)
    return _page(
        request,
        "survey/elder_complaint_new.html",
        status_code=status_code,
        elder=await _elder_info(elder_id),
        points=points,
        site_id=site_id,
        values=values,
        errors=errors or {},
        **_words(lang_of(request)),
    )


@get("/elder/{elder_id:int}/complaints/new", include_in_schema=False)
async def elder_complaint_new(request: Req, elder_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    return await _complaint_form(request, elder_id)


@post("/elder/{elder_id:int}/complaints", include_in_schema=False)
async def elder_complaint_submit(
    request: Req, elder_id: FromPath[int], data: URLEncodedBody[ComplaintForm]
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    lang = lang_of(request)
    text = data.text.strip()
    site_id = _to_int(data.site_id)
    errors: dict[str, str] = {}
    if data.category not in complaints.CATEGORIES:
        errors["category"] = i18n.gettext(lang, "Please choose what the complaint is about.")
    if len(text) < 2:
        errors["text"] = i18n.gettext(lang, "Please write what happened.")
    elif len(text) > 500:
        errors["text"] = i18n.gettext(lang, "Please write at most {n} characters.", n=500)
    if site_id is None:
        errors["site_id"] = i18n.gettext(lang, "Please choose the meal point.")
    values = {"site_id": site_id, "category": data.category, "text": text[:600]}
    if errors:
        return await _complaint_form(request, elder_id, values=values, errors=errors, status_code=422)
    assert site_id is not None
    try:
        await complaints.file_complaint(who, site_id, data.category, text, elder_id=elder_id, now=utcnow())
    except DomainError as err:
        if err.status >= 500:
            raise
        return _problem(request, await _elder_info(elder_id), err)
    return Redirect(path=f"/elder/{elder_id}/complaints?filed=1")


# --- staff: complaints ------------------------------------------------------------------------


@get("/quality/complaints", guards=[roles(OPERATOR, OFFICIAL)], include_in_schema=False)
async def staff_complaints(request: Req, district_id: OptId = None, status: OptStatus = None) -> Template:
    """Every complaint the caller may see, unanswered first, with status and age in days."""
    actor = principal_of(request)
    chosen = status if status in complaints.STATUSES else None
    listing = await complaints.for_staff(actor, district_id=district_id, status=chosen, now=utcnow())
    return page(
        request,
        "survey/staff_complaints.html",
        items=listing.items,
        status=chosen,
        district_id=district_id,
        statuses=complaints.STATUSES,
        **_words(lang_of(request)),
    )


async def _staff_complaint(
    request: Req, complaint_id: int, *, error: str | None = None, status_code: int = 200
) -> Template:
    actor = principal_of(request)
    view = await complaints.get_complaint(actor, complaint_id, now=utcnow())
    elder = None
    if view.elder_id is not None:
        elder = await Elder.select(Elder.id, Elder.name).where(Elder.id == view.elder_id).first()
    return page(
        request,
        "survey/staff_complaint.html",
        status_code=status_code,
        c=view,
        elder=elder,
        moves=sorted(complaints.TRANSITIONS[view.status] - {"replied"}),
        error=error,
        **_words(lang_of(request)),
    )


@get("/quality/complaints/{complaint_id:int}", guards=[roles(OPERATOR, OFFICIAL)], include_in_schema=False)
async def staff_complaint(request: Req, complaint_id: FromPath[int]) -> Template:
    return await _staff_complaint(request, complaint_id)


class ReplyForm(msgspec.Struct):
    text: str = ""


class StatusForm(msgspec.Struct):
    status: str = ""


@post(
    "/quality/complaints/{complaint_id:int}/reply",
    guards=[roles(OPERATOR, OFFICIAL)],
    include_in_schema=False,
)
async def staff_reply(
    request: Req, complaint_id: FromPath[int], data: URLEncodedBody[ReplyForm]
) -> Response[Any]:
    lang = lang_of(request)
    text = data.text.strip()
    if not 2 <= len(text) <= 500:
        return await _staff_complaint(
            request,
            complaint_id,
            error=i18n.gettext(lang, "A reply needs 2 to 500 characters."),
            status_code=422,
        )
    try:
        await complaints.reply(principal_of(request), complaint_id, text, now=utcnow())
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _staff_complaint(request, complaint_id, error=err.message(lang), status_code=err.status)
    return Redirect(path=f"/quality/complaints/{complaint_id}")


@post(
    "/quality/complaints/{complaint_id:int}/status",
    guards=[roles(OPERATOR, OFFICIAL)],
    include_in_schema=False,
)
async def staff_status(
    request: Req, complaint_id: FromPath[int], data: URLEncodedBody[StatusForm]
) -> Response[Any]:
    lang = lang_of(request)
    try:
        if data.status not in complaints.STATUSES:
            raise DomainError("complaint_bad_transition", {"to": data.status[:20]})
        await complaints.set_status(principal_of(request), complaint_id, data.status, now=utcnow())
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _staff_complaint(request, complaint_id, error=err.message(lang), status_code=err.status)
    return Redirect(path=f"/quality/complaints/{complaint_id}")


# --- staff: survey results and paper forms ----------------------------------------------------


async def _staff_sites(request: Req) -> list[dict[str, Any]]:
    actor = principal_of(request)
    q = Site.select(Site.id, Site.name, Site.district).where(Site.kind == "meal_point").order_by(Site.name)
    return [s for s in await q if actor.can_site(s["id"], s["district"], OPERATOR, OFFICIAL)]


async def _survey_results_page(
    request: Req,
    site_id: int | None,
    quarter: str | None,
    *,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Template:
    actor = principal_of(request)
    sites = await _staff_sites(request)
    chosen = next((s["id"] for s in sites if s["id"] == site_id), sites[0]["id"] if sites else None)
    q = quarter if quarter and survey.QUARTER_RE.match(quarter) else survey.current_quarter()
    results = await survey.site_results(actor, chosen, q) if chosen else None
    return page(
        request,
        "survey/staff_survey.html",
        status_code=status_code,
        sites=sites,
        site_id=chosen,
        quarter=q,
        prev=survey.shift_quarter(q, -1),
        next=survey.shift_quarter(q, 1),
        results=results,
        errors=errors or {},
        saved=saved,
        **_words(lang_of(request)),
    )


@get("/quality/survey", guards=[roles(OPERATOR, OFFICIAL)], include_in_schema=False)
async def staff_survey(request: Req, site_id: OptId = None, quarter: OptQuarter = None) -> Template:
    """A point's survey results for a quarter, the faces beside them, and the paper-form entry."""
    return await _survey_results_page(
        request, site_id, quarter, saved=request.query_params.get("saved") == "1"
    )


class PaperForm(msgspec.Struct):
    quarter: str = ""
    elder_id: str = ""
    taste: str = ""
    quantity: str = ""
    hygiene: str = ""
    service: str = ""
    price: str = ""
    comment: str = ""


@post("/quality/survey/{site_id:int}", guards=[roles(OPERATOR, OFFICIAL)], include_in_schema=False)
async def staff_survey_submit(
    request: Req, site_id: FromPath[int], data: URLEncodedBody[PaperForm]
) -> Response[Any]:
    lang = lang_of(request)
    errors: dict[str, str] = {}
    scores: dict[str, int] = {}
    _scores(data, lang, scores, errors)
    elder_id = _to_int(data.elder_id) if data.elder_id.strip() else None
    if data.elder_id.strip() and elder_id is None:
        errors["elder_id"] = i18n.gettext(lang, "An elder number is digits only.")
    quarter = data.quarter if survey.QUARTER_RE.match(data.quarter) else None
    if errors:
        return await _survey_results_page(request, site_id, quarter, errors=errors, status_code=422)
    try:
        await survey.answer_survey(
            principal_of(request),
            site_id,
            scores,
            comment=data.comment[:300],
            elder_id=elder_id,
            quarter=quarter,
            now=utcnow(),
        )
    except DomainError as err:
        if err.code != "not_found" or "elder_id" not in err.detail:
            raise
        errors["elder_id"] = i18n.gettext(lang, "No elder of this district has that number.")
        return await _survey_results_page(request, site_id, quarter, errors=errors, status_code=404)
    shown = quarter or survey.current_quarter()
    return Redirect(path=f"/quality/survey?site_id={site_id}&quarter={shown}&saved=1")


PAGES = [
    elder_survey,
    elder_survey_submit,
    elder_survey_thanks,
    elder_complaints,
    elder_complaint_new,
    elder_complaint_submit,
    staff_complaints,
    staff_complaint,
    staff_reply,
    staff_status,
    staff_survey,
    staff_survey_submit,
]
