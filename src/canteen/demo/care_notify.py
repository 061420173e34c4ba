"""Demo notifications: with no gateway configured, the demo's events reach the officials' log
page (通知, /official/notifications) as "recorded only". The demo's own order confirmations and
cancellations already emitted their events through the order state machine; this adds a
not-home stop and an "attention" welfare note for an elder with a linked family member, scans
low balances, then fans out and dispatches once (the app's loop keeps dispatching after
``canteen demo`` starts serving). Idempotent: every event has a dedupe key, so a second run adds
nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.outbox import emit
from canteen.notify.services import dispatch, emit_low_balances, fan_out
from canteen.orders.tables import FamilyLink
from canteen.registry.tables import Elder


async def load_notify(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> dict[str, int]:
    """Counts of what this run added (zeros on a second run)."""
    now = now or utcnow()
    linked = [int(r["elder"]) for r in await FamilyLink.select(FamilyLink.elder).order_by(FamilyLink.id)]
    elder = (
        await Elder.select(Elder.id)
        .where(
            (Elder.district == district.district_id)
            & (Elder.status == "active")
            & (Elder.id.is_in(linked) if linked else Elder.id.is_not_null())
        )
        .order_by(Elder.id)
        .first()
    )
    events = 0
    if elder is not None:
        eid = int(elder["id"])
        async with write_transaction():
            for kind, payload in (
                ("door_not_home", {"service_date": today.isoformat(), "slot": "lunch"}),
                ("welfare_attention", {"service_date": today.isoformat()}),
            ):
                events += await emit(
                    kind,
                    district_id=district.district_id,
                    elder_id=eid,
                    payload=payload,
                    dedupe_key=f"demo:{kind}:{eid}",
                    now=now,
                )
    events += await emit_low_balances(now=now)
    created = await fan_out(now=now)
    sent = await dispatch(now=now)
    return {"events": events, "notifications": created, "sent": sent.sent + sent.logged}
