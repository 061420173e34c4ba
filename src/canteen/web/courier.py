"""Phone-sized pages for couriers (my rounds, the manifest, the door) and the officials'
alert view, updated live from the district's event stream."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import COURIER, KITCHEN, OFFICIAL, OPERATOR
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.delivery import services
from canteen.regions.services import list_districts
from canteen.settings import get_settings
from canteen.web.delivery_words import words
from canteen.web.pages import page

Req = Request[Any, Any, Any]
COURIER_GUARDS = [roles(COURIER)]
VIEW_GUARDS = [roles(COURIER, KITCHEN, OPERATOR, OFFICIAL)]
OFFICIAL_GUARDS = [roles(OFFICIAL)]


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


def _page(request: Req, template: str, status_code: int = 200, **context: Any) -> Template:
    """A courier or alert page with the delivery vocabulary in the reader's words and the
    service day (a stop of a later day shows why it cannot be closed yet)."""
    return page(
        request,
        template,
        status_code,
        **words(lang_of(request)),
        today=_today(),
        tomorrow=_today() + dt.timedelta(days=1),
        **context,
    )


class CardForm(msgspec.Struct):
    card: Annotated[str, msgspec.Meta(max_length=400)] = ""


class FailForm(msgspec.Struct):
    outcome: Annotated[str, msgspec.Meta(max_length=12)] = ""
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class WelfareForm(msgspec.Struct):
    level: Annotated[str, msgspec.Meta(max_length=12)] = ""
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class AckForm(msgspec.Struct):
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
    close: Annotated[str, msgspec.Meta(max_length=8)] = ""


@get("/courier", guards=COURIER_GUARDS, include_in_schema=False)
async def my_rounds(request: Req, date: FromQuery[dt.date | None] = None) -> Template:
    day = date or _today()
    actor = principal_of(request)
    today = await services.list_rounds(actor, day)
    tomorrow = await services.list_rounds(actor, day + dt.timedelta(days=1))
    return _page(request, "courier/rounds.html", day=day, rounds=today.items + tomorrow.items)


@get("/courier/rounds/{round_id:int}", guards=VIEW_GUARDS, include_in_schema=False)
async def manifest_page(request: Req, round_id: FromPath[int]) -> Template:
    data = await services.manifest(principal_of(request), round_id)
    return _page(request, "courier/manifest.html", m=data)


@get("/courier/stops/{stop_id:int}", guards=VIEW_GUARDS, include_in_schema=False)
async def stop_page(request: Req, stop_id: FromPath[int]) -> Template:
    stop = await services.stop_view(principal_of(request), stop_id)
    return _page(request, "courier/stop.html", stop=stop, error=None)


async def _stop_error(request: Req, stop_id: int, err: DomainError) -> Template:
    stop = await services.stop_view(principal_of(request), stop_id)
    return _page(
        request,
        "courier/stop.html",
        status_code=err.status,
        stop=stop,
        error=err.message(lang_of(request)),
        error_code=err.code,
    )


@post("/courier/stops/{stop_id:int}/deliver", guards=COURIER_GUARDS, include_in_schema=False)
async def deliver_form(request: Req, stop_id: FromPath[int], data: URLEncodedBody[CardForm]) -> Response[Any]:
    try:
        if not data.card.strip():
            raise DomainError("validation_failed", {"field": "card"})
        await services.deliver_stop(principal_of(request), stop_id, data.card)
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _stop_error(request, stop_id, err)
    return Redirect(path=f"/courier/stops/{stop_id}")


@post("/courier/stops/{stop_id:int}/fail", guards=COURIER_GUARDS, include_in_schema=False)
async def fail_form(request: Req, stop_id: FromPath[int], data: URLEncodedBody[FailForm]) -> Response[Any]:
    try:
        if not data.reason.strip():
            raise DomainError("validation_failed", {"field": "reason"})
        await services.fail_stop(principal_of(request), stop_id, data.outcome, data.reason.strip())
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _stop_error(request, stop_id, err)
    return Redirect(path=f"/courier/stops/{stop_id}")


@post("/courier/stops/{stop_id:int}/welfare", guards=COURIER_GUARDS, include_in_schema=False)
async def welfare_form(
    request: Req, stop_id: FromPath[int], data: URLEncodedBody[WelfareForm]
) -> Response[Any]:
    try:
        await services.record_welfare(principal_of(request), stop_id, data.level, data.note.strip())
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _stop_error(request, stop_id, err)
    return Redirect(path=f"/courier/stops/{stop_id}")


@get("/official/alerts", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def alerts_choose(request: Req) -> Response[Any]:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if len(ids) == 1:
        return Redirect(path=f"/official/districts/{ids[0]}/alerts")
    districts = await list_districts(actor)
    return page(request, "official/alerts_choose.html", districts=districts.items)


@get("/official/districts/{district_id:int}/alerts", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def alerts_page(request: Req, district_id: FromPath[int]) -> Template:
    data = await services.list_alerts(principal_of(request), district_id)
    return _page(request, "official/alerts.html", alerts=data)


@get("/official/districts/{district_id:int}/alerts/table", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def alerts_table(request: Req, district_id: FromPath[int]) -> Template:
    data = await services.list_alerts(principal_of(request), district_id)
    return _page(request, "official/_alerts_table.html", alerts=data)


@post("/official/alerts/{alert_id:int}/acknowledge", guards=OFFICIAL_GUARDS, include_in_schema=False)
async def acknowledge_form(
    request: Req, alert_id: FromPath[int], data: URLEncodedBody[AckForm]
) -> Response[Any]:
    note = data.note.strip() or ("—" if data.close else "")
    view = await services.acknowledge_alert(
        principal_of(request), alert_id, note or "✓", close=bool(data.close)
    )
    return Redirect(path=f"/official/districts/{view.district_id}/alerts")


PAGES = [
    my_rounds,
    manifest_page,
    stop_page,
    deliver_form,
    fail_form,
    welfare_form,
    alerts_choose,
    alerts_page,
    alerts_table,
    acknowledge_form,
]
