"""Kitchen plans, courier rounds, proof of delivery and alerts over JSON."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

import canteen.registry.cards  # noqa: F401 - registers the card codes resolve_card raises
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.accounts.roles import COURIER, KITCHEN, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.core.clock import utcnow
from canteen.delivery import services
from canteen.delivery.schemas import (
    AcknowledgeIn,
    AlertList,
    AlertView,
    DeliverIn,
    FailIn,
    Label,
    Manifest,
    MissedMealIn,
    MissedMealOut,
    PackingRound,
    ProductionPlan,
    RoundList,
    RoundPlanIn,
    RoundSummary,
    StopView,
    WelfareIn,
    WelfareOut,
)
from canteen.settings import get_settings

SlotQ = Literal["breakfast", "lunch", "dinner"]
CARD_CODES = (
    "invalid_card",
    "invalid_card_number",
    "card_revoked",
    "card_mismatch",
    "stop_closed",
    "delivery_too_early",
    "not_found",
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


class KitchenController(Controller):
    path = "/api/v1/kitchens"
    tags = ["delivery"]
    guards = [roles(KITCHEN, OPERATOR, OFFICIAL)]

    @get(
        "/{site_id:int}/plan",
        summary="Production plan: portions per set, diet and destination",
        responses=errors("not_found", "no_kitchen"),
    )
    async def plan(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[int],
        date: FromQuery[dt.date],
        slot: FromQuery[SlotQ],
    ) -> ProductionPlan:
        return await services.production_plan(principal_of(request), site_id, date, slot)

    @get("/{site_id:int}/labels", summary="One label per delivery cooked here", responses=errors("not_found"))
    async def labels(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[int],
        date: FromQuery[dt.date],
        slot: FromQuery[SlotQ],
    ) -> list[Label]:
        return await services.labels(principal_of(request), site_id, date, slot)

    @get("/{site_id:int}/packing", summary="Packing list per round", responses=errors("not_found"))
    async def packing(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[int],
        date: FromQuery[dt.date],
        slot: FromQuery[SlotQ],
    ) -> list[PackingRound]:
        return await services.packing_lists(principal_of(request), site_id, date, slot)

    @get(
        "/{site_id:int}/plan.xlsx",
        summary="Plan, labels and packing lists as XLSX",
        responses=errors("not_found", "no_kitchen"),
        media_type=XLSX,
    )
    async def xlsx(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[int],
        date: FromQuery[dt.date],
        slot: FromQuery[SlotQ],
    ) -> Response[bytes]:
        body = await services.plan_xlsx(principal_of(request), site_id, date, slot, lang=lang_of(request))
        name = f"plan-{site_id}-{date.isoformat()}-{slot}.xlsx"
        return Response(
            body, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{name}"'}
        )


class RoundsController(Controller):
    path = "/api/v1"
    tags = ["delivery"]

    @post(
        "/sites/{site_id:int}/rounds",
        guards=[roles(KITCHEN, OPERATOR, OFFICIAL)],
        status_code=202,
        summary="Plan the day's courier rounds from a kitchen or meal point (OR-Tools routing), as a job",
        description="Answers 202 with the job run (`Location: /api/v1/jobs/{id}`): the plan takes seconds "
        "of solver time. Follow the run until `status` is `done`: its `result` holds the plan (`rounds`, "
        "`unassigned_order_ids`, `planned_distance_m`, `baseline_distance_m`) and `url`, the page of the "
        "rounds. Asking again for the same site, day and slot while a plan runs joins it; planning again "
        "later replaces the rounds still planned (`rounds_changed`, on the run, if a round left meanwhile).",
        responses=errors("not_found", "courier_not_allowed"),
    )
    async def plan_rounds(
        self, request: Request[Any, Any, Any], site_id: FromPath[int], data: JSONBody[RoundPlanIn]
    ) -> Response[JobRunOut]:
        run = await services.start_plan_rounds(
            principal_of(request),
            site_id,
            data.service_date,
            data.slot,
            data.couriers,
            data.capacity,
            data.window_minutes,
        )
        return accepted(run)

    @get(
        "/rounds",
        guards=[roles(COURIER, KITCHEN, OPERATOR, OFFICIAL)],
        summary="Rounds on a day: a courier's own, or a site's",
        responses=errors("not_found"),
    )
    async def list_rounds(
        self,
        request: Request[Any, Any, Any],
        date: FromQuery[dt.date | None] = None,
        site_id: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None] = None,
    ) -> RoundList:
        return await services.list_rounds(principal_of(request), date or _today(), site_id=site_id)

    @get(
        "/rounds/{round_id:int}",
        guards=[roles(COURIER, KITCHEN, OPERATOR, OFFICIAL)],
        summary="A round's manifest in stop order",
        responses=errors("not_found"),
    )
    async def manifest(self, request: Request[Any, Any, Any], round_id: FromPath[int]) -> Manifest:
        return await services.manifest(principal_of(request), round_id)

    @post(
        "/rounds/{round_id:int}/start",
        status_code=200,
        guards=[roles(COURIER)],
        summary="The courier leaves: orders are out for delivery",
        responses=errors("not_found"),
    )
    async def start(self, request: Request[Any, Any, Any], round_id: FromPath[int]) -> RoundSummary:
        return await services.start_round(principal_of(request), round_id)

    @get(
        "/stops/{stop_id:int}",
        guards=[roles(COURIER, KITCHEN, OPERATOR, OFFICIAL)],
        summary="One stop, with the emergency contact",
        responses=errors("not_found"),
    )
    async def stop(self, request: Request[Any, Any, Any], stop_id: FromPath[int]) -> StopView:
        return await services.stop_view(principal_of(request), stop_id)

    @post(
        "/stops/{stop_id:int}/deliver",
        status_code=200,
        guards=[roles(COURIER)],
        summary="Proof of delivery: the elder's card scanned at the door",
        responses=errors(*CARD_CODES),
    )
    async def deliver(
        self, request: Request[Any, Any, Any], stop_id: FromPath[int], data: JSONBody[DeliverIn]
    ) -> StopView:
        return await services.deliver_stop(principal_of(request), stop_id, data.card)

    @post(
        "/stops/{stop_id:int}/fail",
        status_code=200,
        guards=[roles(COURIER)],
        summary="Not home or refused, with the reason",
        responses=errors("not_found", "stop_closed", "delivery_too_early"),
    )
    async def fail(
        self, request: Request[Any, Any, Any], stop_id: FromPath[int], data: JSONBody[FailIn]
    ) -> StopView:
        return await services.fail_stop(principal_of(request), stop_id, data.outcome, data.reason)

    @post(
        "/stops/{stop_id:int}/welfare",
        guards=[roles(COURIER)],
        summary="Welfare check at the door; urgent raises a live alert",
        responses=errors("not_found"),
    )
    async def welfare(
        self, request: Request[Any, Any, Any], stop_id: FromPath[int], data: JSONBody[WelfareIn]
    ) -> WelfareOut:
        return await services.record_welfare(principal_of(request), stop_id, data.level, data.note)


class AlertsController(Controller):
    path = "/api/v1"
    tags = ["delivery"]
    guards = [roles(OFFICIAL)]

    @get(
        "/districts/{district_id:int}/alerts",
        summary="Welfare and missed-meal alerts, per community",
        responses=errors("not_found"),
    )
    async def list_alerts(
        self,
        request: Request[Any, Any, Any],
        district_id: FromPath[int],
        status: FromQuery[Literal["open", "acknowledged", "closed"] | None] = None,
    ) -> AlertList:
        return await services.list_alerts(principal_of(request), district_id, status=status)

    @post(
        "/alerts/{alert_id:int}/acknowledge",
        status_code=200,
        summary="Record what the community worker found (acknowledge or close)",
        responses=errors("not_found", "alert_closed"),
    )
    async def acknowledge(
        self, request: Request[Any, Any, Any], alert_id: FromPath[int], data: JSONBody[AcknowledgeIn]
    ) -> AlertView:
        return await services.acknowledge_alert(principal_of(request), alert_id, data.note, close=data.close)

    @post(
        "/districts/{district_id:int}/missed-meal-alerts",
        status_code=200,
        summary="Raise missed-meal alerts for a day and slot (run by a scheduler after the set time)",
        responses=errors("not_found", "missed_meal_too_early"),
    )
    async def missed(
        self, request: Request[Any, Any, Any], district_id: FromPath[int], data: JSONBody[MissedMealIn]
    ) -> MissedMealOut:
        return await services.check_missed_meals(
            principal_of(request), district_id, data.service_date, data.slot
        )


CONTROLLERS = [KitchenController, RoundsController, AlertsController]
