"""The order state machine: the only writer of a delivery order's status.

One table says which moves exist, who may make them and what money moves with them;
every status change — the elder's cancel, the cut-off job, the kitchen, the courier's
outcome at the door, an official's correction — goes through :func:`move` (one order,
inside the caller's write transaction) or :func:`move_many` (a job's bulk move), writes
its audit row and asks ``canteen.meals`` to move the meal's money:

========================  ===========================================  =================  ====================
to                        from                                         who                money
========================  ===========================================  =================  ====================
confirmed                 placed                                       staff, system      —
cooking                   confirmed                                    staff, system      —
out_for_delivery          placed, confirmed, cooking                   staff, system      —
delivered                 placed, confirmed, cooking, out_for_delivery staff              cash at the door
not_delivered             placed, confirmed, cooking, out_for_delivery staff              meal voided, refunds
cancelled                 placed                                       elder, family,     meal voided, refunds
                                                                       staff
========================  ===========================================  =================  ====================

"Meal voided, refunds": the co-pay goes back to the balance, the funders' subsidy and the
once-per-slot rule are released (``meals.void_delivery_meal``), and a card payment is
reversed in the ledger here and refunded at the provider by :func:`refund_card` *after*
the transaction that changed the status has committed — so no refund is ever sent for an
order whose status did not change.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from canteen.accounts.roles import Principal
from canteen.core import audit, outbox
from canteen.core.audit import SystemActor
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.meals import services as meals
from canteen.orders.actors import ElderPrincipal, OrderActor, ledger_actor
from canteen.orders.tables import Order, PaymentIntentRecord
from canteen.payments.ledger import reverse_in_txn
from canteen.payments.providers.stripe_provider import get_provider, off_loop

log = logging.getLogger("canteen.orders")

register("order_not_cancellable", 409)
register("order_bad_transition", 409)

PLACED, CONFIRMED, COOKING, OUT = "placed", "confirmed", "cooking", "out_for_delivery"
DELIVERED, NOT_DELIVERED, CANCELLED = "delivered", "not_delivered", "cancelled"
STATUSES = (PLACED, CONFIRMED, COOKING, OUT, DELIVERED, NOT_DELIVERED, CANCELLED)
FINAL = (DELIVERED, NOT_DELIVERED, CANCELLED)
# Why a meal did not reach the elder (the courier's outcomes; "failed": anything else at the door).
NOT_DELIVERED_OUTCOMES = ("not_home", "refused", "failed")


@dataclass(frozen=True, slots=True)
class Rule:
    to: str
    sources: tuple[str, ...]
    who: frozenset[str]  # elder | family | staff | system
    money: str  # none | settle (cash at the door) | release (void the meal, refund)


RULES: dict[str, Rule] = {
    r.to: r
    for r in (
        Rule(CONFIRMED, (PLACED,), frozenset({"staff", "system"}), "none"),
        Rule(COOKING, (CONFIRMED,), frozenset({"staff", "system"}), "none"),
        Rule(OUT, (PLACED, CONFIRMED, COOKING), frozenset({"staff", "system"}), "none"),
        Rule(DELIVERED, (PLACED, CONFIRMED, COOKING, OUT), frozenset({"staff"}), "settle"),
        Rule(NOT_DELIVERED, (PLACED, CONFIRMED, COOKING, OUT), frozenset({"staff"}), "release"),
        Rule(CANCELLED, (PLACED,), frozenset({"elder", "family", "staff"}), "release"),
    )
}


def allowed_targets(status: str) -> list[str]:
    """The statuses an order in ``status`` may move to (for pages that offer the next step)."""
    return [r.to for r in RULES.values() if status in r.sources]


def actor_kind(actor: OrderActor) -> str:
    if isinstance(actor, ElderPrincipal):
        return actor.kind
    if isinstance(actor, Principal):
        return "staff"
    return "system"


@dataclass(frozen=True, slots=True)
class CardRefund:
    """A card payment to refund at the provider once the status change has committed."""

    order_id: int
    intent_row_id: int
    provider_id: str


@dataclass(frozen=True, slots=True)
class Moved:
    order_id: int
    before: str
    after: str
    refund: CardRefund | None


async def order_row(order_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = (
        await Order.select().where(Order.id == order_id).first().output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"order_id": order_id})
    return row


async def _paid_intent(order_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await PaymentIntentRecord.select()
        .where((PaymentIntentRecord.order == order_id) & (PaymentIntentRecord.status == "succeeded"))
        .first()
    )
    return row


def _refusal(row: dict[str, Any], to: str) -> DomainError:
    if to == CANCELLED:
        return DomainError("order_not_cancellable", {"status": row["status"]})
    return DomainError("order_bad_transition", {"from": row["status"], "to": to})


async def move(
    actor: OrderActor,
    order_id: int,
    to: str,
    *,
    now: dt.datetime,
    reason: str = "",
    outcome: str = "",
) -> Moved:
    """Move one order to ``to`` inside the caller's write transaction (it re-reads the row
    there, so the decision is made on the committed status). The caller has checked the
    actor's scope for the order; this checks the table: the move exists from the current
    status and the actor's kind may make it. Refuses ``order_not_cancellable`` /
    ``order_bad_transition``. Returns what the caller must do after commit (a card refund)."""
    rule = RULES.get(to)
    row = await order_row(order_id)
    if rule is None or row["status"] not in rule.sources:
        raise _refusal(row, to)
    if actor_kind(actor) not in rule.who:
        raise DomainError("forbidden", {"to": to})
    if to == NOT_DELIVERED and outcome not in NOT_DELIVERED_OUTCOMES:
        raise DomainError("validation_failed", {"field": "outcome", "allowed": list(NOT_DELIVERED_OUTCOMES)})
    lactor = ledger_actor(actor)
    values: dict[Any, Any] = {Order.status: to, Order.updated_at: now}
    refund: CardRefund | None = None
    if rule.money == "settle" and row["payment"] == "cash" and not row["payment_txn"]:
        if row["meal"] and row["total_due_fen"] > 0:
            values[Order.payment_txn] = await meals.settle_cash_at_door(
                row["meal"], row["total_due_fen"], ref=("order", order_id), actor=lactor, now=now
            )
        values[Order.payment_status] = "paid"
    elif rule.money == "release":
        if row["meal"]:
            await meals.void_delivery_meal(
                row["meal"],
                outcome=outcome or to,
                reason=reason,
                actor=lactor,
                by=actor.user_id if isinstance(actor, Principal) else None,
                now=now,
            )
        values[Order.payment_status] = _released_payment_status(row)
        if row["payment"] == "card" and row["payment_txn"]:
            card = await _paid_intent(order_id)
            await reverse_in_txn(row["payment_txn"], kind="refund", actor=lactor, now=now, note=reason)
            if card is not None:
                refund = CardRefund(order_id, int(card["id"]), str(card["provider_id"]))
                values[Order.payment_status] = "refund_pending"
                await PaymentIntentRecord.update(
                    {PaymentIntentRecord.status: "refund_pending", PaymentIntentRecord.updated_at: now}
                ).where(PaymentIntentRecord.id == card["id"])
        if to == CANCELLED:
            values[Order.cancelled_at] = now
        else:
            values[Order.not_delivered_reason] = f"{outcome}: {reason}".strip(": ")[:200]
    await Order.update(values).where(Order.id == order_id)
    if to in (CANCELLED, CONFIRMED):  # notify: the family hears of it (canteen.notify)
        await outbox.emit(
            f"order_{to}",
            district_id=row["district"],
            elder_id=row["elder"],
            payload={"order_id": order_id, "service_date": str(row["service_date"]), "slot": row["slot"]},
            dedupe_key=f"order:{order_id}:{to}",
            now=now,
        )
    await audit.record(
        lactor,
        f"order.{to}",
        "delivery_order",
        order_id,
        district_id=row["district"],
        before={"status": row["status"], "payment_status": row["payment_status"]},
        after={
            "status": to,
            "payment_status": values.get(Order.payment_status, row["payment_status"]),
            "reason": reason,
            "outcome": outcome,
        },
        now=now,
    )
    return Moved(order_id, row["status"], to, refund)


def _released_payment_status(row: dict[str, Any]) -> str:
    """What the order's payment becomes when its meal is released (a card payment is handled
    by the caller: reversed, then refunded at the provider)."""
    if row["payment"] == "balance" and row["total_due_fen"] > 0 and row["payment_status"] == "paid":
        return "refunded"
    return "canceled"  # nothing was taken: cash never collected, a card never charged, nothing due


async def move_many(order_ids: Sequence[int], to: str, *, actor: OrderActor, now: dt.datetime) -> list[int]:
    """A job's or a round's bulk move of orders that are in a source status of ``to``; orders
    in any other status are left as they are. Only moves that move no money. Inside the
    caller's transaction; returns the ids that moved (each with its audit row)."""
    rule = RULES[to]
    if rule.money != "none" or actor_kind(actor) not in rule.who:
        raise DomainError("order_bad_transition", {"to": to})
    if not order_ids:
        return []
    rows = (
        await Order.update({Order.status: to, Order.updated_at: now})
        .where(Order.id.is_in(list(order_ids)) & Order.status.is_in(list(rule.sources)))
        .returning(Order.id, Order.district, Order.elder, Order.service_date, Order.slot)
    )
    lactor = ledger_actor(actor)
    for r in rows:
        if to == CONFIRMED:  # notify: the family hears the order is confirmed (canteen.notify)
            await outbox.emit(
                "order_confirmed",
                district_id=r["district"],
                elder_id=r["elder"],
                payload={"order_id": r["id"], "service_date": str(r["service_date"]), "slot": r["slot"]},
                dedupe_key=f"order:{r['id']}:confirmed",
                now=now,
            )
        await audit.record(
            lactor,
            f"order.{to}",
            "delivery_order",
            r["id"],
            district_id=r["district"],
            after={"status": to},
            now=now,
        )
    return [int(r["id"]) for r in rows]


