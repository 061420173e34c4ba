"""The payment-provider interface: orders talk to this, never to a provider's SDK.

Adding WeChat Pay, Alipay or UnionPay means one more implementation of
:class:`PaymentProvider`; orders, webhooks and the ledger stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Intent:
    provider: str
    provider_id: str
    status: str  # created | requires_action | processing | succeeded | failed | canceled
    amount_fen: int
    client_secret: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refund:
    provider_id: str
    intent_id: str
    status: str  # succeeded | pending | failed
    amount_fen: int


@dataclass(frozen=True, slots=True)
class ProviderEventData:
    """A verified webhook event, reduced to what we act on."""

    provider: str
    event_id: str
    type: str  # payment.succeeded | payment.failed | refund.succeeded | other
    provider_type: str  # the provider's own name, e.g. payment_intent.succeeded
    intent_id: str
    amount_fen: int
    metadata: dict[str, str]
    raw: dict[str, Any]


class WebhookRejected(Exception):
    """The payload or its signature did not verify."""


class PaymentProvider(Protocol):
    name: str

    def create(
        self,
        *,
        amount_fen: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> Intent: ...

    def confirm(self, intent_id: str) -> Intent: ...

    def refund(self, intent_id: str, *, amount_fen: int | None, idempotency_key: str) -> Refund: ...

    def parse_webhook(self, body: bytes, signature: str) -> ProviderEventData: ...
