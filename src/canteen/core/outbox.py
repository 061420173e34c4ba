"""The outbox: a domain records that something happened that people must hear about, in its own
transaction, so the event exists exactly when the change does. ``canteen.notify`` fans each event
out to its recipients later (family, emergency contact, community worker) and sends it.

Kinds (the vocabulary ``notify`` knows how to word; a new kind needs words there):
``door_not_home``, ``door_refused``, ``welfare_attention``, ``welfare_urgent``,
``missed_meals_alone``, ``low_balance``, ``order_confirmed``, ``order_cancelled``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from canteen.core.tables import OutboxEvent

OutboxKind = Literal[
    "door_not_home",
    "door_refused",
    "welfare_attention",
    "welfare_urgent",
    "missed_meals_alone",
    "low_balance",
    "order_confirmed",
    "order_cancelled",
]
KINDS: frozenset[str] = frozenset(get_args(OutboxKind))


async def emit(
    kind: str,
    *,
    district_id: int,
    elder_id: int | None,
    payload: dict[str, Any],
    dedupe_key: str,
    now: dt.datetime,
) -> bool:
    """Record one event; call it inside the transaction of the change it reports.

    ``dedupe_key`` names the fact (``order:812:cancelled``): a second emit with the same key is a
    no-op, so a retried request or a job run twice never notifies twice. Returns True when this
    call recorded the event. ``payload`` holds codes and numbers only (words are chosen per
    recipient's language when the message is written).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    # ON CONFLICT DO NOTHING, not a caught unique violation: on PostgreSQL an error would abort
    # the caller's transaction.
    rows = (
        await OutboxEvent.insert(
            OutboxEvent(
                kind=kind,
                district=district_id,
                elder=elder_id,
                payload=payload,
                dedupe_key=dedupe_key,
                created_at=now,
            )
        )
        .on_conflict(target=OutboxEvent.dedupe_key, action="DO NOTHING")
        .returning(OutboxEvent.id)
    )
    return bool(rows)
