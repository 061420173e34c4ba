"""Service pause pages (报停): the elder's and family's "暂停送餐/暂停用餐" page under /elder, the
staff section of the elder profile (/elders/{id}) and its two form posts.

The elder pauses in at most three taps from home: "暂停送餐" (the form opens with today and the
next two days filled in), a reason, "确认暂停"; the page then confirms in words when service
resumes by itself. Ending early is one button per pause. Every action calls the one service,
``canteen.registry.pauses``, as the API does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from babel.dates import format_skeleton
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from canteen import i18n
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import login_required
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.registry import pauses as svc
from canteen.web.elder import _elder_info, _page, _signin_redirect, _who

# Codes a pause form may come back with; the page words each through the catalog (error.<code>).
FORM_CODES = (
    "pause_in_past",
    "pause_dates_invalid",
    "pause_too_long",
    "pause_too_far_ahead",
    "pause_overlaps",
    "pause_already_ended",
    "validation_failed",
)
CURRENT_WORDS = {
    "delivery": "Meal delivery paused until {last}",
    "counter": "Canteen meals paused until {last}",
    "both": "Delivery and canteen meals paused until {last}",
}
UPCOMING_WORDS = {
    "delivery": "Meal delivery will pause from {first} to {last}",
    "counter": "Canteen meals will pause from {first} to {last}",
    "both": "Delivery and canteen meals will pause from {first} to {last}",
}
STATE_WORDS = {"upcoming": "Not begun", "current": "Paused now", "over": "Over", "withdrawn": "Withdrawn"}
DEFAULT_DAYS = 3  # today and the next two days: a short hospital stay or a visit


def short_day(day: dt.date, lang: str) -> str:
    """ "12月5日" / "Dec 5" in the reader's language."""
    return format_skeleton("MMMd", day, locale=i18n.FOLDERS[i18n.normalise(lang)])


def pause_words(p: svc.PauseView, lang: str) -> str:
    """ "已暂停送餐至12月5日" for the elder's home page (a current pause), or when it begins."""
    last = short_day(p.effective_last_day or p.last_day, lang)
    if p.state == "upcoming":
        return i18n.gettext(lang, UPCOMING_WORDS[p.kinds], first=short_day(p.first_day, lang), last=last)
    return i18n.gettext(lang, CURRENT_WORDS[p.kinds], last=last)


async def home_pauses(who: Any, elder_id: int, lang: str) -> list[str]:
    """The lines the elder home page shows: nothing once a pause is over (it resumes by itself)."""
    found = await svc.list_pauses(who, elder_id, now=utcnow(), current_only=True)
    return [pause_words(p, lang) for p in found.items]


class PauseForm(msgspec.Struct):
    kinds: str = "delivery"
    first_day: str = ""
    last_day: str = ""
    reason: str = ""
    note: str = ""


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError("validation_failed", {"field": field}) from None


def _pause_in(form: PauseForm) -> svc.PauseIn:
    if form.kinds not in svc.KINDS:
        raise DomainError("validation_failed", {"field": "kinds"})
    if form.reason not in svc.REASONS:
        raise DomainError("validation_failed", {"field": "reason"})
    if len(form.note) > 200:
        raise DomainError("validation_failed", {"field": "note"})
    return svc.PauseIn(
        kinds=form.kinds,  # type: ignore[arg-type]
        first_day=_date(form.first_day, "first_day"),
        last_day=_date(form.last_day, "last_day"),
        reason=form.reason,  # type: ignore[arg-type]
        note=form.note.strip(),
    )


def _field_error(err: DomainError, lang: str) -> tuple[str, str]:
    """(field, words): the form shows the words next to the field they are about."""
    field = str(err.detail.get("field") or "first_day")
    if err.code == "validation_failed":
        words = {
            "kinds": "Choose what to pause.",
            "reason": "Choose why you will be away.",
            "note": "The note can be at most 200 characters.",
            "first_day": "Choose the first day of the pause.",
            "last_day": "Choose the last day of the pause.",
        }.get(field, "Please check this field.")
        return field, i18n.gettext(lang, words)
    return field, err.message(lang)


