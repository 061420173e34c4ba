"""Delivery orders: place, pay, cancel and move through the day; elder and family sign-in.

One rule spans the counter and the door: placing a delivery order inserts a
``checkin.tables.Meal`` row (mode ``delivery``) in the same transaction, so the
partial unique index on subsidised meals refuses a second subsidised lunch at the
counter (``already_served``), and a counter meal already served refuses the order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from canteen.accounting.rollups import apply_meal_id
from canteen.accounts.passwords import hash_password, verify_password
from canteen.accounts.roles import ADMIN, COURIER, KITCHEN, OFFICIAL, OPERATOR, Principal
from canteen.checkin.services import mark_voided
from canteen.checkin.tables import Meal
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import check_key, run_once
from canteen.core.kv import KV
from canteen.orders.schemas import OrderOut, StandingOrderIn, StandingOrderOut
from canteen.orders.tables import FamilyAccount, FamilyLink, Order, PaymentIntentRecord, StandingOrder
from canteen.payments.schemas import Movement
from canteen.registry.tables import Card, Elder
from canteen.settings import get_settings

register(
    "not_eligible_for_delivery",
    403,
    "该长者暂不符合送餐条件，请联系社区工作人员。",
    "This member is not eligible for meal delivery; please contact the community worker.",
)
register(
    "order_cutoff_passed",
    409,
    "已过订餐截止时间，请选择下一餐。",
    "Ordering for this meal has closed; please choose the next one.",
)
register("order_not_cancellable", 409, "该订单现在不能取消。", "This order can no longer be cancelled.")
register("order_bad_transition", 409, "订单状态不能这样变更。", "The order cannot move to that status.")
register(
    "pin_wrong",
    401,
    "卡号或密码不对，请再试一次。",
    "The card number or PIN is not right; please try again.",
)
register(
    "pin_locked",
    429,
    "密码错误次数太多，请15分钟后再试，或拨打社区热线求助。",
    "Too many wrong PINs. Try again in 15 minutes, or call the community hotline for help.",
)
register("card_not_configured", 503, "暂不支持银行卡支付。", "Card payment is not available.")
register("card_payment_failed", 402, "银行卡支付没有成功。", "The card payment did not go through.")
register("payment_not_pending", 409, "该订单不需要再付款。", "This order needs no further payment.")

PIN_MAX_FAILURES = 5
PIN_LOCK = dt.timedelta(minutes=15)
ELDER_SESSION_PREFIX = "elder_session:"
ELDER_SESSION_TTL = 30 * 86400  # no time limit that logs an elder out mid-order
CANCELLABLE = ("placed",)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("confirmed", "cancelled"),
    "confirmed": ("cooking", "out_for_delivery", "delivered", "not_delivered"),
    "cooking": ("out_for_delivery", "delivered", "not_delivered"),
    "out_for_delivery": ("delivered", "not_delivered"),
    "delivered": (),
    "not_delivered": (),
    "cancelled": (),
}


# --- who orders ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElderPrincipal:
    """An elder (``kind="elder"``) or a family member (``kind="family"``) signed in on the ordering page."""

    kind: str
    account_id: int  # elder id, or family account id
    elder_ids: tuple[int, ...]

    @property
    def user_id(self) -> None:
        return None

    @property
    def username(self) -> str:
        return f"{self.kind}:{self.account_id}"


OrderActor = Principal | ElderPrincipal | SystemActor


def _ledger_actor(actor: OrderActor) -> Principal | SystemActor:
    if isinstance(actor, ElderPrincipal):
        return SystemActor(actor.username)
    return actor


def _placed_by(actor: OrderActor) -> tuple[str, int | None]:
    if isinstance(actor, ElderPrincipal):
        return actor.kind, actor.account_id
    if isinstance(actor, Principal):
        return "staff", actor.user_id
    return "system", None


def _check_elder_access(actor: OrderActor, elder_id: int, district_id: int) -> None:
    if isinstance(actor, ElderPrincipal):
        if elder_id not in actor.elder_ids:
            raise DomainError("not_found", {"elder_id": elder_id})
        return
    if isinstance(actor, Principal):
        if actor.has_role(ADMIN) or (actor.has_role(OFFICIAL) and actor.can_district(district_id)):
            return
        raise DomainError("not_found", {"elder_id": elder_id})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _ElderSession(msgspec.Struct):
    kind: str
    account_id: int


async def open_elder_session(kv: KV, principal: ElderPrincipal) -> str:
    token = secrets.token_urlsafe(32)
    data = _ElderSession(principal.kind, principal.account_id)
    await kv.set(ELDER_SESSION_PREFIX + _digest(token), msgspec.json.encode(data), ELDER_SESSION_TTL)
    return token


async def resolve_elder_session(kv: KV, token: str) -> ElderPrincipal | None:
    raw = await kv.get(ELDER_SESSION_PREFIX + _digest(token))
    if raw is None:
        return None
    data = msgspec.json.decode(raw, type=_ElderSession)
    if data.kind == "elder":
        row = await Elder.select(Elder.status).where(Elder.id == data.account_id).first()
        if row is None or row["status"] != "active":
            return None
        return ElderPrincipal("elder", data.account_id, (data.account_id,))
    fam = await FamilyAccount.select(FamilyAccount.active).where(FamilyAccount.id == data.account_id).first()
    if fam is None or not fam["active"]:
        return None
    links = await FamilyLink.select(FamilyLink.elder).where(FamilyLink.family == data.account_id)
    return ElderPrincipal("family", data.account_id, tuple(sorted(int(r["elder"]) for r in links)))


async def close_elder_session(kv: KV, token: str) -> None:
    await kv.delete(ELDER_SESSION_PREFIX + _digest(token))


async def elder_sign_in(card_number: str, pin: str, *, now: dt.datetime | None = None) -> ElderPrincipal:
    """Card number + PIN. Five wrong PINs lock for 15 minutes (``pin_locked``, with the hotline)."""
    from canteen.registry.card_services import resolve_card
    from canteen.registry.cards import looks_like_token, parse_card_number

    now = now or utcnow()
    hotline = get_settings().hotline
    card: dict[str, Any] | None
    if looks_like_token(card_number):  # the phone camera read the card's QR code
        try:
            card = {"elder": (await resolve_card(card_number)).elder_id}
        except DomainError as exc:
            raise DomainError("pin_wrong", {}) from exc
    else:
        try:
            number = parse_card_number(card_number)
        except DomainError as exc:
            raise DomainError("pin_wrong", {}) from exc
        card = (
            await Card.select(Card.elder).where((Card.number == number) & Card.revoked_at.is_null()).first()
        )
    if card is None:
        verify_password(None, pin)  # same work either way
        raise DomainError("pin_wrong", {})
    elder_id = int(card["elder"])
    async with write_transaction():
        row = (
            await Elder.select(Elder.pin_hash, Elder.pin_failures, Elder.pin_locked_until, Elder.status)
            .where(Elder.id == elder_id)
            .first()
        )
        assert row is not None
        if row["pin_locked_until"] is not None and row["pin_locked_until"] > now:
            raise DomainError(
                "pin_locked", {"hotline": hotline, "until": row["pin_locked_until"].isoformat()}
            )
        ok = verify_password(row["pin_hash"], pin) and row["status"] == "active"
        if ok:
            await Elder.update({Elder.pin_failures: 0, Elder.pin_locked_until: None}).where(
                Elder.id == elder_id
            )
    if ok:
        return ElderPrincipal("elder", elder_id, (elder_id,))
    failures = int(row["pin_failures"] or 0) + 1
    values: dict[Any, Any] = {Elder.pin_failures: failures}
    if failures >= PIN_MAX_FAILURES:
        values = {Elder.pin_failures: 0, Elder.pin_locked_until: now + PIN_LOCK}
    async with write_transaction():
        await Elder.update(values).where(Elder.id == elder_id)
    if failures >= PIN_MAX_FAILURES:
        raise DomainError("pin_locked", {"hotline": hotline, "until": (now + PIN_LOCK).isoformat()})
    raise DomainError("pin_wrong", {"left": PIN_MAX_FAILURES - failures})


async def family_sign_in(phone: str, password: str) -> ElderPrincipal:
    row = (
        await FamilyAccount.select(FamilyAccount.id, FamilyAccount.password_hash, FamilyAccount.active)
        .where(FamilyAccount.phone == phone.strip())
        .first()
    )
    if (
        not verify_password(row["password_hash"] if row else None, password)
        or row is None
        or not row["active"]
    ):
        raise DomainError("invalid_credentials")
    links = await FamilyLink.select(FamilyLink.elder).where(FamilyLink.family == row["id"])
    return ElderPrincipal("family", int(row["id"]), tuple(sorted(int(r["elder"]) for r in links)))


async def create_family_account(
    actor: Principal, *, phone: str, password: str, name: str, now: dt.datetime | None = None
) -> int:
    """A family member's account; created by staff (admin or community worker)."""
    now = now or utcnow()
    if not actor.has_role(ADMIN, OFFICIAL):
        raise DomainError("forbidden")
    async with write_transaction():
        rows = await FamilyAccount.insert(
            FamilyAccount(
                phone=phone.strip(), password_hash=hash_password(password), name=name, created_at=now
            )
        ).returning(FamilyAccount.id)
        family_id = int(rows[0]["id"])
        await audit.record(actor, "family.create", "family_account", family_id, after={"name": name}, now=now)
    return family_id


