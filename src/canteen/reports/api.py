"""Reports as an API: the coverage of the 15-minute meal circle (the same view the official's map
shows), the inter-district statement and the city overview."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.accounts.roles import CITY_OFFICIAL, OFFICIAL
from canteen.core.apidocs import errors
from canteen.core.clock import local_date, utcnow
from canteen.core.periods import last_complete_month
from canteen.reports import services
from canteen.reports.schemas import CityOverview, CoverageView, InterDistrictStatement
from canteen.settings import get_settings

Req = Request[Any, Any, Any]
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
MonthQuery = Annotated[
    str | None, QueryParameter(pattern=r"^(20[0-9]{2})-(0[1-9]|1[0-2])$", description="YYYY-MM")
]


def _today() -> dt.date:
    return local_date(utcnow(), get_settings().tz)


class CoverageController(Controller):
    path = "/api/v1"
    tags = ["reports"]

    @get(
        "/districts/{district_id:int}/coverage",
        guards=[roles(OFFICIAL)],
        summary="Coverage of the meal circle: share of eligible elders within reach, the next point",
        description="An eligible elder (a subsidy category, or 60+) with a location is *covered* when an "
        "open meal point lies within that point's `service_radius_m` of walking (the district's radius "
        "unless the site sets its own; walking = straight line × `detour_factor`). `suggestion` is the "
        "place for one more point that would cover the most uncovered elders, as the latest finished "
        "`POST …/coverage/next-point` job found it (`run_id`, `suggested_at`); null until one has run.",
        responses=errors("not_found"),
    )
    async def coverage(self, request: Req, district_id: PathId) -> CoverageView:
        return await services.coverage_report(principal_of(request), district_id, _today())

    @post(
        "/districts/{district_id:int}/coverage/next-point",
        guards=[roles(OFFICIAL)],
        status_code=202,
        summary="Find the place for the next meal point, as a job",
        description="Answers 202 with the job run (`Location: /api/v1/jobs/{id}`). When it is `done`, "
        "its `result.suggestion` is the place (`lat`, `lon`, `covers`: uncovered eligible elders it "
        "would bring within reach, `near_community`), or null when every located eligible elder is "
        "covered; `GET …/coverage` shows the latest one. Asking again the same day while one runs "
        "joins it.",
        responses=errors("not_found"),
    )
    async def next_point(self, request: Req, district_id: PathId) -> Response[JobRunOut]:
        run = await services.start_next_point(principal_of(request), district_id, _today())
        return accepted(run)

    @get(
        "/districts/{district_id:int}/inter-district",
        guards=[roles(OFFICIAL, CITY_OFFICIAL)],
        summary="The month's inter-district statement: residents' meals elsewhere, visitors' meals here",
        description="补贴跟着人走: an elder is priced by the home district's policy at any point of the "
        "city and the home district's funders owe the subsidy. `residents_away` lists this district's "
        "residents served at other districts' points (this district owes each host `owed_fen`: its own "
        "funders' shares of the meal and delivery subsidies, not the city-wide funders' in "
        "`city_wide_sources`); "
        "`visitors` lists other districts' residents served here (their home districts owe this one). "
        "One line per home district × point. For the district's officials, a city official of its "
        "city, or an admin; `month` defaults to the last complete month. Money in fen.",
        responses=errors("not_found"),
    )
    async def inter_district(
        self, request: Req, district_id: PathId, month: MonthQuery = None
    ) -> InterDistrictStatement:
        today = _today()
        chosen = month or last_complete_month(today)
        return await services.inter_district_statement(
            principal_of(request), district_id, chosen, today=today
        )


class CityController(Controller):
    path = "/api/v1/cities"
    tags = ["reports"]

    @get(
        "/{city_id:int}/overview",
        guards=[roles(CITY_OFFICIAL)],
        summary="Every district of a city in a month: points, grades, meals, subsidy by funder",
        description="For a city official (or an admin). `month` defaults to the last complete month. "
        "Each district's figures are the sums of its own month overview (the district dashboard).",
        responses=errors("not_found"),
    )
    async def overview(self, request: Req, city_id: PathId, month: MonthQuery = None) -> CityOverview:
        today = _today()
        chosen = month or last_complete_month(today)
        return await services.city_overview(principal_of(request), city_id, chosen, today=today)


CONTROLLERS: list[type[Controller]] = [CoverageController, CityController]
