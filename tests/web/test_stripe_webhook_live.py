"""localstripe posts its own signed ``payment_intent.succeeded`` to our running server, which
verifies it and marks the card order paid (the emulator signs with the registered secret)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.stripe_emulator import localstripe, register_webhook
from tests.web.conftest import LiveServer

SECRET = "whsec_canteen_live_secret"


def test_localstripe_webhook_settles_a_card_order(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canteen.orders import services
    from canteen.orders.tables import Order, ProviderEvent
    from canteen.payments.providers import stripe_provider as sp
    from canteen.settings import Settings
    from tests.factories import make_world
    from tests.integration.orders.setup import delivery_world

    d = live_server.run(lambda: _world(make_world, delivery_world))
    elder = d.elders[0]
    with localstripe() as base:
        monkeypatch.setenv("CANTEEN_STRIPE_API_KEY", "sk_test_canteen")
        monkeypatch.setenv("CANTEEN_STRIPE_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("CANTEEN_STRIPE_API_BASE", base)
        sp.set_provider(sp.StripeProvider(Settings.from_env()))
        try:
            register_webhook(base, f"{live_server.url}/api/v1/payments/stripe/webhook", SECRET)
            actor = services.ElderPrincipal("elder", elder, (elder,))

            async def order_and_pay() -> Any:
                _, order = await services.place_order(
                    actor,
                    elder_id=elder,
                    site_id=d.site,
                    day=d.tomorrow,
                    slot="lunch",
                    meal_set_id=d.sets_tomorrow["套餐A"],
                    payment="card",
                    idempotency_key="live-card-order-1",
                )
                return await services.start_card_payment(
                    actor, order.id, payment_method="pm_card_visa", confirm=True
                )

            intent = live_server.run(order_and_pay)
            assert intent["status"] == "succeeded"
            deadline = time.monotonic() + 20  # the emulator posts about a second later
            status = "pending"
            while status != "paid" and time.monotonic() < deadline:
                time.sleep(0.2)
                status = live_server.run(lambda: Order.select(Order.payment_status).first())["payment_status"]
            assert status == "paid"
            events = live_server.run(
                lambda: ProviderEvent.select(ProviderEvent.event_type, ProviderEvent.outcome)
            )
            assert {"event_type": "payment_intent.succeeded", "outcome": "settled"} in events
        finally:
            sp.set_provider(None)


async def _world(make_world: Any, delivery_world: Any) -> Any:
    return await delivery_world(await make_world(), n_elders=1, balance_fen=0)
