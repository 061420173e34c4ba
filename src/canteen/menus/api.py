"""JSON API for dishes and menus (``/api/v1``). Thin: a Struct in, one service call, a Struct out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post, put
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, KITCHEN, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.menus import services
from canteen.menus.schemas import (
    CopyWeekIn,
    CopyWeekResult,
    DishCreate,
    DishList,
    DishUpdate,
    DishView,
    MenuIn,
    MenuList,
    MenuView,
    SlotCode,
)

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
PathDate = Annotated[dt.date, PathParameter()]
PathSlot = Annotated[SlotCode, PathParameter()]
QueryDistrict = Annotated[int, QueryParameter(ge=1, le=INT4_MAX)]
QueryDate = Annotated[dt.date, QueryParameter()]
WRITERS = (ADMIN, OFFICIAL, OPERATOR, KITCHEN)


class DishController(Controller):
    path = "/api/v1/dishes"
    tags = ["menus"]
    guards = [login_required]

    @get("/", summary="A district's dishes", responses=errors("not_found"))
    async def list_dishes(
        self, request: Req, district_id: QueryDistrict, include_inactive: FromQuery[bool] = False
    ) -> DishList:
        return await services.list_dishes(
            principal_of(request), district_id, include_inactive=include_inactive
        )

    @post(
        "/",
        guards=[roles(*WRITERS)],
        summary="Add a dish (admin, the district's official, its operators and kitchens)",
        responses=errors("not_found"),
    )
    async def create_dish(self, request: Req, data: JSONBody[DishCreate]) -> DishView:
        return await services.create_dish(principal_of(request), data)

    @get("/{dish_id:int}", summary="One dish", responses=errors("not_found"))
    async def get_dish(self, request: Req, dish_id: PathId) -> DishView:
        return await services.get_dish(principal_of(request), dish_id)

    @patch(
        "/{dish_id:int}",
        guards=[roles(*WRITERS)],
        summary="Rename, retag or retire a dish",
        responses=errors("not_found"),
    )
    async def update_dish(self, request: Req, dish_id: PathId, data: JSONBody[DishUpdate]) -> DishView:
        return await services.update_dish(principal_of(request), dish_id, data)


class MenuController(Controller):
    path = "/api/v1/sites/{site_id:int}/menus"
    tags = ["menus"]
    guards = [login_required]

    @get(
        "/",
        summary="Menus served at a site from `from` to `to` (a satellite shows its kitchen's)",
        responses=errors("not_found"),
    )
    async def list_menus(
        self,
        request: Req,
        site_id: PathId,
        start: Annotated[dt.date, QueryParameter(name="from")],
        end: Annotated[dt.date, QueryParameter(name="to")],
    ) -> MenuList:
        return await services.list_menus(principal_of(request), site_id, start, end)

    @put(
        "/{day:date}/{slot:str}",
        guards=[roles(*WRITERS)],
        summary="Create or replace a cooking site's menu for a day and slot; sets are matched by name",
        responses=errors(*services.MENU_WRITE_CODES),
    )
    async def set_menu(
        self, request: Req, site_id: PathId, day: PathDate, slot: PathSlot, data: JSONBody[MenuIn]
    ) -> MenuView:
        return await services.set_menu(
            principal_of(request), site_id, day, slot, data.sets, cutoff_at=data.cutoff_at
        )

    @post(
        "/copy-week",
        status_code=200,
        guards=[roles(*WRITERS)],
        summary="Copy a week's menus (Monday to Sunday) onto another week, never overwriting",
        responses=errors(*services.MENU_WRITE_CODES),
    )
    async def copy_week(self, request: Req, site_id: PathId, data: JSONBody[CopyWeekIn]) -> CopyWeekResult:
        return await services.copy_week(principal_of(request), site_id, data.from_monday, data.to_monday)


CONTROLLERS: list[type[Controller]] = [DishController, MenuController]
