"""Card pages: an elder's card (issue or reissue with a reason, see the face, download the SVG)
and the print page (a community's cards as an A4 PDF sheet, drawn by the job queue: the page
redirects to the run's progress page, which offers the download).

Who may come here is the admin and officials; the elder's district is checked by
the card services (``not_found`` outside it). The card image comes from the API
(``/api/v1/elders/{id}/card.png``), which the session cookie authorises.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromQuery, PathParameter, URLEncodedBody
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import ADMIN, OFFICIAL
from canteen.core.errors import DomainError
from canteen.registry import card_services as services
from canteen.web.pages import page

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
GUARDS = [roles(ADMIN, OFFICIAL)]
# Reasons a card is (re)issued: code -> English msgid (translated in the template).
REASONS = {
    "first": "First card",
    "lost": "Lost",
    "damaged": "Damaged or unreadable",
    "reissued": "Other reissue",
}


class IssueForm(msgspec.Struct):
    reason: str = ""


class PrintForm(msgspec.Struct):
    community_id: str = ""


@get("/elders/{elder_id:int}/card", guards=GUARDS, include_in_schema=False)
async def card_page(request: Req, elder_id: PathId, issued: FromQuery[int] = 0) -> Template:
    info = await services.elder_cards(principal_of(request), elder_id)
    return page(request, "cards/elder.html", info=info, reasons=REASONS, issued=bool(issued), error=None)


@post("/elders/{elder_id:int}/card", guards=GUARDS, include_in_schema=False)
async def card_issue(request: Req, elder_id: PathId, data: URLEncodedBody[IssueForm]) -> Response[Any]:
    actor = principal_of(request)
    if data.reason not in REASONS:
        info = await services.elder_cards(actor, elder_id)
        return page(
            request, "cards/elder.html", status_code=422, info=info, reasons=REASONS, issued=False,
            error="Choose why the card is issued.",
        )  # fmt: skip
    await services.issue_card(actor, elder_id, reason=data.reason)
    return Redirect(path=f"/elders/{elder_id}/card?issued=1")


@get("/cards/print", guards=GUARDS, include_in_schema=False)
async def print_page(request: Req) -> Template:
    choices = await services.print_choices(principal_of(request))
    return page(request, "cards/print.html", communities=choices, error=None, selected=None)


@post("/cards/print", guards=GUARDS, status_code=200, include_in_schema=False)
async def print_submit(request: Req, data: URLEncodedBody[PrintForm]) -> Response[Any]:
    actor = principal_of(request)
    error: str | None = None
    if not data.community_id.isdigit() or not 1 <= int(data.community_id) <= 2_147_483_647:
        error = "Choose a community."
    else:
        try:
            run = await services.submit_sheet(actor, community_id=int(data.community_id))
        except DomainError as err:
            if err.code not in ("card_sheet_empty", "not_found"):
                raise
            error = err.message(lang_of(request))
        else:
            # The sheet is drawn by the queue; the run's page shows progress, then the download.
            return Redirect(path=f"/jobs/{run.id}", status_code=303)
    choices = await services.print_choices(actor)
    return page(
        request, "cards/print.html", status_code=422, communities=choices, error=error,
        selected=data.community_id,
    )  # fmt: skip


PAGES = [card_page, card_issue, print_page, print_submit]
