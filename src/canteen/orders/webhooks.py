"""Provider webhooks: verified, then applied exactly once by event id (orders.services).

The route lives in orders, not payments: what an event changes is an order's payment or an elder's
top-up, which orders' service applies, and payments sits below orders (see .importlinter)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post

from canteen.core.apidocs import errors
from canteen.core.errors import DomainError, register
from canteen.orders import services as order_services
from canteen.payments.providers.base import WebhookRejected
from canteen.payments.providers.stripe_provider import get_provider

register("webhook_rejected", 400)


class WebhookAck(msgspec.Struct):
    received: bool
    outcome: str


@post(
    "/api/v1/payments/stripe/webhook",
    summary="Stripe webhook (signature verified; idempotent by event id)",
    tags=["payments"],
    status_code=200,
    responses=errors("webhook_rejected", "card_not_configured"),
)
async def stripe_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
    body = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        provider = get_provider()
    except RuntimeError as exc:
        raise DomainError("card_not_configured") from exc
    try:
        event = provider.parse_webhook(body, signature)
    except WebhookRejected as exc:
        raise DomainError("webhook_rejected") from exc
    outcome = await order_services.handle_provider_event(event)
    return WebhookAck(True, outcome)


CONTROLLERS = [stripe_webhook]
