"""Delivery orders over JSON, for staff ordering on an elder's behalf and for integrations."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

import canteen.checkin.services
import canteen.menus.services
import canteen.payments.ledger  # noqa: F401 - registers the codes the services raise
from canteen.accounts.context import principal_of
from canteen.accounts.guards import roles
from canteen.accounts.passwords import check_policy
from canteen.accounts.roles import ADMIN, COURIER, KITCHEN, OFFICIAL, OPERATOR
from canteen.core.apidocs import errors
from canteen.core.clock import utcnow
from canteen.core.idempotency import require_key
from canteen.core.schemas import Id, IdempotencyKeyHeader
from canteen.orders import services
from canteen.orders.schemas import (
    CancelIn,
    CardPaymentIn,
    CardPaymentOut,
    CardTopupIn,
    CardTopupOut,
    CreatedId,
    FamilyAccountIn,
    FamilyLinkIn,
    OrderIn,
    OrderList,
    OrderOut,
    StandingOrderIn,
    StandingOrderList,
    StandingOrderOut,
    StatusIn,
)

PLACE_CODES = (
    "not_found",
    "not_eligible_for_delivery",
    "service_paused",
    "site_not_open",
    "no_menu",
    "order_cutoff_passed",
    "already_served",
    "sold_out",
    "insufficient_balance",
    "allergen_conflict",
    "allergen_override_not_allowed",
    "allergen_override_reason_required",
    "idempotency_key_missing",
    "idempotency_key_invalid",
    "idempotency_key_reused",
    "not_authenticated",
    "forbidden",
)

ElderQuery = Annotated[int, Parameter(ge=1, le=2_147_483_647)]


class OrdersController(Controller):
    path = "/api/v1/orders"
    tags = ["delivery"]
    guards = [roles(ADMIN, OFFICIAL)]

    @post(
        "/",
        summary="Place a delivery order for an elder (Idempotency-Key required)",
        responses=errors(*PLACE_CODES),
    )
    async def place(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OrderIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[OrderOut]:
        key = require_key(idempotency_key)
        status, body = await services.place_order(
            principal_of(request),
            elder_id=data.elder_id,
            site_id=data.site_id,
            day=data.service_date,
            slot=data.slot,
            meal_set_id=data.meal_set_id,
            payment=data.payment,
            now=utcnow(),
            idempotency_key=key,
            allergen_override_reason=data.allergen_override_reason,
        )
        return Response(body, status_code=status)

    @get(
        "/",
        summary="An elder's delivery orders, newest first",
        responses=errors("not_found", "not_authenticated", "forbidden"),
    )
    async def list_(self, request: Request[Any, Any, Any], elder_id: FromQuery[ElderQuery]) -> OrderList:
        return OrderList(await services.list_orders(principal_of(request), elder_id))

    @get(
        "/{order_id:int}",
        summary="One order",
        responses=errors("not_found", "not_authenticated", "forbidden"),
    )
    async def one(self, request: Request[Any, Any, Any], order_id: FromPath[Id]) -> OrderOut:
        return await services.get_order(principal_of(request), order_id)

    @post(
        "/{order_id:int}/cancel",
        summary="Cancel before cut-off; the money goes back where it came from",
        status_code=200,
        responses=errors(
            "not_found",
            "order_not_cancellable",
            "order_cutoff_passed",
            "card_payment_failed",
            "not_authenticated",
            "forbidden",
        ),
    )
    async def cancel(
        self, request: Request[Any, Any, Any], order_id: FromPath[Id], data: JSONBody[CancelIn]
    ) -> OrderOut:
        return await services.cancel_order(principal_of(request), order_id, reason=data.reason, now=utcnow())

    @post(
        "/{order_id:int}/card-payment",
        summary="Create (and optionally confirm) the card payment of an order; the webhook settles it",
        status_code=200,
        responses=errors(
            "not_found",
            "payment_not_pending",
            "card_not_configured",
            "card_payment_failed",
            "not_authenticated",
            "forbidden",
        ),
    )
    async def card_payment(
        self, request: Request[Any, Any, Any], order_id: FromPath[Id], data: JSONBody[CardPaymentIn]
    ) -> CardPaymentOut:
        out = await services.start_card_payment(
            principal_of(request),
            order_id,
            payment_method=data.payment_method,
            confirm=data.confirm,
            now=utcnow(),
        )
        return CardPaymentOut(**out)


class OrderStatusController(Controller):
    """Moving an order along is also the delivering site's work (operator, kitchen, courier)."""

    path = "/api/v1/orders"
    tags = ["delivery"]
    guards = [roles(ADMIN, OFFICIAL, OPERATOR, KITCHEN, COURIER)]

    @post(
        "/{order_id:int}/status",
        summary="Move an order along (confirmed, cooking, out for delivery, delivered, not delivered)",
        status_code=200,
        responses=errors("not_found", "order_bad_transition", "not_authenticated", "forbidden"),
    )
    async def status(
        self, request: Request[Any, Any, Any], order_id: FromPath[Id], data: JSONBody[StatusIn]
    ) -> OrderOut:
        return await services.set_status(
            principal_of(request), order_id, data.status, reason=data.reason, now=utcnow()
        )