async def link_family(
    actor: Principal, family_id: int, elder_id: int, *, consent_note: str, now: dt.datetime | None = None
) -> int:
    """Link a family account to an elder, recording the elder's consent (staff only, audited)."""
    now = now or utcnow()
    if not consent_note.strip():
        raise DomainError("validation_failed", {"field": "consent_note", "reason": "required"})
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    if not (
        actor.has_role(ADMIN) or (actor.has_role(OFFICIAL) and actor.can_district(int(elder["district"])))
    ):
        raise DomainError("forbidden")
    if not await FamilyAccount.exists().where(FamilyAccount.id == family_id):
        raise DomainError("not_found", {"family_id": family_id})
    async with write_transaction():
        rows = await FamilyLink.insert(
            FamilyLink(
                family=family_id,
                elder=elder_id,
                consent_note=consent_note.strip()[:300],
                linked_by=actor.user_id,
                linked_at=now,
            )
        ).returning(FamilyLink.id)
        await audit.record(
            actor,
            "family.link",
            "elder",
            elder_id,
            after={"family_id": family_id, "consent": consent_note[:300]},
            district_id=int(elder["district"]),
            now=now,
        )
    return int(rows[0]["id"])


# --- eligibility, menus, quotes -----------------------------------------------------------


async def delivery_eligible(elder_id: int, today: dt.date) -> tuple[bool, dict[str, Any]]:
    """(eligible, elder row) by the registry's rule (categories, age, or a grant)."""
    from canteen.registry.national_id import age_on
    from canteen.registry.services import _delivery, category_rows, elder_row

    row = await elder_row(elder_id)
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    cats = await category_rows([elder_id])
    eligible, _ = _delivery(row, cats, age_on(row["birth_date"], today), today)
    return eligible and row["status"] == "active", row


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(get_settings().tz).date()


