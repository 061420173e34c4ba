"""Kitchen pages: the production plan, printable labels and packing lists, the XLSX export, and the
courier rounds (planned as a job on the queue: the form redirects to the run's progress page)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from canteen import i18n
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import KITCHEN, OFFICIAL, OPERATOR
from canteen.core.categories import allergen_labels, texture_level_label
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.delivery import services
from canteen.settings import get_settings
from canteen.web.delivery_words import words
from canteen.web.pages import page

Req = Request[Any, Any, Any]
GUARDS = [roles(KITCHEN, OPERATOR, OFFICIAL)]
SlotQ = Annotated[str, msgspec.Meta(min_length=1, max_length=12)]


def _tomorrow() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date() + dt.timedelta(days=1)


def _page(request: Req, template: str, **context: Any) -> Template:
    """A kitchen page with the delivery vocabulary in the reader's words (diets, slots, statuses)."""
    lang = lang_of(request)
    return page(
        request,
        template,
        200,
        **words(lang),
        allergen_words=lambda codes: allergen_labels(codes or [], lang),
        iddsi_words=lambda level: texture_level_label(level, lang),
        portion_care=lambda line: _portion_care(line, lang),
        **context,
    )


def _portion_care(line: Any, lang: str) -> str:
    """A plan line's texture and the allergens its elders avoid, in words ("—" for neither)."""
    parts = []
    if line.texture_level is not None:
        parts.append(texture_level_label(line.texture_level, lang))
    if line.allergens:
        parts.append(allergen_labels(line.allergens, lang))
    return " · ".join(parts) or "—"


@get("/kitchen", guards=GUARDS, include_in_schema=False)
async def kitchen_choose(request: Req) -> Response[Any]:
    actor = principal_of(request)
    sites = sorted(actor.site_ids(KITCHEN, OPERATOR))
    if len(sites) == 1:
        return Redirect(path=f"/kitchen/{sites[0]}/plan")
    names = await services.site_names(sites)
    return _page(request, "kitchen/choose.html", sites=sites, names=names, day=_tomorrow())


@get("/kitchen/{site_id:int}/plan", guards=GUARDS, include_in_schema=False)
async def plan_page(
    request: Req,
    site_id: FromPath[int],
    date: FromQuery[dt.date | None] = None,
    slot: FromQuery[SlotQ] = "lunch",
) -> Template:
    day = date or _tomorrow()
    actor = principal_of(request)
    plan = await services.production_plan(actor, site_id, day, slot)
    rounds = await services.kitchen_rounds(actor, site_id, day, slot)
    return _page(request, "kitchen/plan.html", plan=plan, rounds=rounds.items)


@get("/kitchen/{site_id:int}/labels", guards=GUARDS, include_in_schema=False)
async def labels_page(
    request: Req,
    site_id: FromPath[int],
    date: FromQuery[dt.date | None] = None,
    slot: FromQuery[SlotQ] = "lunch",
) -> Template:
    day = date or _tomorrow()
    items = await services.labels(principal_of(request), site_id, day, slot)
    return _page(request, "kitchen/labels.html", labels=items, day=day, slot=slot, site_id=site_id)


@get("/kitchen/{site_id:int}/packing", guards=GUARDS, include_in_schema=False)
async def packing_page(
    request: Req,
    site_id: FromPath[int],
    date: FromQuery[dt.date | None] = None,
    slot: FromQuery[SlotQ] = "lunch",
) -> Template:
    day = date or _tomorrow()
    packs = await services.packing_lists(principal_of(request), site_id, day, slot)
    return _page(request, "kitchen/packing.html", packs=packs, day=day, slot=slot, site_id=site_id)


SLOTS = ("breakfast", "lunch", "dinner")
INT4_MAX = 2_147_483_647


async def _rounds_page(
    request: Req,
    site_id: int,
    day: dt.date,
    slot: str,
    *,
    chosen: list[int] | None = None,
    capacity: str = "40",
    window: str = "240",
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    actor = principal_of(request)
    couriers = await services.round_couriers(actor, site_id)
    rounds = await services.list_rounds(actor, day, site_id=site_id, slot=slot)
    names = await services.site_names([site_id])
    response = _page(
        request,
        "kitchen/rounds.html",
        site_id=site_id,
        site_name=names.get(site_id, ""),
        day=day,
        slot=slot,
        couriers=couriers,
        # Every courier ticked on the first visit: the usual plan takes them all.
        chosen=set(chosen if chosen is not None else [c for c, _ in couriers]),
        capacity=capacity,
        window=window,
        rounds=rounds.items,
        error=error,
    )
    response.status_code = status_code
    return response


@get("/kitchen/{site_id:int}/rounds", guards=GUARDS, include_in_schema=False)
async def rounds_page(
    request: Req,
    site_id: FromPath[int],
    date: FromQuery[dt.date | None] = None,
    slot: FromQuery[SlotQ] = "lunch",
) -> Template:
    """The courier rounds leaving from a site on a day and slot, and the form that plans them."""
    return await _rounds_page(request, site_id, date or _tomorrow(), slot if slot in SLOTS else "lunch")


def _small_int(text: str, low: int, high: int) -> int | None:
    text = text.strip()[:6]
    return int(text) if text.isdigit() and low <= int(text) <= high else None


@post("/kitchen/{site_id:int}/rounds", guards=GUARDS, include_in_schema=False)
async def rounds_plan(request: Req, site_id: FromPath[int]) -> Response[Any]:
    """Queue the route plan and follow it on the progress page (303 to /jobs/{id})."""
    form = await request.form()
    try:
        day = dt.date.fromisoformat(str(form.get("date", ""))[:10])
    except ValueError:
        day = _tomorrow()
    slot = str(form.get("slot", "lunch"))
    slot = slot if slot in SLOTS else "lunch"
    chosen = [int(v) for v in form.getall("couriers", []) if str(v).isdigit() and int(v) <= INT4_MAX][:100]
    capacity_text, window_text = str(form.get("capacity", "")), str(form.get("window_minutes", ""))
    capacity, window = _small_int(capacity_text, 1, 200), _small_int(window_text, 10, 600)
    error = None
    if not chosen:
        error = "Choose at least one courier."
    elif capacity is None:
        error = "Type how many meals a courier carries, from 1 to 200."
    elif window is None:
        error = "Type the minutes a round may take, from 10 to 600."
    if error is None:
        assert capacity is not None and window is not None
        try:
            run = await services.start_plan_rounds(
                principal_of(request), site_id, day, slot, chosen, capacity, window
            )
        except DomainError as err:
            if err.code == "not_found":
                raise
            return await _rounds_page(
                request,
                site_id,
                day,
                slot,
                chosen=chosen,
                capacity=capacity_text[:6],
                window=window_text[:6],
                error=err.message(lang_of(request)),
                status_code=err.status,
            )
        return Redirect(path=f"/jobs/{run.id}", status_code=303)
    return await _rounds_page(
        request,
        site_id,
        day,
        slot,
        chosen=chosen,
        capacity=capacity_text[:6],
        window=window_text[:6],
        error=i18n.gettext(lang_of(request), error),
        status_code=422,
    )


PAGES = [kitchen_choose, plan_page, labels_page, packing_page, rounds_page, rounds_plan]