def _elder_page(
    request: Request[Any, Any, Any],
    info: dict[str, Any],
    items: list[svc.PauseView],
    form: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    done: svc.PauseView | None = None,
    ended: bool = False,
    status_code: int = 200,
) -> Template:
    lang = lang_of(request)
    return _page(
        request,
        "elder/pause.html",
        status_code=status_code,
        elder=info,
        items=items,
        form=form,
        errors=errors or {},
        done=done,
        resumes_on=(done.last_day + dt.timedelta(days=1)) if done else None,
        ended=ended,
        short_day=lambda d: short_day(d, lang),
        kind_words=svc.KIND_WORDS,
        reason_words=svc.REASON_WORDS,
        reasons=svc.REASONS,
    )


def _default_form(kinds: str) -> dict[str, str]:
    today = svc.today_of(utcnow())
    return {
        "kinds": kinds if kinds in svc.KINDS else "delivery",
        "first_day": today.isoformat(),
        "last_day": (today + dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "reason": "",
        "note": "",
        "min": today.isoformat(),
    }


@get("/elder/{elder_id:int}/pause", include_in_schema=False)
async def elder_pause_page(
    request: Request[Any, Any, Any],
    elder_id: FromPath[int],
    kinds: FromQuery[str] = "delivery",
    done: FromQuery[int | None] = None,
    ended: FromQuery[int | None] = None,
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    found = await svc.list_pauses(who, elder_id, current_only=True)
    just = next((p for p in found.items if p.id == done), None)
    return _elder_page(
        request, await _elder_info(elder_id), found.items, _default_form(kinds), done=just, ended=bool(ended)
    )


@post("/elder/{elder_id:int}/pause", include_in_schema=False)
async def elder_pause_submit(
    request: Request[Any, Any, Any], elder_id: FromPath[int], data: URLEncodedBody[PauseForm]
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    lang = lang_of(request)
    try:
        view = await svc.create_pause(who, elder_id, _pause_in(data))
    except DomainError as err:
        if err.status >= 500 or err.code == "not_found":
            raise
        field, words = _field_error(err, lang)
        found = await svc.list_pauses(who, elder_id, current_only=True)
        form = {**_default_form(data.kinds), **msgspec.structs.asdict(data)}
        return _elder_page(
            request,
            await _elder_info(elder_id),
            found.items,
            form,
            errors={field: words},
            status_code=err.status,
        )
    return Redirect(path=f"/elder/{elder_id}/pause?done={view.id}", status_code=303)


@post("/elder/pauses/{pause_id:int}/end", include_in_schema=False)
async def elder_pause_end(request: Request[Any, Any, Any], pause_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    view = await svc.end_pause(who, pause_id)
    return Redirect(path=f"/elder/{view.elder_id}/pause?ended=1", status_code=303)


# --- staff: the section on the elder profile ------------------------------------------------


async def profile_section(actor: Any, elder_id: int, lang: str) -> dict[str, Any] | None:
    """The profile's pause section (None: the reader may not see or add pauses)."""
    try:
        found = await svc.list_pauses(actor, elder_id, limit=20)
    except DomainError as err:
        if err.code in ("forbidden", "not_found"):
            return None
        raise
    return {
        "items": found.items,
        "form": _default_form("delivery"),
        "codes": FORM_CODES,
        "kind_words": svc.KIND_WORDS,
        "reason_words": svc.REASON_WORDS,
        "by_words": svc.BY_WORDS,
        "state_words": STATE_WORDS,
        "reasons": svc.REASONS,
    }


def _back(elder_id: int, **query: str) -> Redirect:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return Redirect(path=f"/elders/{elder_id}?{q}#pauses", status_code=303)


@post("/elders/{elder_id:int}/pauses", guards=[login_required], include_in_schema=False)
async def staff_pause_submit(
    request: Request[Any, Any, Any], elder_id: FromPath[int], data: URLEncodedBody[PauseForm]
) -> Response[Any]:
    try:
        await svc.create_pause(principal_of(request), elder_id, _pause_in(data))
    except DomainError as err:
        if err.status >= 500 or err.code not in FORM_CODES:
            raise
        return _back(elder_id, pause_error=err.code)
    return _back(elder_id, saved="pause")


@post("/elders/pauses/{pause_id:int}/end", guards=[login_required], include_in_schema=False)
async def staff_pause_end(request: Request[Any, Any, Any], pause_id: FromPath[int]) -> Response[Any]:
    view = await svc.end_pause(principal_of(request), pause_id)
    return _back(view.elder_id, saved="pause_end")


PAGES = [elder_pause_page, elder_pause_submit, elder_pause_end, staff_pause_submit, staff_pause_end]