def sort_sets_for_diet(sets: list[Any], diet: list[str]) -> list[tuple[Any, bool]]:
    """Meal sets with a flag "suits the elder's diet"; suitable ones first."""
    need = set(diet)
    marked = [(s, need.issubset(set(s.diet_tags))) for s in sets]
    return sorted(marked, key=lambda p: (not p[1], p[0].sort_order, p[0].id))


async def _quote(elder_id: int, site: Any, day: dt.date, slot: str, list_price_fen: int) -> Any:
    from canteen.checkin.services import usage, walk_in_quote
    from canteen.registry.services import elder_facts
    from canteen.subsidies import rules as subsidy_rules
    from canteen.subsidies.services import policy_for

    used = await usage(elder_id, day, slot)
    if used.slot_meals_today:
        from canteen.checkin.services import _already_detail, _served_already

        row = await _served_already(elder_id, day, slot)
        raise DomainError("already_served", _already_detail(row) if row else {})
    policy = await policy_for(site.district_id, day)
    if policy is None:
        return walk_in_quote(list_price_fen)
    return subsidy_rules.quote(
        elder=await elder_facts(elder_id),
        list_price_fen=list_price_fen,
        slot=slot,
        day=day,
        mode="delivery",
        policy=policy,
        usage=used,
        site_street_id=site.street_id or 0,
        site_district_id=site.district_id,
    )


async def quote_order(
    actor: OrderActor, *, elder_id: int, site_id: int, day: dt.date, slot: str, meal_set_id: int
) -> Any:
    """The price split the confirm screen shows (writes nothing)."""
    from canteen.checkin.services import site_info
    from canteen.menus.services import meal_set_for

    site = await site_info(site_id)
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_elder_access(actor, elder_id, int(elder["district"]))
    meal_set = await meal_set_for(site_id, day, slot, meal_set_id)
    return await _quote(elder_id, site, day, slot, meal_set.list_price_fen)


# --- orders -------------------------------------------------------------------------------


def order_out(r: dict[str, Any]) -> OrderOut:
    return OrderOut(
        id=r["id"],
        elder_id=r["elder"],
        site_id=r["site"],
        service_date=r["service_date"],
        slot=r["slot"],
        meal_set_id=r["meal_set"],
        meal_set_name=r["meal_set_name"],
        diet_tags=list(r["diet_tags"] or []),
        list_price_fen=r["list_price_fen"],
        subsidy_fen=r["subsidy_fen"],
        copay_fen=r["copay_fen"],
        delivery_fee_fen=r["delivery_fee_fen"],
        delivery_subsidy_fen=r["delivery_subsidy_fen"],
        total_due_fen=r["total_due_fen"],
        payment=r["payment"],
        payment_status=r["payment_status"],
        status=r["status"],
        not_delivered_reason=r["not_delivered_reason"],
        placed_by_kind=r["placed_by_kind"],
        standing_order_id=r["standing_order"],
        meal_id=r["meal"],
        created_at=r["created_at"],
        cancelled_at=r["cancelled_at"],
    )


async def _order_row(order_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = (
        await Order.select().where(Order.id == order_id).first().output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"order_id": order_id})
    return row


async def get_order(actor: OrderActor, order_id: int) -> OrderOut:
    row = await _order_row(order_id)
    _check_elder_access(actor, row["elder"], row["district"])
    return order_out(row)


async def list_orders(actor: OrderActor, elder_id: int, *, limit: int = 50) -> list[OrderOut]:
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_elder_access(actor, elder_id, int(elder["district"]))
    rows = (
        await Order.select()
        .where(Order.elder == elder_id)
        .order_by(Order.service_date, ascending=False)
        .order_by(Order.id, ascending=False)
        .limit(limit)
        .output(load_json=True)
    )
    return [order_out(r) for r in rows]


async def last_order(actor: OrderActor, elder_id: int) -> OrderOut | None:
    items = [o for o in await list_orders(actor, elder_id, limit=10) if o.status != "cancelled"]
    return items[0] if items else None


SUBSIDY_INDEX_MARKERS = ("meal_one_subsidy", "meal.elder, meal.service_date, meal.slot")


