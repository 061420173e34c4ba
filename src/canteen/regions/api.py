"""JSON API for districts, streets, communities, operators and sites (``/api/v1``).

Handlers are thin: a Struct in, one service call, a Struct out. Guards refuse roles that
can never do a route's write (403); the services check the object's scope (404 outside
it, see ``canteen.regions.services``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, CITY_OFFICIAL, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.regions import services
from canteen.regions.schemas import (
    DEFAULT_LIMIT,
    CityCreate,
    CityView,
    CommunityCreate,
    CommunityList,
    CommunityView,
    DistrictCreate,
    DistrictList,
    DistrictUpdate,
    DistrictView,
    OperatorCreate,
    OperatorList,
    OperatorView,
    SiteCreate,
    SiteKind,
    SiteList,
    SiteStatus,
    SiteStatusIn,
    SiteUpdate,
    SiteView,
    StreetCreate,
    StreetList,
    StreetView,
)

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
# Litestar applies its own Parameter constraints to path and query values (msgspec.Meta inside
# FromQuery[...] is dropped), so the bounds are declared here: an id beyond int4 or a huge
# limit is a 400 ``validation_failed``, never a database error.
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=INT4_MAX)]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,10}$", max_length=10)]


def _cursor(cursor: str | None) -> int | None:
    return int(cursor) if cursor else None


class CityController(Controller):
    path = "/api/v1/cities"
    tags = ["regions"]
    guards = [login_required]

    @get("/", summary="Cities you may see, each with its districts", responses=errors())
    async def list_cities(self, request: Req) -> list[CityView]:
        return await services.list_cities(principal_of(request))

    @post("/", guards=[roles(ADMIN)], summary="Create a city (admin)", responses=errors("duplicate"))
    async def create_city(self, request: Req, data: JSONBody[CityCreate]) -> CityView:
        return await services.create_city(principal_of(request), data)

    @get(
        "/{city_id:int}",
        guards=[roles(CITY_OFFICIAL)],
        summary="One city with its districts (admin, its city officials)",
        responses=errors("not_found"),
    )
    async def get_city(self, request: Req, city_id: PathId) -> CityView:
        return await services.get_city(principal_of(request), city_id)


class DistrictController(Controller):
    path = "/api/v1/districts"
    tags = ["regions"]
    guards = [login_required]

    @get("/", summary="List the districts you may see", responses=errors())
    async def list_districts(
        self, request: Req, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> DistrictList:
        return await services.list_districts(principal_of(request), limit=limit, cursor=_cursor(cursor))

    @post("/", guards=[roles(ADMIN)], summary="Create a district (admin)", responses=errors("duplicate"))
    async def create_district(self, request: Req, data: JSONBody[DistrictCreate]) -> DistrictView:
        return await services.create_district(principal_of(request), data)

    @get("/{district_id:int}", summary="One district (404 outside your scope)", responses=errors("not_found"))
    async def get_district(self, request: Req, district_id: PathId) -> DistrictView:
        return await services.get_district(principal_of(request), district_id)

    @patch(
        "/{district_id:int}",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Change a district's name, meal-circle radius or meal types (admin, its official)",
        description="`service_radius_m` is the walking distance (metres) within which an elder counts "
        "as covered by a meal point; a site may set its own (`PATCH /api/v1/sites/{id}`). "
        "`meal_types` is the district's list of meal types (it must include `standard`): its points' "
        'menus offer only these. Example: `{"meal_types": ["standard", "soft", "therapeutic"]}`.',
        responses=errors("not_found", "forbidden", "validation_failed"),
    )
    async def update_district(
        self, request: Req, district_id: PathId, data: JSONBody[DistrictUpdate]
    ) -> DistrictView:
        return await services.update_district(principal_of(request), district_id, data)

    @get("/{district_id:int}/streets", summary="Streets of a district", responses=errors("not_found"))
    async def list_streets(
        self,
        request: Req,
        district_id: PathId,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> StreetList:
        return await services.list_streets(
            principal_of(request), district_id, limit=limit, cursor=_cursor(cursor)
        )

    @post(
        "/{district_id:int}/streets",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Add a street to a district (admin, the district's official)",
        responses=errors("not_found"),
    )
    async def create_street(
        self, request: Req, district_id: PathId, data: JSONBody[StreetCreate]
    ) -> StreetView:
        return await services.create_street(principal_of(request), district_id, data)


class StreetController(Controller):
    path = "/api/v1/streets"
    tags = ["regions"]
    guards = [login_required]

    @get("/{street_id:int}/communities", summary="Communities of a street", responses=errors("not_found"))
    async def list_communities(
        self,
        request: Req,
        street_id: PathId,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> CommunityList:
        return await services.list_communities(
            principal_of(request), street_id, limit=limit, cursor=_cursor(cursor)
        )

    @post(
        "/{street_id:int}/communities",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Add a community to a street (admin, the district's official)",
        responses=errors("not_found"),
    )
    async def create_community(
        self, request: Req, street_id: PathId, data: JSONBody[CommunityCreate]
    ) -> CommunityView:
        return await services.create_community(principal_of(request), street_id, data)


class OperatorController(Controller):
    path = "/api/v1/operators"
    tags = ["regions"]
    guards = [login_required]

    @get(
        "/",
        summary="Operators registered in, or running sites in, the districts you may see",
        description="`district_id` keeps the operators registered there or running a site there. "
        "An official also sees every operator of its city (a site may be run by any of them).",
        responses=errors(),
    )
    async def list_operators(
        self,
        request: Req,
        district_id: QueryId = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> OperatorList:
        return await services.list_operators(
            principal_of(request), district_id=district_id, limit=limit, cursor=_cursor(cursor)
        )

    @post(
        "/",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Register an operator in its home district (admin, the district's official)",
        description="The district is the operator's home (where it registered). It may run sites in "
        "any district of the same city; `serves` lists the districts it has sites in.",
        responses=errors("not_found"),
    )
    async def create_operator(self, request: Req, data: JSONBody[OperatorCreate]) -> OperatorView:
        return await services.create_operator(principal_of(request), data)

    @get(
        "/{operator_id:int}",
        summary="One operator with the districts it serves (404 outside your scope)",
        description="`district_id` is the home district; `serves` lists every district where the "
        "operator runs sites, with its name and number of sites. Statements are drawn per operator, "
        "district and funding source (`POST /api/v1/settlements` with `district_id`).",
        responses=errors("not_found"),
    )
    async def get_operator(self, request: Req, operator_id: PathId) -> OperatorView:
        return await services.get_operator(principal_of(request), operator_id)


class SiteController(Controller):
    path = "/api/v1/sites"
    tags = ["sites"]
    guards = [login_required]

    @get("/", summary="Sites you may see, filtered and paginated", responses=errors())
    async def list_sites(
        self,
        request: Req,
        district_id: QueryId = None,
        kind: FromQuery[SiteKind | None] = None,
        status: FromQuery[SiteStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> SiteList:
        return await services.list_sites(
            principal_of(request),
            district_id=district_id,
            kind=kind,
            status=status,
            limit=limit,
            cursor=_cursor(cursor),
        )

    @post(
        "/",
        guards=[roles(ADMIN, OFFICIAL)],
        summary="Create a central kitchen or meal point (admin, the district's official)",
        responses=errors(*services.SITE_WRITE_CODES),
    )
    async def create_site(self, request: Req, data: JSONBody[SiteCreate]) -> SiteView:
        return await services.create_site(principal_of(request), data)

    @get("/{site_id:int}", summary="One site (404 outside your scope)", responses=errors("not_found"))
    async def get_site(self, request: Req, site_id: PathId) -> SiteView:
        return await services.get_site(principal_of(request), site_id)

    @patch(
        "/{site_id:int}",
        guards=[roles(ADMIN, OFFICIAL, OPERATOR)],
        summary="Change some fields of a site (admin, its official, its operator)",
        responses=errors(*services.SITE_WRITE_CODES),
    )
    async def update_site(self, request: Req, site_id: PathId, data: JSONBody[SiteUpdate]) -> SiteView:
        return await services.update_site(principal_of(request), site_id, data)

    @post(
        "/{site_id:int}/status",
        status_code=200,
        guards=[roles(ADMIN, OFFICIAL, OPERATOR)],
        summary="Open, pause or close a site (operators may not close)",
        responses=errors("not_found", "site_status_invalid"),
    )
    async def set_status(self, request: Req, site_id: PathId, data: JSONBody[SiteStatusIn]) -> SiteView:
        return await services.set_site_status(principal_of(request), site_id, data.status, note=data.note)


CONTROLLERS: list[type[Controller]] = [
    CityController,
    DistrictController,
    StreetController,
    OperatorController,
    SiteController,
]