async def refund_card(refund: CardRefund | None, *, now: dt.datetime) -> str:
    """Refund a card payment at the provider, after the status change committed. Idempotent
    (the provider's idempotency key is per order). Returns the order's payment status."""
    if refund is None:
        return ""
    # The provider is reached only here, outside any transaction; a failure leaves the order
    # "refund_pending" for the next attempt (cancel again or the jobs' retry) and is logged.

    try:
        result = await off_loop(
            get_provider().refund,
            refund.provider_id,
            amount_fen=None,
            idempotency_key=f"refund-order-{refund.order_id}",
        )
        ok = result.status in ("succeeded", "pending")
        refund_id = result.provider_id
    except Exception:  # the provider's errors: the money is still owed, say so and keep going
        log.exception("card refund failed", extra={"order_id": refund.order_id})
        ok, refund_id = False, ""
    status = "refunded" if ok else "refund_pending"
    async with write_transaction():
        await PaymentIntentRecord.update(
            {
                PaymentIntentRecord.status: "refunded" if ok else "refund_pending",
                PaymentIntentRecord.refund_id: refund_id,
                PaymentIntentRecord.updated_at: now,
            }
        ).where(PaymentIntentRecord.id == refund.intent_row_id)
        await Order.update({Order.payment_status: status, Order.updated_at: now}).where(
            (Order.id == refund.order_id) & (Order.payment_status == "refund_pending")
        )
    return status


__all__ = [
    "FINAL",
    "NOT_DELIVERED_OUTCOMES",
    "RULES",
    "STATUSES",
    "CardRefund",
    "Moved",
    "SystemActor",
    "allowed_targets",
    "move",
    "move_many",
    "order_row",
    "refund_card",
]