async def place_order(
    actor: OrderActor,
    *,
    elder_id: int,
    site_id: int,
    day: dt.date,
    slot: str,
    meal_set_id: int,
    payment: str,
    now: dt.datetime | None = None,
    idempotency_key: str | None = None,
    standing_order_id: int | None = None,
) -> tuple[int, OrderOut]:
    """Place one delivery order: (201, order), or (200, the first answer) on a retry.

    Refusals: ``not_found``, ``not_eligible_for_delivery``, ``site_not_open``, ``no_menu``,
    ``order_cutoff_passed``, ``already_served``, ``sold_out``, ``insufficient_balance``.
    """
    now = now or utcnow()
    check_key(idempotency_key)
    request = {
        "elder_id": elder_id,
        "site_id": site_id,
        "day": day.isoformat(),
        "slot": slot,
        "meal_set_id": meal_set_id,
        "payment": payment,
    }

    async def effect() -> tuple[int, Any]:
        return 201, await _place(
            actor, request, day=day, now=now, key=idempotency_key, standing_order_id=standing_order_id
        )

    scope = f"order:{_placed_by(actor)[0]}:{_placed_by(actor)[1] or 0}"
    try:
        outcome = await run_once(scope, idempotency_key, request, effect, now=now)
    except UniqueViolation as exc:
        if not any(m in exc.constraint for m in SUBSIDY_INDEX_MARKERS):
            raise
        raise DomainError("already_served", {"elder_id": elder_id}) from exc
    if outcome.replayed:
        return 200, msgspec.convert(outcome.body, OrderOut)
    return 201, outcome.body


async def _place(
    actor: OrderActor,
    request: dict[str, Any],
    *,
    day: dt.date,
    now: dt.datetime,
    key: str | None,
    standing_order_id: int | None,
) -> OrderOut:
    from canteen.checkin.services import site_info
    from canteen.menus.services import menu_for, take_portion
    from canteen.payments.ledger import charge_elder, post

    elder_id, site_id, slot = request["elder_id"], request["site_id"], request["slot"]
    payment = request["payment"]
    eligible, elder = await delivery_eligible(elder_id, local_today(now))
    _check_elder_access(actor, elder_id, int(elder["district"]))
    if not eligible:
        raise DomainError("not_eligible_for_delivery", {"elder_id": elder_id})
    site = await site_info(site_id)
    if site.kind != "meal_point" or site.status != "open":
        raise DomainError("site_not_open", {"site_id": site_id})
    menu = await menu_for(site_id, day, slot)
    if menu is None or not menu.sets:
        raise DomainError("no_menu", {"site_id": site_id, "date": day.isoformat(), "slot": slot})
    if now >= menu.cutoff_at:
        raise DomainError("order_cutoff_passed", {"cutoff_at": menu.cutoff_at.isoformat()})
    meal_set = next((s for s in menu.sets if s.id == request["meal_set_id"]), None)
    if meal_set is None:
        raise DomainError("not_found", {"meal_set_id": request["meal_set_id"]})
    q = await _quote(elder_id, site, day, slot, meal_set.list_price_fen)
    await take_portion(meal_set.id)
    brief_cats = await _categories(elder_id, day)
    kind, placed_by_id = _placed_by(actor)
    meal_rows = await Meal.insert(
        Meal(
            district=site.district_id,
            site=site.id,
            elder=elder_id,
            service_date=day,
            slot=slot,
            mode="delivery",
            served_at=now,
            meal_set=meal_set.id,
            items=[{"meal_set_id": meal_set.id, "name": meal_set.name, "list_price_fen": q.list_price_fen}],
            list_price_fen=q.list_price_fen,
            subsidy_fen=q.subsidy_fen,
            copay_fen=q.copay_fen,
            funding=[{"source": f.source, "fen": f.fen} for f in q.funding],
            delivery_fee_fen=q.delivery_fee_fen,
            delivery_subsidy_fen=q.delivery_subsidy_fen,
            payment=payment,
            subsidised=q.subsidy_fen > 0,
            policy_version=q.policy_version or None,
            tier_code=q.tier_code,
            reason_zh=q.reason_zh[:300],
            reason_en=q.reason_en[:300],
            categories=brief_cats,
            operator=site.operator_id,
            cashier_id=actor.user_id if isinstance(actor, Principal) else None,
            device=f"order:{kind}",
            idempotency_key=f"order:{key}" if key else None,
        )
    ).returning(Meal.id)
    meal_id = int(meal_rows[0]["id"])
    order_rows = await Order.insert(
        Order(
            elder=elder_id,
            district=site.district_id,
            site=site.id,
            service_date=day,
            slot=slot,
            meal_set=meal_set.id,
            meal_set_name=meal_set.name,
            diet_tags=list(meal_set.diet_tags),
            list_price_fen=q.list_price_fen,
            subsidy_fen=q.subsidy_fen,
            copay_fen=q.copay_fen,
            delivery_fee_fen=q.delivery_fee_fen,
            delivery_subsidy_fen=q.delivery_subsidy_fen,
            total_due_fen=q.total_due_fen,
            payment=payment,
            payment_status="pending" if payment != "cash" else "due_on_delivery",
            status="placed",
            placed_by_kind=kind,
            placed_by_id=placed_by_id,
            standing_order=standing_order_id,
            meal=meal_id,
            idempotency_key=key,
            created_at=now,
            updated_at=now,
        )
    ).returning(Order.id)
    order_id = int(order_rows[0]["id"])
    revenue = f"revenue:site:{site.id}"
    op = site.operator_id or 0
    movements = [
        Movement(f"receivable:{f.source}:op:{op}", revenue, f.fen)
        for f in [*q.funding, *q.delivery_funding]
        if f.fen
    ]
    lactor = _ledger_actor(actor)
    txn = ""
    payment_status = "pending" if payment == "card" else "due_on_delivery"
    if payment == "balance":
        if q.total_due_fen > 0:
            txn, _ = await charge_elder(
                elder_id,
                q.total_due_fen,
                revenue,
                kind="delivery",
                ref_type="order",
                ref_id=order_id,
                site_id=site.id,
                actor=lactor,
                now=now,
                extra=movements,
            )
        elif movements:
            txn = await post(
                "delivery",
                movements,
                ref_type="order",
                ref_id=order_id,
                site_id=site.id,
                elder_id=elder_id,
                actor=lactor,
                now=now,
            )
        payment_status = "paid"
    elif movements:
        txn = await post(
            "delivery",
            movements,
            ref_type="order",
            ref_id=order_id,
            site_id=site.id,
            elder_id=elder_id,
            actor=lactor,
            now=now,
        )
    if q.total_due_fen == 0:
        payment_status = "paid"
    await Order.update({Order.ledger_txn: txn, Order.payment_status: payment_status}).where(
        Order.id == order_id
    )
    await Meal.update({Meal.ledger_txn: txn}).where(Meal.id == meal_id)
    await apply_meal_id(meal_id, +1)
    await audit.record(
        lactor,
        "order.place",
        "delivery_order",
        order_id,
        district_id=site.district_id,
        after={"elder_id": elder_id, "placed_by": kind, "payment": payment, "total_due_fen": q.total_due_fen},
        now=now,
    )
    return order_out(await _order_row(order_id))


