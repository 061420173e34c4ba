"""The counter over JSON: scanners and the cashier page call the same service."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.channels import ChannelsPlugin
from litestar.params import FromQuery, JSONBody
from litestar.response import ServerSentEvent

import canteen.menus.services
import canteen.payments.ledger
import canteen.registry.cards  # noqa: F401 - registers the card codes
from canteen.accounts.context import count_typed_lookup, lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CASHIER, OFFICIAL, OPERATOR
from canteen.checkin import services
from canteen.checkin.schemas import (
    CheckinIn,
    CheckinOut,
    DistrictToday,
    ManualCheckinIn,
    PreviewOut,
    Tally,
    VoidIn,
    VoidOut,
    WalkInIn,
)
from canteen.core import events
from canteen.core.apidocs import errors
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.idempotency import require_key
from canteen.core.schemas import DeviceHeader, IdempotencyKeyHeader, PathId
from canteen.registry.cards import looks_like_token
from canteen.settings import get_settings

IdemKey = IdempotencyKeyHeader
Device = DeviceHeader

CHECKIN_CODES = (
    "card_other_city",
    "invalid_card",
    "invalid_card_number",
    "card_revoked",
    "elder_inactive",
    "already_served",
    "insufficient_balance",
    "slot_closed",
    "sold_out",
    "site_forbidden",
    "site_not_open",
    "no_menu",
    "not_found",
    "one_item_per_meal",
    "allergen_conflict",
    "allergen_override_reason_required",
    "idempotency_key_missing",
    "idempotency_key_invalid",
    "idempotency_key_reused",
)


async def _serve(
    request: Request[Any, Any, Any],
    data: CheckinIn | ManualCheckinIn,
    idempotency_key: str | None,
    device: str | None,
    **who: Any,
) -> Response[CheckinOut]:
    """Both check-in routes: the card's and the manual look-up's, one service call."""
    status, body = await services.check_in(
        principal_of(request),
        site_id=data.site_id,
        slot=data.slot,
        items=data.items,
        payment=data.payment,
        full_price_ok=data.full_price_ok,
        allergen_override_reason=data.allergen_override_reason,
        device=device or "",
        idempotency_key=require_key(idempotency_key),
        lang=lang_of(request),
        **who,
    )
    return Response(body, status_code=status)


class CheckinController(Controller):
    path = "/api/v1"
    tags = ["counter"]
    guards = [roles(CASHIER, OPERATOR)]

    @post(
        "/checkins",
        summary="Scan a card and serve one meal (exactly once per Idempotency-Key)",
        responses=errors(*CHECKIN_CODES),
    )
    async def check_in(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CheckinIn],
        idempotency_key: IdemKey = None,
        device: Device = None,
    ) -> Response[CheckinOut]:
        if not looks_like_token(data.card):
            await count_typed_lookup(request)  # a typed card number: counted, a signed scan is not
        return await _serve(request, data, idempotency_key, device, card=data.card)

    @post(
        "/checkins/manual",
        summary="Serve an elder found by name/ID when the card fails (logged with a reason)",
        responses=errors(*CHECKIN_CODES, "manual_reason_required"),
    )
    async def manual(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ManualCheckinIn],
        idempotency_key: IdemKey = None,
        device: Device = None,
    ) -> Response[CheckinOut]:
        return await _serve(
            request, data, idempotency_key, device, elder_id=data.elder_id, manual_reason=data.reason
        )

    @post(
        "/checkins/preview",
        status_code=200,
        summary="What a scan would charge; writes nothing",
        responses=errors(*CHECKIN_CODES),
    )
    async def preview(self, request: Request[Any, Any, Any], data: JSONBody[CheckinIn]) -> PreviewOut:
        if not looks_like_token(data.card):
            await count_typed_lookup(request)
        return await services.preview(
            principal_of(request),
            site_id=data.site_id,
            card=data.card,
            slot=data.slot,
            items=data.items,
            payment=data.payment,
            lang=lang_of(request),
        )

    @post(
        "/walk-ins",
        summary="Sell a meal at the list price to a non-member (cash)",
        responses=errors(
            "slot_closed",
            "sold_out",
            "site_forbidden",
            "site_not_open",
            "no_menu",
            "not_found",
            "one_item_per_meal",
            "idempotency_key_missing",
            "idempotency_key_invalid",
            "idempotency_key_reused",
        ),
    )
    async def walk_in(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WalkInIn],
        idempotency_key: IdemKey = None,
        device: Device = None,
    ) -> Response[CheckinOut]:
        status, body = await services.sell_walk_in(
            principal_of(request),
            site_id=data.site_id,
            slot=data.slot,
            items=data.items,
            device=device or "",
            idempotency_key=require_key(idempotency_key),
            lang=lang_of(request),
        )
        return Response(body, status_code=status)

    @post(
        "/meals/{meal_id:int}/void",
        status_code=200,
        summary="Void a meal (cashier within the site's window, operator later); frees the subsidy",
        responses=errors("not_found", "already_voided", "void_window_passed"),
    )
    async def void(self, request: Request[Any, Any, Any], meal_id: PathId, data: JSONBody[VoidIn]) -> VoidOut:
        return await services.void_meal(principal_of(request), meal_id, data.reason)


class TallyController(Controller):
    path = "/api/v1/sites"
    tags = ["counter"]
    guards = [roles(CASHIER, OPERATOR, OFFICIAL)]

    @get(
        "/{site_id:int}/tally",
        summary="Today's meals, subsidies and cash at a site",
        responses=errors("not_found"),
    )
    async def tally(
        self, request: Request[Any, Any, Any], site_id: PathId, date: FromQuery[dt.date | None] = None
    ) -> Tally:
        day = date or utcnow().astimezone(get_settings().tz).date()
        return await services.tally(principal_of(request), site_id, day)

    @get(
        "/{site_id:int}/live",
        summary="Server-sent events: each check-in and void at this site",
        responses=errors("not_found"),
    )
    async def live(self, request: Request[Any, Any, Any], site_id: PathId) -> ServerSentEvent:
        actor = principal_of(request)
        site = await services.site_info(site_id)
        if not actor.can_site(site.id, site.district_id):
            raise DomainError("not_found", {"site_id": site_id})
        return ServerSentEvent(_stream(request, [events.site_channel(site_id)]))


class DistrictTodayController(Controller):
    path = "/api/v1/districts"
    tags = ["counter"]
    guards = [roles(OFFICIAL)]

    @get(
        "/{district_id:int}/today",
        summary="Meals so far today at each meal point of a district",
        responses=errors("not_found"),
    )
    async def today(self, request: Request[Any, Any, Any], district_id: PathId) -> DistrictToday:
        day = utcnow().astimezone(get_settings().tz).date()
        return await services.district_today(principal_of(request), district_id, day)

    @get(
        "/{district_id:int}/live",
        summary="Server-sent events: every check-in and void in the district",
        responses=errors("not_found"),
    )
    async def live(self, request: Request[Any, Any, Any], district_id: PathId) -> ServerSentEvent:
        if not principal_of(request).can_district(district_id):
            raise DomainError("not_found", {"district_id": district_id})
        return ServerSentEvent(_stream(request, [events.district_channel(district_id)]))


def _stream(request: Request[Any, Any, Any], channels: list[str]) -> AsyncGenerator[Any, None]:
    # Events plus a live/paused status the pages show (core.events.stream).
    return events.stream(request.app.plugins.get(ChannelsPlugin), channels)


CONTROLLERS = [CheckinController, TallyController, DistrictTodayController]
