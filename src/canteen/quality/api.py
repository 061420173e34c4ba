"""Ratings from the counter keypad and the courier; claim checks for officials."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.accounts.roles import CASHIER, COURIER, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.quality import complaints, jobs, services, survey
from canteen.quality.schemas import (
    ComplaintIn,
    ComplaintList,
    ComplaintStatus,
    ComplaintView,
    DecisionIn,
    FlagList,
    FlagMeals,
    FlagView,
    RatingIn,
    RatingOut,
    ReplyIn,
    ReviewIn,
    ReviewOut,
    RunIn,
    StatusIn,
    SurveyAnswerView,
    SurveyIn,
    SurveyResultList,
    SurveyResults,
    ThresholdsIn,
    ThresholdsView,
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
        status_code=202,
        summary="Queue the claim checks over a month (job quality.claim_checks); findings become flags",
        description="Answers 202 with the run; follow Location (GET /api/v1/jobs/{id}) to its result.",
        responses=errors("not_found", "invalid_month"),
    )
    async def run(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[RunIn]
    ) -> Response[JobRunOut]:
        return accepted(await jobs.start_claim_checks(principal_of(request), district_id, data.month))

    @get(
        "/districts/{district_id:int}/claim-check-settings",
        summary="The district's claim-check thresholds (defaults until its official sets them)",
        responses=errors("not_found"),
    )
    async def settings(self, request: Request[Any, Any, Any], district_id: FromPath[int]) -> ThresholdsView:
        return await services.claim_settings(principal_of(request), district_id)

    @put(
        "/districts/{district_id:int}/claim-check-settings",
        summary="Set the district's claim-check thresholds (audited); they apply from the next run",
        responses=errors("not_found", "threshold_out_of_range"),
    )
    async def set_settings(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[ThresholdsIn]
    ) -> ThresholdsView:
        values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        return await services.update_claim_settings(principal_of(request), district_id, values)

    @post(
        "/districts/{district_id:int}/claim-flags/review",
        status_code=200,
        summary="One decision with one reason for up to 5,000 open flags of the district, all or none",
        responses=errors("not_found", "flag_decided", "reason_required", "too_many_flags"),
    )
    async def review(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[ReviewIn]
    ) -> ReviewOut:
        return await services.review_flags(
            principal_of(request), district_id, data.flag_ids, data.decision, data.reason
        )

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


Quarter = Annotated[str | None, QueryParameter(pattern=r"^\d{4}-Q[1-4]$", max_length=7)]
OptDistrict = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]


class SurveyController(Controller):
    """Quarterly satisfaction survey per meal point (paper forms entered by staff; results)."""

    path = "/api/v1"
    tags = ["survey"]
    guards = [roles(OPERATOR, OFFICIAL)]

    @post(
        "/sites/{site_id:int}/survey-answers",
        summary="Enter a paper survey answer; per elder, point and quarter a second replaces the first",
        responses=errors("not_found", "invalid_quarter", "validation_failed"),
    )
    async def answer(
        self, request: Request[Any, Any, Any], site_id: FromPath[int], data: JSONBody[SurveyIn]
    ) -> SurveyAnswerView:
        scores = {d: getattr(data, d) for d in survey.DIMENSIONS}
        return await survey.answer_survey(
            principal_of(request),
            site_id,
            scores,
            comment=data.comment,
            elder_id=data.elder_id,
            quarter=data.quarter,
        )

    @get(
        "/sites/{site_id:int}/survey-results",
        summary="A point's survey results for a quarter (default: this one), the faces beside",
        responses=errors("not_found", "invalid_quarter"),
    )
    async def site_results(
        self, request: Request[Any, Any, Any], site_id: FromPath[int], quarter: Quarter = None
    ) -> SurveyResults:
        return await survey.site_results(principal_of(request), site_id, quarter or survey.current_quarter())

    @get(
        "/districts/{district_id:int}/survey-results",
        summary="Survey results of every meal point of a district for a quarter",
        responses=errors("not_found", "invalid_quarter"),
    )
    async def district_results(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], quarter: Quarter = None
    ) -> SurveyResultList:
        return SurveyResultList(
            items=await survey.district_results(
                principal_of(request), district_id, quarter or survey.current_quarter()
            )
        )


class ComplaintController(Controller):
    """Complaints about meal points: filed on an elder's behalf, replied to, moved along their status."""

    path = "/api/v1"
    tags = ["complaints"]
    guards = [roles(OPERATOR, OFFICIAL)]

    @post(
        "/sites/{site_id:int}/complaints",
        summary="File a complaint about a point on an elder's behalf",
        responses=errors("not_found", "validation_failed"),
    )
    async def file(
        self, request: Request[Any, Any, Any], site_id: FromPath[int], data: JSONBody[ComplaintIn]
    ) -> ComplaintView:
        return await complaints.file_complaint(
            principal_of(request), site_id, data.category, data.text, elder_id=data.elder_id
        )

    @get(
        "/complaints",
        summary="Complaints the caller may see (officials: the district; operators: their points)",
        responses=errors("not_found", "validation_failed"),
    )
    async def list_(
        self,
        request: Request[Any, Any, Any],
        district_id: OptDistrict = None,
        status: FromQuery[ComplaintStatus | None] = None,
    ) -> ComplaintList:
        return await complaints.for_staff(principal_of(request), district_id=district_id, status=status)

    @get(
        "/complaints/{complaint_id:int}",
        summary="One complaint with its replies",
        responses=errors("not_found"),
    )
    async def one(self, request: Request[Any, Any, Any], complaint_id: FromPath[int]) -> ComplaintView:
        return await complaints.get_complaint(principal_of(request), complaint_id)

    @post(
        "/complaints/{complaint_id:int}/replies",
        summary="Reply to a complaint; it becomes replied and the complainant sees the reply",
        responses=errors("not_found", "complaint_bad_transition", "validation_failed"),
    )
    async def reply(
        self, request: Request[Any, Any, Any], complaint_id: FromPath[int], data: JSONBody[ReplyIn]
    ) -> ComplaintView:
        return await complaints.reply(principal_of(request), complaint_id, data.text)

    @post(
        "/complaints/{complaint_id:int}/status",
        status_code=200,
        summary="Move a complaint along open → in_progress → replied → closed",
        responses=errors("not_found", "complaint_bad_transition"),
    )
    async def status(
        self, request: Request[Any, Any, Any], complaint_id: FromPath[int], data: JSONBody[StatusIn]
    ) -> ComplaintView:
        return await complaints.set_status(principal_of(request), complaint_id, data.status)


CONTROLLERS = [RatingController, ClaimController, SurveyController, ComplaintController]