async def _categories(elder_id: int, day: dt.date) -> list[str]:
    from canteen.registry.services import category_rows, category_valid

    return [c["code"] for c in await category_rows([elder_id]) if category_valid(c, day)]


async def _cutoff(site_id: int, day: dt.date, slot: str) -> dt.datetime | None:
    from canteen.menus.services import menu_for

    menu = await menu_for(site_id, day, slot)
    return menu.cutoff_at if menu else None


async def cancel_order(
    actor: OrderActor, order_id: int, *, reason: str = "", now: dt.datetime | None = None
) -> OrderOut:
    """Cancel before cut-off: money back where it came from, the Meal voided, the portion released."""
    from canteen.menus.services import release_portion
    from canteen.payments.ledger import reverse_in_txn
    from canteen.payments.providers.stripe_provider import get_provider

    now = now or utcnow()
    row = await _order_row(order_id)
    _check_elder_access(actor, row["elder"], row["district"])
    if row["status"] not in CANCELLABLE:
        raise DomainError("order_not_cancellable", {"status": row["status"]})
    cutoff = await _cutoff(row["site"], row["service_date"], row["slot"])
    if cutoff is not None and now >= cutoff and not isinstance(actor, Principal):
        raise DomainError("order_cutoff_passed", {"cutoff_at": cutoff.isoformat()})
    refund_id = ""
    card = None
    if row["payment"] == "card":
        card = await _paid_intent(order_id)
        if card is not None:
            refund = get_provider().refund(
                card["provider_id"], amount_fen=None, idempotency_key=f"refund-order-{order_id}"
            )
            if refund.status not in ("succeeded", "pending"):
                raise DomainError("card_payment_failed", {"refund_status": refund.status})
            refund_id = refund.provider_id
    lactor = _ledger_actor(actor)
    async with write_transaction():
        fresh = await _order_row(order_id)
        if fresh["status"] not in CANCELLABLE:
            raise DomainError("order_not_cancellable", {"status": fresh["status"]})
        void_txn = ""
        if fresh["ledger_txn"]:
            void_txn = await reverse_in_txn(
                fresh["ledger_txn"], kind="void", actor=lactor, now=now, note=reason
            )
        if fresh["payment_txn"]:
            await reverse_in_txn(fresh["payment_txn"], kind="refund", actor=lactor, now=now, note=reason)
        if fresh["meal"]:
            await mark_voided(
                fresh["meal"],
                by=actor.user_id if isinstance(actor, Principal) else None,
                reason="order cancelled " + reason,
                void_txn=void_txn,
                now=now,
            )
        await release_portion(fresh["meal_set"])
        pay_status = fresh["payment_status"]
        if fresh["payment"] == "balance" or card is not None:
            pay_status = "refunded"
        elif fresh["payment"] == "card":
            pay_status = "canceled"
        await Order.update(
            {
                Order.status: "cancelled",
                Order.payment_status: pay_status,
                Order.cancelled_at: now,
                Order.updated_at: now,
            }
        ).where(Order.id == order_id)
        if card is not None:
            await PaymentIntentRecord.update(
                {
                    PaymentIntentRecord.status: "refunded",
                    PaymentIntentRecord.refund_id: refund_id,
                    PaymentIntentRecord.updated_at: now,
                }
            ).where(PaymentIntentRecord.id == card["id"])
        await audit.record(
            lactor,
            "order.cancel",
            "delivery_order",
            order_id,
            district_id=fresh["district"],
            before={"status": fresh["status"]},
            after={"status": "cancelled", "reason": reason, "refund": refund_id or pay_status},
            now=now,
        )
    return order_out(await _order_row(order_id))


