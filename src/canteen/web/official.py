"""Pages for district officials (民政). Today: meals so far per point, updated live."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Response, Template

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import OFFICIAL
from canteen.checkin import services as counter
from canteen.core.clock import utcnow
from canteen.core.schemas import PathId
from canteen.regions.services import list_districts
from canteen.settings import get_settings
from canteen.web.pages import page

GUARDS = [roles(OFFICIAL)]


@get("/official/today", guards=GUARDS, include_in_schema=False)
async def today_choose(request: Request[Any, Any, Any]) -> Response[Any]:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if len(ids) == 1:
        return Redirect(path=f"/official/districts/{ids[0]}/today")
    districts = await list_districts(actor)
    return page(request, "official/choose.html", districts=districts.items)


@get("/official/districts/{district_id:int}/today", guards=GUARDS, include_in_schema=False)
async def today_page(request: Request[Any, Any, Any], district_id: PathId) -> Template:
    data = await counter.district_today(principal_of(request), district_id, _today())
    return page(request, "official/today.html", today=data)


@get("/official/districts/{district_id:int}/today/table", guards=GUARDS, include_in_schema=False)
async def today_table(request: Request[Any, Any, Any], district_id: PathId) -> Template:
    data = await counter.district_today(principal_of(request), district_id, _today())
    return page(request, "official/_today_table.html", today=data)


def _today() -> Any:
    return utcnow().astimezone(get_settings().tz).date()


PAGES = [today_choose, today_page, today_table]
