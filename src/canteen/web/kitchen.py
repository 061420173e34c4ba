"""Kitchen pages: the production plan, printable labels and packing lists, the XLSX export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import KITCHEN, OFFICIAL, OPERATOR
from canteen.core.categories import allergen_labels, texture_level_label
from canteen.core.clock import utcnow
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


PAGES = [kitchen_choose, plan_page, labels_page, packing_page]