async def _paid_intent(order_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await PaymentIntentRecord.select()
        .where((PaymentIntentRecord.order == order_id) & (PaymentIntentRecord.status == "succeeded"))
        .first()
    )
    return row


async def set_status(
    actor: OrderActor, order_id: int, status: str, *, reason: str = "", now: dt.datetime | None = None
) -> OrderOut:
    """Move an order along placed → confirmed → cooking → out_for_delivery → delivered / not_delivered.

    Delivered cash orders post the cash collected; a not-delivered order voids its Meal
    (the subsidy is freed) and reverses its ledger entries.
    """
    from canteen.payments.ledger import post, reverse_in_txn

    now = now or utcnow()
    if isinstance(actor, ElderPrincipal):
        raise DomainError("forbidden")
    lactor = _ledger_actor(actor)
    async with write_transaction():
        row = await _order_row(order_id)
        # The district's officials and the delivering site's operator, kitchen and couriers move orders
        # along (can_site with no roles would ask for site grants only and shut officials out).
        if isinstance(actor, Principal) and not actor.can_site(
            row["site"], row["district"], OFFICIAL, OPERATOR, KITCHEN, COURIER
        ):
            raise DomainError("not_found", {"order_id": order_id})
        if status not in TRANSITIONS.get(row["status"], ()) or status == "cancelled":
            raise DomainError("order_bad_transition", {"from": row["status"], "to": status})
        values: dict[Any, Any] = {Order.status: status, Order.updated_at: now}
        if status == "delivered" and row["payment"] == "cash" and row["total_due_fen"] > 0:
            txn = await post(
                "delivery_cash",
                [
                    Movement(
                        f"cash:site:{row['site']}:{row['service_date'].isoformat()}",
                        f"revenue:site:{row['site']}",
                        row["total_due_fen"],
                    )
                ],
                ref_type="order",
                ref_id=order_id,
                site_id=row["site"],
                elder_id=row["elder"],
                actor=lactor,
                now=now,
            )
            values[Order.payment_txn] = txn
            values[Order.payment_status] = "paid"
        if status == "not_delivered":
            values[Order.not_delivered_reason] = reason[:200]
            void_txn = ""
            if row["ledger_txn"]:
                void_txn = await reverse_in_txn(
                    row["ledger_txn"], kind="void", actor=lactor, now=now, note=reason
                )
                if row["payment"] == "balance":
                    values[Order.payment_status] = "refunded"
            if row["meal"]:
                await mark_voided(
                    row["meal"], by=None, reason="not delivered " + reason, void_txn=void_txn, now=now
                )
        await Order.update(values).where(Order.id == order_id)
        await audit.record(
            lactor,
            "order.status",
            "delivery_order",
            order_id,
            district_id=row["district"],
            before={"status": row["status"]},
            after={"status": status, "reason": reason},
            now=now,
        )
    return order_out(await _order_row(order_id))


async def confirm_at_cutoff(site_id: int, day: dt.date, slot: str, *, now: dt.datetime | None = None) -> int:
    """Job: at cut-off, every placed order of (site, day, slot) becomes confirmed. Returns how many."""
    now = now or utcnow()
    cutoff = await _cutoff(site_id, day, slot)
    if cutoff is not None and now < cutoff:
        return 0
    async with write_transaction():
        rows = (
            await Order.update({Order.status: "confirmed", Order.updated_at: now})
            .where(
                (Order.site == site_id)
                & (Order.service_date == day)
                & (Order.slot == slot)
                & (Order.status == "placed")
                & ((Order.payment != "card") | (Order.payment_status == "paid"))
            )
            .returning(Order.id)
        )
    return len(rows)


# --- card payments -------------------------------------------------------------------------


