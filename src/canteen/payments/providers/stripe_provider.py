"""Stripe through its SDK (PaymentIntents). Tested against localstripe (see tests/stripe_emulator.py).

Emulator limits respected here: the payment method is attached when the intent is
created, no ``automatic_payment_methods`` or ``description``; SDK v16 objects are
not dicts (use attributes / ``to_dict()``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import stripe

from canteen.payments.providers.base import Intent, ProviderEventData, Refund, WebhookRejected
from canteen.settings import Settings, get_settings

_TYPES = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "charge.refunded": "refund.succeeded",
}


def _status(s: str) -> str:
    return {
        "requires_payment_method": "created",
        "requires_confirmation": "created",
        "requires_capture": "processing",
        "canceled": "canceled",
    }.get(s, s)


def _dict(obj: Any) -> dict[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        out: dict[str, Any] = to_dict()
        return out
    return dict(obj) if isinstance(obj, dict) else {}


class StripeProvider:
    name = "stripe"

    def __init__(self, settings: Settings | None = None) -> None:
        s = settings or get_settings()
        if not s.stripe_api_key or not s.stripe_webhook_secret:
            raise RuntimeError(
                "Stripe is not configured (CANTEEN_STRIPE_API_KEY / CANTEEN_STRIPE_WEBHOOK_SECRET)"
            )
        kwargs: dict[str, Any] = {"max_network_retries": 0}
        if s.stripe_api_base:
            kwargs["base_addresses"] = {"api": s.stripe_api_base}
        self.client = stripe.StripeClient(s.stripe_api_key, **kwargs)
        self.secret = s.stripe_webhook_secret

    def _intent(self, pi: Any) -> Intent:
        return Intent(
            provider=self.name,
            provider_id=pi.id,
            status=_status(pi.status),
            amount_fen=int(pi.amount),
            client_secret=getattr(pi, "client_secret", None),
            raw={"id": pi.id, "status": pi.status, "amount": pi.amount, "currency": pi.currency},
        )

    def create(
        self,
        *,
        amount_fen: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> Intent:
        params: Any = {
            "amount": amount_fen,
            "currency": currency,
            "metadata": metadata,
            "payment_method_types": ["card"],
        }
        if payment_method:
            params["payment_method"] = payment_method
        options: Any = {"idempotency_key": idempotency_key}
        pi = self.client.v1.payment_intents.create(params=params, options=options)
        return self._intent(pi)

    def confirm(self, intent_id: str) -> Intent:
        return self._intent(self.client.v1.payment_intents.confirm(intent_id))

    def refund(self, intent_id: str, *, amount_fen: int | None, idempotency_key: str) -> Refund:
        params: Any = {"payment_intent": intent_id}
        if amount_fen is not None:
            params["amount"] = amount_fen
        r = self.client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        return Refund(
            provider_id=r.id, intent_id=intent_id, status=r.status or "pending", amount_fen=int(r.amount)
        )

    def parse_webhook(self, body: bytes, signature: str) -> ProviderEventData:
        try:
            event = stripe.Webhook.construct_event(body, signature, self.secret)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise WebhookRejected(str(exc)) from exc
        obj = _dict(event.data.object) if getattr(event, "data", None) is not None else {}
        intent_id = ""
        if str(obj.get("object", "")) == "payment_intent":
            intent_id = str(obj.get("id", ""))
        elif obj.get("payment_intent"):
            intent_id = str(obj["payment_intent"])
        meta = obj.get("metadata") or {}
        return ProviderEventData(
            provider=self.name,
            event_id=str(event.id),
            type=_TYPES.get(str(event.type), "other"),
            provider_type=str(event.type),
            intent_id=intent_id,
            amount_fen=int(obj.get("amount") or 0),
            metadata={str(k): str(v) for k, v in dict(meta).items()},
            raw={"id": event.id, "type": event.type, "object_id": obj.get("id")},
        )


T = TypeVar("T")


async def off_loop(call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a provider call in a worker thread. The Stripe SDK is synchronous: each call waits
    on the network (seconds when Stripe is slow), and on the event loop that wait stalled
    every other request of the process, the counter's included."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


_override: Any = None


def get_provider() -> Any:
    """The configured card provider (tests may install another with :func:`set_provider`)."""
    if _override is not None:
        return _override
    return StripeProvider()


def set_provider(provider: Any) -> None:
    global _override
    _override = provider
