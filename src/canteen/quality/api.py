"""Ratings from the counter keypad and the courier; claim checks for officials."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CASHIER, COURIER, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.quality import services
from canteen.quality.schemas import (
    DecisionIn,
    FlagList,
    FlagMeals,
    FlagView,
    RatingIn,
    RatingOut,
    RunIn,
    RunOut,
)


class RatingController(Controller):
    path = "/api/v1"
    tags = ["quality"]
    guards = [roles(CASHIER, OPERATOR, COURIER)]

    @post(
        "/meals/{meal_id:int}/rating",
        summary="An elder rates a meal with three faces (1 unhappy, 2 neutral, 3 happy); once per meal",
        responses=errors("not_found", "already_rated", "meal_voided"),
    )
    async def rate(
        self, request: Request[Any, Any, Any], meal_id: FromPath[int], data: JSONBody[RatingIn]
    ) -> RatingOut:
        return await services.rate_meal(principal_of(request), meal_id, data.score, data.source)


class ClaimController(Controller):
    path = "/api/v1"
    tags = ["claims"]
    guards = [roles(OFFICIAL)]

    @post(
        "/districts/{district_id:int}/claim-checks",
        status_code=200,
        summary="Run the claim checks over a month; new findings become open flags",
        responses=errors("not_found", "invalid_month"),
    )
    async def run(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[RunIn]
    ) -> RunOut:
        return await services.run_claim_checks(principal_of(request), district_id, data.month)

    @get(
        "/districts/{district_id:int}/claim-flags",
        summary="The claim flags of a month",
        responses=errors("not_found", "invalid_month"),
    )
    async def flags(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], month: FromQuery[str]
    ) -> FlagList:
        return await services.list_flags(principal_of(request), district_id, month[:7])

    @get(
        "/claim-flags/{flag_id:int}", summary="A flag and the meals behind it", responses=errors("not_found")
    )
    async def flag(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> FlagMeals:
        return await services.flag_meals(principal_of(request), flag_id)

    @post(
        "/claim-flags/{flag_id:int}/decision",
        status_code=200,
        summary="Clear or uphold an open flag, with a reason",
        responses=errors("not_found", "flag_decided", "reason_required"),
    )
    async def decide(
        self, request: Request[Any, Any, Any], flag_id: FromPath[int], data: JSONBody[DecisionIn]
    ) -> FlagView:
        return await services.decide_flag(principal_of(request), flag_id, data.decision, data.reason)


CONTROLLERS = [RatingController, ClaimController]