async def start_card_payment(
    actor: OrderActor,
    order_id: int,
    *,
    payment_method: str | None = None,
    confirm: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Create (and optionally confirm) the provider's intent for a card order; the webhook settles it."""
    now = now or utcnow()
    row = await _order_row(order_id)
    _check_elder_access(actor, row["elder"], row["district"])
    if row["payment"] != "card" or row["payment_status"] != "pending" or row["status"] == "cancelled":
        raise DomainError("payment_not_pending", {"payment_status": row["payment_status"]})
    return {
        "order_id": order_id,
        **await _card_intent(
            amount_fen=row["total_due_fen"],
            metadata={"order_id": str(order_id), "elder_id": str(row["elder"])},
            idempotency_key=f"order-{order_id}-{payment_method or 'none'}",
            payment_method=payment_method,
            confirm=confirm,
            order_id=order_id,
            now=now,
        ),
    }


async def start_card_topup(
    actor: Principal,
    elder_id: int,
    amount_fen: int,
    *,
    idempotency_key: str,
    payment_method: str | None = None,
    confirm: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Top up an elder's balance by card (staff on the family's behalf): the same provider path
    as a card order; the verified webhook moves clearing:stripe → the elder's balance."""
    now = now or utcnow()
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None or not actor.can_district(int(elder["district"])):
        raise DomainError("not_found", {"elder_id": elder_id})
    if not 100 <= amount_fen <= 200_000:
        raise DomainError("invalid_amount", {"amount_fen": amount_fen, "min_fen": 100, "max_fen": 200_000})
    out = await _card_intent(
        amount_fen=amount_fen,
        metadata={"topup_elder": str(elder_id)},
        idempotency_key=f"topup-{elder_id}-{idempotency_key}",
        payment_method=payment_method,
        confirm=confirm,
        topup_elder=elder_id,
        now=now,
    )
    await audit.record(
        actor,
        "topup.card_started",
        "elder",
        elder_id,
        after={"amount_fen": amount_fen, "provider_id": out["provider_id"]},
        district_id=int(elder["district"]),
        now=now,
    )
    return {"elder_id": elder_id, **out}


async def _card_intent(
    *,
    amount_fen: int,
    metadata: dict[str, str],
    idempotency_key: str,
    payment_method: str | None,
    confirm: bool,
    now: dt.datetime,
    order_id: int | None = None,
    topup_elder: int | None = None,
) -> dict[str, Any]:
    """Create (once per idempotency key) and optionally confirm a provider intent, recording it."""
    from canteen.payments.providers.stripe_provider import get_provider

    try:
        provider = get_provider()
    except RuntimeError as exc:
        raise DomainError("card_not_configured") from exc
    intent = provider.create(
        amount_fen=amount_fen,
        currency="cny",
        metadata=metadata,
        idempotency_key=idempotency_key,
        payment_method=payment_method,
    )
    async with write_transaction():
        existing = await PaymentIntentRecord.exists().where(
            PaymentIntentRecord.provider_id == intent.provider_id
        )
        if not existing:
            await PaymentIntentRecord.insert(
                PaymentIntentRecord(
                    provider=provider.name,
                    provider_id=intent.provider_id,
                    order=order_id,
                    topup_elder=topup_elder,
                    amount_fen=amount_fen,
                    status="created",
                    provider_data=intent.raw,
                    created_at=now,
                    updated_at=now,
                )
            )
    if confirm:
        try:
            intent = provider.confirm(intent.provider_id)
        except Exception as exc:  # the provider's card errors: nothing is paid
            raise DomainError("card_payment_failed", {"reason": str(exc)[:200]}) from exc
    return {
        "provider": provider.name,
        "provider_id": intent.provider_id,
        "client_secret": intent.client_secret,
        "status": intent.status,
        "amount_fen": amount_fen,
    }


async def handle_provider_event(event: Any, *, now: dt.datetime | None = None) -> str:
    """Apply one verified provider event exactly once (by event id). Returns what happened.

    Duplicates return ``duplicate``; a success after a failure settles; a failure after a
    success changes nothing; events about unknown intents are recorded and ignored.
    """
    from canteen.orders.tables import ProviderEvent
    from canteen.payments.ledger import post

    now = now or utcnow()
    actor = SystemActor(f"webhook:{event.provider}")
    try:
        async with write_transaction():
            if await ProviderEvent.exists().where(ProviderEvent.event_id == event.event_id):
                return "duplicate"
            outcome = "ignored"
            rec = None
            if event.intent_id:
                rec = (
                    await PaymentIntentRecord.select()
                    .where(PaymentIntentRecord.provider_id == event.intent_id)
                    .first()
                )
            if rec is not None and event.type == "payment.succeeded":
                outcome = "already_settled"
                if rec["status"] in ("created", "failed"):
                    outcome = "settled"
                    await PaymentIntentRecord.update(
                        {PaymentIntentRecord.status: "succeeded", PaymentIntentRecord.updated_at: now}
                    ).where(PaymentIntentRecord.id == rec["id"])
                    if rec["order"] is not None:
                        order = await _order_row(rec["order"])
                        txn = await post(
                            "card_payment",
                            [Movement("clearing:stripe", f"revenue:site:{order['site']}", rec["amount_fen"])],
                            ref_type="order",
                            ref_id=order["id"],
                            site_id=order["site"],
                            elder_id=order["elder"],
                            actor=actor,
                            now=now,
                        )
                        await Order.update(
                            {Order.payment_status: "paid", Order.payment_txn: txn, Order.updated_at: now}
                        ).where(Order.id == order["id"])
                    elif rec["topup_elder"] is not None:
                        await post(
                            "topup_card",
                            [Movement("clearing:stripe", f"elder:{rec['topup_elder']}", rec["amount_fen"])],
                            ref_type="elder",
                            ref_id=rec["topup_elder"],
                            elder_id=rec["topup_elder"],
                            actor=actor,
                            now=now,
                        )
            elif rec is not None and event.type == "payment.failed":
                outcome = "ignored_after_success"
                if rec["status"] == "created":
                    outcome = "failed"
                    await PaymentIntentRecord.update(
                        {PaymentIntentRecord.status: "failed", PaymentIntentRecord.updated_at: now}
                    ).where(PaymentIntentRecord.id == rec["id"])
                    if rec["order"] is not None:
                        await Order.update({Order.payment_status: "failed", Order.updated_at: now}).where(
                            (Order.id == rec["order"]) & (Order.payment_status == "pending")
                        )
            await ProviderEvent.insert(
                ProviderEvent(
                    provider=event.provider,
                    event_id=event.event_id,
                    event_type=event.provider_type[:60],
                    object_id=event.intent_id[:100],
                    outcome=outcome,
                    received_at=now,
                )
            )
            return outcome
    except UniqueViolation:
        return "duplicate"


# --- standing orders -----------------------------------------------------------------------


def _standing_out(r: dict[str, Any]) -> StandingOrderOut:
    return StandingOrderOut(
        id=r["id"],
        elder_id=r["elder"],
        site_id=r["site"],
        slot=r["slot"],
        weekdays=list(r["weekdays"] or []),
        meal_set_name=r["meal_set_name"],
        payment=r["payment"],
        active=r["active"],
        until=r["until"],
    )


async def create_standing_order(
    actor: OrderActor, data: StandingOrderIn, *, now: dt.datetime | None = None
) -> StandingOrderOut:
    now = now or utcnow()
    eligible, elder = await delivery_eligible(data.elder_id, local_today(now))
    _check_elder_access(actor, data.elder_id, int(elder["district"]))
    if not eligible:
        raise DomainError("not_eligible_for_delivery", {"elder_id": data.elder_id})
    kind, by = _placed_by(actor)
    async with write_transaction():
        rows = await StandingOrder.insert(
            StandingOrder(
                elder=data.elder_id,
                site=data.site_id,
                slot=data.slot,
                weekdays=sorted(set(data.weekdays)),
                meal_set_name=data.meal_set_name,
                payment=data.payment,
                until=data.until,
                placed_by_kind=kind,
                placed_by_id=by,
                created_at=now,
                updated_at=now,
            )
        ).returning(StandingOrder.id)
        sid = int(rows[0]["id"])
        await audit.record(
            _ledger_actor(actor),
            "standing_order.create",
            "standing_order",
            sid,
            district_id=int(elder["district"]),
            after=msgspec.to_builtins(data),
            now=now,
        )
    row = await StandingOrder.select().where(StandingOrder.id == sid).first().output(load_json=True)
    assert row is not None
    return _standing_out(row)


async def list_standing_orders(actor: OrderActor, elder_id: int) -> list[StandingOrderOut]:
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_elder_access(actor, elder_id, int(elder["district"]))
    rows = (
        await StandingOrder.select()
        .where(StandingOrder.elder == elder_id)
        .order_by(StandingOrder.id)
        .output(load_json=True)
    )
    return [_standing_out(r) for r in rows]


async def stop_standing_order(actor: OrderActor, standing_id: int, *, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    row = await StandingOrder.select().where(StandingOrder.id == standing_id).first()
    if row is None:
        raise DomainError("not_found", {"standing_order_id": standing_id})
    elder = await Elder.select(Elder.district).where(Elder.id == row["elder"]).first()
    assert elder is not None
    _check_elder_access(actor, row["elder"], int(elder["district"]))
    async with write_transaction():
        await StandingOrder.update({StandingOrder.active: False, StandingOrder.updated_at: now}).where(
            StandingOrder.id == standing_id
        )


async def materialise_standing_orders(day: dt.date, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Job: turn active standing orders into orders for ``day`` (before cut-off). Idempotent per
    (standing order, day) through the idempotency key. Returns counts by outcome code."""
    from canteen.menus.services import menu_for

    now = now or utcnow()
    actor = SystemActor("standing_orders")
    counts: dict[str, int] = {}
    rows = await StandingOrder.select().where(StandingOrder.active == True).output(load_json=True)  # noqa: E712
    for r in rows:
        if day.weekday() not in (r["weekdays"] or []) or (r["until"] and r["until"] < day):
            continue
        menu = await menu_for(r["site"], day, r["slot"])
        if menu is None or not menu.sets:
            counts["no_menu"] = counts.get("no_menu", 0) + 1
            continue
        chosen = next((s for s in menu.sets if s.name == r["meal_set_name"]), None)
        if chosen is None:
            diet = (
                await Elder.select(Elder.diet).where(Elder.id == r["elder"]).first().output(load_json=True)
            ) or {}
            chosen = sort_sets_for_diet(list(menu.sets), list(diet.get("diet") or []))[0][0]
        try:
            await place_order(
                actor,
                elder_id=r["elder"],
                site_id=r["site"],
                day=day,
                slot=r["slot"],
                meal_set_id=chosen.id,
                payment=r["payment"],
                now=now,
                idempotency_key=f"standing-{r['id']}-{day.isoformat()}",
                standing_order_id=r["id"],
            )
            counts["placed"] = counts.get("placed", 0) + 1
        except DomainError as err:
            counts[err.code] = counts.get(err.code, 0) + 1
    return counts