class StandingOrdersController(Controller):
    path = "/api/v1/standing-orders"
    tags = ["delivery"]
    guards = [roles(ADMIN, OFFICIAL)]

    @post(
        "/",
        summary="A weekly standing order",
        responses=errors(
            "not_found", "not_eligible_for_delivery", "allergen_conflict", "not_authenticated", "forbidden"
        ),
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[StandingOrderIn]
    ) -> StandingOrderOut:
        return await services.create_standing_order(principal_of(request), data, now=utcnow())

    @get(
        "/",
        summary="An elder's standing orders",
        responses=errors("not_found", "not_authenticated", "forbidden"),
    )
    async def list_(
        self, request: Request[Any, Any, Any], elder_id: FromQuery[ElderQuery]
    ) -> StandingOrderList:
        return StandingOrderList(await services.list_standing_orders(principal_of(request), elder_id))

    @post(
        "/{standing_id:int}/stop",
        summary="Stop a standing order",
        status_code=204,
        responses=errors("not_found", "not_authenticated", "forbidden"),
    )
    async def stop(self, request: Request[Any, Any, Any], standing_id: FromPath[Id]) -> None:
        await services.stop_standing_order(principal_of(request), standing_id, now=utcnow())


class FamilyController(Controller):
    """Family accounts and their links to elders (with the elder's consent), by staff."""

    path = "/api/v1/family-accounts"
    tags = ["delivery"]
    guards = [roles(ADMIN, OFFICIAL)]

    @post(
        "/",
        summary="Create a family member's account (phone + password)",
        responses=errors("duplicate", "password_too_weak"),
    )
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[FamilyAccountIn]) -> CreatedId:
        check_policy(data.password, data.phone)
        return CreatedId(
            await services.create_family_account(
                principal_of(request), phone=data.phone, password=data.password, name=data.name, now=utcnow()
            )
        )

    @post(
        "/{family_id:int}/links",
        summary="Link the account to an elder, recording the elder's consent",
        responses=errors("not_found", "duplicate"),
    )
    async def link(
        self, request: Request[Any, Any, Any], family_id: FromPath[Id], data: JSONBody[FamilyLinkIn]
    ) -> CreatedId:
        return CreatedId(
            await services.link_family(
                principal_of(request), family_id, data.elder_id, consent_note=data.consent_note, now=utcnow()
            )
        )


class CardTopupController(Controller):
    path = "/api/v1/elders"
    tags = ["delivery"]
    guards = [roles(ADMIN, OFFICIAL)]

    @post(
        "/{elder_id:int}/card-topups",
        status_code=200,
        summary="Top up a balance by card; the verified webhook credits it",
        responses=errors(
            "not_found",
            "invalid_amount",
            "card_not_configured",
            "card_payment_failed",
            "idempotency_key_missing",
            "idempotency_key_invalid",
        ),
    )
    async def card_topup(
        self,
        request: Request[Any, Any, Any],
        elder_id: FromPath[Id],
        data: JSONBody[CardTopupIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> CardTopupOut:
        out = await services.start_card_topup(
            principal_of(request),
            elder_id,
            data.amount_fen,
            idempotency_key=require_key(idempotency_key),
            payment_method=data.payment_method,
            confirm=data.confirm,
            now=utcnow(),
        )
        return CardTopupOut(**out)


CONTROLLERS = [
    OrdersController,
    OrderStatusController,
    StandingOrdersController,
    FamilyController,
    CardTopupController,
]
