"""JSON API of service pauses (报停): ``/api/v1/elders/{elder_id}/pauses`` and ``/api/v1/pauses``.

Staff with scope for the elder (admin, an official of the district, a community worker of the
elder's community) list, add and end pauses; everyone else gets ``not_found``. The elder and
family pages call the same service functions (see ``canteen.registry.pauses``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required
from canteen.core.apidocs import errors
from canteen.registry import pauses as svc
from canteen.registry.pauses import PauseIn, PauseList, PauseView

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
CREATE_ERRORS = (
    "not_found",
    "pause_in_past",
    "pause_dates_invalid",
    "pause_too_long",
    "pause_too_far_ahead",
    "pause_overlaps",
)


class ElderPauseController(Controller):
    path = "/api/v1/elders/{elder_id:int}/pauses"
    tags = ["pauses"]
    guards = [login_required]

    @get("/", summary="The elder's service pauses, the latest first", responses=errors("not_found"))
    async def list_pauses(
        self,
        request: Req,
        elder_id: PathId,
        current: Annotated[bool, QueryParameter()] = False,
        limit: Limit = 50,
    ) -> PauseList:
        return await svc.list_pauses(principal_of(request), elder_id, current_only=current, limit=limit)

    @post(
        "/",
        summary="Pause delivery and/or counter service for a date range (报停); overlaps are refused",
        responses=errors(*CREATE_ERRORS),
    )
    async def create_pause(self, request: Req, elder_id: PathId, data: JSONBody[PauseIn]) -> PauseView:
        return await svc.create_pause(principal_of(request), elder_id, data)


class PauseController(Controller):
    path = "/api/v1/pauses"
    tags = ["pauses"]
    guards = [login_required]

    @post(
        "/{pause_id:int}/end",
        summary="End a pause early (提前恢复): service runs again from today",
        status_code=200,
        responses=errors("not_found", "pause_already_ended"),
    )
    async def end_pause(self, request: Req, pause_id: PathId) -> PauseView:
        return await svc.end_pause(principal_of(request), pause_id)


CONTROLLERS: list[Any] = [ElderPauseController, PauseController]
