"""The one owner of a meal: record, void, undelivered, cash at the door.

Every ``Meal`` row, every change to one, its rollups and its ledger postings are written
here and nowhere else (a test scans the source for writers). The counter, walk-in sales,
delivery orders and the demo call :func:`record_meal`; the counter's void calls
:func:`void_meal`; an order's own state machine calls :func:`void_delivery_meal` (cancel,
not home, refused, failed) and :func:`settle_cash_at_door` (delivered, cash collected).
Each function works inside the caller's write transaction and opens none of its own, so the
caller's other rows (an order, an idempotency record, a counter event) commit with it.

Money, per meal:
* the funders' subsidy: ``receivable:<source>:op:<operator>`` → ``revenue:site:<site>``;
* the co-pay (and a delivery's co-pay on the fee): from the elder's balance when paid by
  balance; in cash at the counter into ``cash:site:<site>:<day>``; in cash at the door when
  the courier settles it; by card when the provider's webhook settles the order.
A void posts the mirror of the meal's transaction (``kind=void``): the co-pay goes back to
the balance, the receivables are released, and the subsidy counters are decremented, so the
elder may have a subsidised meal in that slot again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from canteen.accounts.roles import CASHIER, OPERATOR, Principal
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.errors import DomainError, register
from canteen.meals import hotpath
from canteen.meals.rollups import MEAL_COLUMNS, apply_meal
from canteen.meals.tables import Meal
from canteen.payments.ledger import (
    Movement,
    cash_account,
    new_txn,
    post,
    receivable_account,
    revenue_account,
    reverse_in_txn,
)
from canteen.regions.lookup import SiteInfo
from canteen.subsidies.schemas import Policy, Quote
from canteen.subsidies.services import policy_for

register("already_voided", 409)
register("void_window_passed", 403)
register("meal_is_delivery", 409)

Actor = Principal | SystemActor
DINE_IN = "dine_in"
DELIVERY = "delivery"


@dataclass(frozen=True, slots=True)
class MealDraft:
    """One priced meal about to be recorded."""

    site: SiteInfo
    elder_id: int | None  # None: a walk-in sale
    day: dt.date
    slot: str
    mode: str  # dine_in | delivery
    meal_set_id: int
    meal_set_name: str
    quote: Quote
    payment: str  # balance | cash | card
    categories: list[str] = field(default_factory=list)
    cashier_id: int | None = None
    device: str = ""
    manual_reason: str = ""
    idempotency_key: str | None = None
    limits: hotpath.Limits | None = None  # None: read from the policy in force when subsidised


@dataclass(frozen=True, slots=True)
class Recorded:
    meal_id: int
    txn: str  # the meal's ledger transaction ("" when it moved no money)
    balance_after_fen: int | None  # set when the elder's balance was charged


def _subsidy_movements(site: SiteInfo, quote: Quote) -> list[Movement]:
    revenue = revenue_account(site.id)
    op = site.operator_id or 0
    return [
        Movement(receivable_account(f.source, op), revenue, f.fen)
        for f in [*quote.funding, *quote.delivery_funding]
        if f.fen
    ]


def funding_parts(quote: Quote, *, delivery: bool = False) -> list[dict[str, Any]]:
    """The meal subsidy's parts (or the delivery subsidy's) as the meal row stores them: each
    names its source, its fen and the district whose funder owes it (the elder's home district,
    wherever the meal was eaten)."""
    paying = quote.policy_district_id
    parts = quote.delivery_funding if delivery else quote.funding
    return [{"source": f.source, "fen": f.fen, **({"district_id": paying} if paying else {})} for f in parts]


async def record_meal(
    draft: MealDraft,
    *,
    actor: Actor,
    now: dt.datetime,
    ref: tuple[str, int] | None = None,
    idem: hotpath.IdemRow | None = None,
    balance_before_fen: int = 0,
) -> Recorded:
    """Record one meal: take its portion, write the row, post its money, count it in the rollups
    and the subsidy counters — one write (``meals.hotpath.write_meal``).

    ``ref`` is what the ledger rows point at (an order for a delivery; the meal itself by
    default); ``idem`` is the idempotency record written with it (the counter's check-in).
    Refuses ``sold_out`` and ``insufficient_balance``; a subsidised meal beyond the policy's
    limits (per slot, per day) surfaces as a ``UniqueViolation`` that
    ``meals.usage.is_subsidy_refusal`` recognises, for the caller to turn into ``already_served``.
    """
    q = draft.quote
    site = draft.site
    movements = _subsidy_movements(site, q)
    due = q.total_due_fen
    by_balance = draft.payment == "balance" and due > 0 and draft.elder_id is not None
    if draft.payment == "cash" and draft.mode == DINE_IN and due > 0:
        # Cash at the counter is taken with the meal; cash at the door when the courier settles it.
        movements.append(Movement(cash_account(site.id, draft.day), revenue_account(site.id), due))
    # The txn id is chosen first so the meal row is written once, already pointing at its entries.
    txn = new_txn() if (by_balance or movements) else ""
    paying = q.policy_district_id
    funding = funding_parts(q)
    row: dict[str, Any] = {
        "district": site.district_id,
        "site": site.id,
        "elder": draft.elder_id,
        "service_date": draft.day,
        "slot": draft.slot,
        "mode": draft.mode,
        "served_at": now,
        "meal_set": draft.meal_set_id,
        "items": [
            {
                "meal_set_id": draft.meal_set_id,
                "name": draft.meal_set_name,
                "list_price_fen": q.list_price_fen,
            }
        ],
        "list_price_fen": q.list_price_fen,
        "subsidy_fen": q.subsidy_fen,
        "copay_fen": q.copay_fen,
        "funding": funding,
        "delivery_fee_fen": q.delivery_fee_fen,
        "delivery_subsidy_fen": q.delivery_subsidy_fen,
        "payment": draft.payment,
        "subsidised": q.subsidy_fen > 0,
        "policy_version": q.policy_version or None,
        "tier_code": q.tier_code,
        "reason_zh": q.reason_zh[:300],
        "reason_en": q.reason_en[:300],
        "categories": list(draft.categories),
        "operator": site.operator_id,
        "cashier_id": draft.cashier_id,
        "device": draft.device[:100],
        "manual_reason": draft.manual_reason[:200],
        "idempotency_key": draft.idempotency_key,
        "ledger_txn": txn,
        "policy_district": paying,
        "delivery_funding": funding_parts(q, delivery=True),
    }
    limits = draft.limits
    if row["subsidised"] and draft.elder_id is not None and limits is None:
        limits = limits_of(await policy_for(paying or site.district_id, draft.day))
    done = await hotpath.write_meal(
        hotpath.MealWrite(
            row=row,
            kind="meal" if draft.mode == DINE_IN else "delivery",
            movements=movements,
            charge_fen=due if by_balance else 0,
            limits=limits if row["subsidised"] else None,
            actor=actor,
            ref=ref,
            idem=idem,
            balance_before_fen=balance_before_fen,
        )
    )
    return Recorded(meal_id=done.meal_id, txn=txn, balance_after_fen=done.balance_after_fen)


def limits_of(policy: Policy | None) -> hotpath.Limits:
    """The subsidy limits a policy sets per elder: per slot per day, per day across slots, and
    subsidised meals per calendar month — the counters in ``meals.hotpath`` enforce them."""
    if policy is None:
        return hotpath.Limits()
    return hotpath.Limits(
        per_slot=policy.per_slot_daily_limit,
        per_day=policy.per_day_limit,
        per_month=policy.monthly_cap_meals,
    )


async def _live_meal(meal_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Meal.select(
            *MEAL_COLUMNS,
            Meal.served_at,
            Meal.ledger_txn,
            Meal.meal_set,
            Meal.payment,
            Meal.site.void_window_minutes.as_alias("window"),
        )
        .where(Meal.id == meal_id)
        .first()
    )
    return row


async def _void(row: dict[str, Any], *, by: int | None, reason: str, actor: Actor, now: dt.datetime) -> str:
    """Reverse the meal's money, give its portion back, take it out of the rollups, mark it.

    Returns the void's ledger txn ("" when the meal had moved no money)."""
    void_txn = ""
    if row["ledger_txn"]:
        void_txn = await reverse_in_txn(row["ledger_txn"], kind="void", actor=actor, now=now, note=reason)
    await hotpath.give_back(row)
    await apply_meal(row, -1)
    await Meal.update(
        {Meal.voided_at: now, Meal.voided_by: by, Meal.void_reason: reason[:200], Meal.void_txn: void_txn}
    ).where(Meal.id == row["id"])
    return void_txn


@dataclass(frozen=True, slots=True)
class Voided:
    meal_id: int
    site_id: int
    district_id: int
    elder_id: int | None
    void_txn: str


async def void_meal(actor: Principal, meal_id: int, reason: str, *, now: dt.datetime) -> Voided:
    """The counter's void: a cashier within the site's window, later the operator or an admin.

    A delivery meal belongs to its order: refused with ``meal_is_delivery`` (cancel the order,
    or let the courier record the outcome). Audited. Inside the caller's write transaction.
    """
    row = await _live_meal(meal_id)
    if row is None or not actor.can_site(row["site"], row["district"], CASHIER, OPERATOR):
        raise DomainError("not_found", {"meal_id": meal_id})
    if row["voided_at"] is not None:
        raise DomainError("already_voided", {"meal_id": meal_id})
    if row["mode"] == DELIVERY:
        raise DomainError("meal_is_delivery", {"meal_id": meal_id})
    senior = actor.can_site(row["site"], row["district"], OPERATOR)
    if not senior and now - row["served_at"] > dt.timedelta(minutes=row["window"]):
        raise DomainError("void_window_passed", {"window_minutes": row["window"]})
    void_txn = await _void(row, by=actor.user_id, reason=reason, actor=actor, now=now)
    await audit.record(
        actor,
        "meal.void",
        "meal",
        meal_id,
        district_id=row["district"],
        before={"voided_at": None},
        after={"voided_at": now.isoformat(), "reason": reason},
        now=now,
    )
    return Voided(meal_id, row["site"], row["district"], row["elder"], void_txn)


async def void_delivery_meal(
    meal_id: int, *, outcome: str, reason: str, actor: Actor, by: int | None, now: dt.datetime
) -> str:
    """Void a delivery meal for its order's transition (cancelled, not home, refused, failed):
    the co-pay back to the balance, the subsidy and the once-per-slot rule released, the
    portion returned. Only the order state machine calls this. Returns the void txn;
    a meal already voided is left as it is ("")."""
    row = await _live_meal(meal_id)
    if row is None or row["voided_at"] is not None:
        return ""
    if row["mode"] != DELIVERY:
        raise DomainError("not_found", {"meal_id": meal_id})
    return await _void(row, by=by, reason=f"{outcome}: {reason}".strip(": "), actor=actor, now=now)


async def settle_cash_at_door(
    meal_id: int, amount_fen: int, *, ref: tuple[str, int], actor: Actor, now: dt.datetime
) -> str:
    """The courier collected ``amount_fen`` in cash at the door: into the site's cash drawer of
    the meal's service day. Returns the txn ("" when nothing was due)."""
    row = await Meal.select(Meal.site, Meal.elder, Meal.service_date).where(Meal.id == meal_id).first()
    if row is None:
        raise DomainError("not_found", {"meal_id": meal_id})
    if amount_fen <= 0:
        return ""
    return await post(
        "delivery_cash",
        [Movement(cash_account(row["site"], row["service_date"]), revenue_account(row["site"]), amount_fen)],
        ref_type=ref[0],
        ref_id=ref[1],
        site_id=row["site"],
        elder_id=row["elder"],
        actor=actor,
        now=now,
    )


async def load_history(rows: Sequence[dict[str, Any]], *, chunk: int = 500) -> list[int]:
    """Bulk-load already priced past meals (the demo's history), returning their ids in order.

    Each row carries every column; the caller posts the matching ledger rows and rebuilds the
    rollups for the days it loaded (``meals.rollups.rollup_range``)."""
    ids: list[int] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        got = await Meal.insert(*(Meal(**r) for r in part)).returning(Meal.id, Meal.served_at)
        by_at = {r["served_at"]: int(r["id"]) for r in got}
        ids.extend(by_at[r["served_at"]] for r in part)
        await hotpath.count_usage(part)
    return ids
