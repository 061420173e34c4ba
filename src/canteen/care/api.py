"""Welfare visits over JSON: the district's visit rules, the plan, coverage, visits and hours."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import COMMUNITY_WORKER, OFFICIAL, VOLUNTEER
from canteen.care import visits
from canteen.care.visits import (
    VisitCoverage,
    VisitIn,
    VisitPlan,
    VisitRuleIn,
    VisitRuleUpdate,
    VisitRuleView,
    VisitView,
    VolunteerHours,
)
from canteen.core.apidocs import errors

OptId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None
Months = Annotated[int, msgspec.Meta(ge=1, le=36)]
VISITORS = (OFFICIAL, COMMUNITY_WORKER, VOLUNTEER)


class VisitRulesController(Controller):
    path = "/api/v1/districts/{district_id:int}"
    tags = ["care"]

    @get(
        "/visit-rules",
        guards=[roles(OFFICIAL)],
        summary="The district's welfare visit rules (who is visited how often)",
        responses=errors("not_found"),
    )
    async def list_rules(
        self, request: Request[Any, Any, Any], district_id: FromPath[int]
    ) -> list[VisitRuleView]:
        return await visits.list_rules(principal_of(request), district_id)

    @post(
        "/visit-rules",
        guards=[roles(OFFICIAL)],
        summary="Add a visit rule: categories and/or living alone and/or a minimum age, every N days",
        responses=errors("not_found", "unknown_category", "visit_rule_empty"),
    )
    async def create_rule(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[VisitRuleIn]
    ) -> VisitRuleView:
        return await visits.create_rule(principal_of(request), district_id, data)

    @put(
        "/visit-rules/{rule_id:int}",
        guards=[roles(OFFICIAL)],
        summary="Change a visit rule or switch it off (the version read must still be current)",
        responses=errors("not_found", "unknown_category", "visit_rule_empty", "visit_rule_changed"),
    )
    async def update_rule(
        self,
        request: Request[Any, Any, Any],
        district_id: FromPath[int],
        rule_id: FromPath[int],
        data: JSONBody[VisitRuleUpdate],
    ) -> VisitRuleView:
        return await visits.update_rule(principal_of(request), district_id, rule_id, data)

    @get(
        "/visit-plan",
        guards=[roles(*VISITORS)],
        summary="The visit plan of the caller's communities in the district, overdue elders first",
        responses=errors("not_found"),
    )
    async def plan(
        self,
        request: Request[Any, Any, Any],
        district_id: FromPath[int],
        community_id: FromQuery[OptId] = None,
        on: FromQuery[dt.date | None] = None,
    ) -> VisitPlan:
        return await visits.visit_plan(principal_of(request), district_id, community_id=community_id, on=on)

    @get(
        "/visit-coverage",
        guards=[roles(OFFICIAL)],
        summary="Per community: elders planned, visited on time, overdue, coverage share",
        responses=errors("not_found"),
    )
    async def coverage(
        self,
        request: Request[Any, Any, Any],
        district_id: FromPath[int],
        on: FromQuery[dt.date | None] = None,
    ) -> VisitCoverage:
        return await visits.visit_coverage(principal_of(request), district_id, on=on)


class VisitsController(Controller):
    path = "/api/v1"
    tags = ["care"]

    @post(
        "/elders/{elder_id:int}/visits",
        guards=[roles(*VISITORS)],
        summary="Record a welfare visit (attention/urgent notify; urgent raises an alert)",
        responses=errors("not_found", "visit_elder_inactive"),
    )
    async def record(
        self, request: Request[Any, Any, Any], elder_id: FromPath[int], data: JSONBody[VisitIn]
    ) -> VisitView:
        return await visits.record_visit(principal_of(request), elder_id, data)

    @get(
        "/elders/{elder_id:int}/visits",
        guards=[roles(*VISITORS)],
        summary="An elder's latest visits, the courier's door checks included",
        responses=errors("not_found"),
    )
    async def list_visits(self, request: Request[Any, Any, Any], elder_id: FromPath[int]) -> list[VisitView]:
        return await visits.elder_visits(principal_of(request), elder_id)

    @get(
        "/me/visit-hours",
        guards=[roles(*VISITORS)],
        summary="The caller's own visits and minutes per month (volunteer hours)",
        responses=errors(),
    )
    async def hours(self, request: Request[Any, Any, Any], months: FromQuery[Months] = 12) -> VolunteerHours:
        return await visits.volunteer_hours(principal_of(request), months=months)


CONTROLLERS = [VisitRulesController, VisitsController]
