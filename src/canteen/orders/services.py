"""Delivery orders: place, pay, cancel and move through the day; elder and family sign-in.

One rule spans the counter and the door: placing a delivery order records its meal
(``meals.record_meal``, mode ``delivery``) in the same transaction, so the partial unique
index on subsidised meals refuses a second subsidised lunch at the counter
(``already_served``), and a counter meal already served refuses the order. Every later
change of an order's status goes through the state machine in ``orders.lifecycle``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from canteen.accounts.passwords import check_policy, hash_password_async, verify_password_async
from canteen.accounts.roles import ADMIN, COURIER, KITCHEN, OFFICIAL, OPERATOR, Principal
from canteen.accounts.services import SignInLimits
from canteen.accounts.tables import StaffUser
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import check_key, run_once
from canteen.core.kv import KV
from canteen.core.ratelimit import Limit, Limiter
from canteen.meals import services as meals
from canteen.meals.pricing import elder_for_pricing, price_meal
from canteen.meals.usage import already_detail, elder_meals, is_subsidy_refusal
from canteen.menus.rules import AllergenConflict, allergen_conflicts, check_allergens, texture_fits
from canteen.menus.schemas import MealSetView
from canteen.menus.services import meal_set_for, menu_for
from canteen.orders import lifecycle
from canteen.orders.actors import ElderPrincipal, OrderActor, ledger_actor, placed_by
from canteen.orders.schemas import (
    DeliveryWindow,
    ElderOverview,
    FamilyLinkOut,
    OrderOut,
    SlotDay,
    StandingOrderIn,
    StandingOrderOut,
)
from canteen.orders.tables import (
    FamilyAccount,
    FamilyLink,
    Order,
    PaymentIntentRecord,
    ProviderEvent,
    StandingOrder,
)
from canteen.payments.ledger import balance_of, post, reverse_in_txn
from canteen.payments.providers.stripe_provider import get_provider, off_loop
from canteen.payments.schemas import Movement
from canteen.regions.lookup import SiteInfo, site_info
from canteen.regions.tables import Site
from canteen.registry import pauses, pin_lockout
from canteen.registry.card_services import resolve_card
from canteen.registry.cards import looks_like_token, parse_card_number
from canteen.registry.national_id import age_on
from canteen.registry.pin_lockout import PIN_MAX_FAILURES
from canteen.registry.services import category_rows, delivery_reasons, elder_row
from canteen.registry.tables import Card, Elder
from canteen.settings import Settings, get_settings
from canteen.subsidies.schemas import Quote

register("not_eligible_for_delivery", 403)
register("order_cutoff_passed", 409)
register("pin_wrong", 401)
register("pin_locked", 429)
register("card_not_configured", 503)
register("card_payment_failed", 402)
register("payment_not_pending", 409)
register("order_site_not_assigned", 409)

# Elder sign-in limits beyond the durable per-elder lockout (canteen.registry.pin_lockout):
# failed PINs per client address, and a lockout of its own for each unknown card number.
ELDER_PIN_PER_ADDRESS = Limit("elder_pin:address", 30, 15 * 60)
UNKNOWN_CARD_PIN = Limit("elder_pin:unknown_card", PIN_MAX_FAILURES, 15 * 60)
ELDER_SESSION_PREFIX = "elder_session:"
ELDER_SESSION_TTL = 30 * 86400  # no time limit that logs an elder out mid-order

__all__ = ["ElderPrincipal", "OrderActor"]
SLOT_ORDER = {"breakfast": 0, "lunch": 1, "dinner": 2}


# --- who orders ---------------------------------------------------------------------------


def _check_elder_access(actor: OrderActor, elder_id: int, district_id: int) -> None:
    if isinstance(actor, ElderPrincipal):
        if elder_id not in actor.elder_ids:
            raise DomainError("not_found", {"elder_id": elder_id})
        return
    if isinstance(actor, Principal):
        if actor.has_role(ADMIN) or (actor.has_role(OFFICIAL) and actor.can_district(district_id)):
            return
        raise DomainError("not_found", {"elder_id": elder_id})


def check_order_site(actor: OrderActor, site: SiteInfo, elder_district_id: int) -> None:
    """Where an elder's meals may come from: a site of the elder's own district; staff may also
    pick a site in their own scope (an official's other district; an admin any site).

    A site outside a staff member's scope is ``not_found`` (as every out-of-scope id); an elder,
    a family member or a standing order naming another district's site is refused with
    ``order_site_not_assigned`` (409): the ordering page takes the site from the elder's own
    assignment and never from the form, so only a forged or stale form gets here.
    """
    if site.district_id == elder_district_id:
        return
    if isinstance(actor, Principal):
        if actor.can_site(site.id, site.district_id, OFFICIAL):
            return
        raise DomainError("not_found", {"site_id": site.id})
    raise DomainError("order_site_not_assigned", {"site_id": site.id})


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


def _local_iso(moment: dt.datetime) -> str:
    return moment.astimezone(get_settings().tz).isoformat()


async def elder_sign_in(
    card_number: str,
    pin: str,
    *,
    limiter: Limiter | None = None,
    ip: str = "-",
    now: dt.datetime | None = None,
) -> ElderPrincipal:
    """Card number (or the card's QR code) + PIN.

    Refusals: ``pin_wrong`` with ``{"tries_left": n}``; ``pin_locked`` with ``{"until": ISO
    time in the service zone, "hotline"}`` (progressive: 15 minutes, 1 hour, then 24 hours,
    see ``canteen.registry.pin_lockout``), the right PIN included while locked. The try is
    taken in the database before the PIN is checked, so concurrent guesses cannot outrun
    the lock. With a ``limiter`` the attempts are also counted per client address
    (``too_many_attempts``), and unknown card numbers get a lockout of their own, so the
    answers for an unknown card look like those for a real one.
    """
    now = now or utcnow()
    hotline = get_settings().hotline
    attempt = await limiter.attempt([(ELDER_PIN_PER_ADDRESS, ip)]) if limiter is not None else None
    card: dict[str, Any] | None
    key = card_number.strip().upper()[:200]
    if looks_like_token(card_number):  # the phone camera read the card's QR code
        try:
            card = {"elder": (await resolve_card(card_number)).elder_id}
        except DomainError:
            card = None
    else:
        try:
            key = parse_card_number(card_number)
        except DomainError:
            card = None
        else:
            card = (
                await Card.select(Card.elder).where((Card.number == key) & Card.revoked_at.is_null()).first()
            )
    if card is None:
        await verify_password_async(None, pin)  # same work either way
        if limiter is None:
            raise DomainError("pin_wrong", {"tries_left": PIN_MAX_FAILURES - 1})
        try:
            left = await limiter.hit(UNKNOWN_CARD_PIN, key)
        except DomainError as exc:
            if exc.code != "too_many_attempts":
                raise
            wait = await limiter.retry_after(UNKNOWN_CARD_PIN, key)
            until = now + dt.timedelta(seconds=wait)
            raise DomainError("pin_locked", {"hotline": hotline, "until": _local_iso(until)}) from exc
        if left == 0:
            until = now + dt.timedelta(seconds=await limiter.retry_after(UNKNOWN_CARD_PIN, key))
            raise DomainError("pin_locked", {"hotline": hotline, "until": _local_iso(until)})
        raise DomainError("pin_wrong", {"tries_left": left})
    elder_id = int(card["elder"])
    taken = await pin_lockout.reserve(elder_id, now=now)
    if not taken.taken:
        assert taken.locked_until is not None
        raise DomainError("pin_locked", {"hotline": hotline, "until": _local_iso(taken.locked_until)})
    ok = await verify_password_async(taken.pin_hash, pin) and taken.status == "active"
    if ok:
        await pin_lockout.succeeded(elder_id)
        if attempt is not None:
            await attempt.succeeded()
        return ElderPrincipal("elder", elder_id, (elder_id,))
    if taken.locked_until is not None:
        raise DomainError("pin_locked", {"hotline": hotline, "until": _local_iso(taken.locked_until)})
    raise DomainError("pin_wrong", {"tries_left": taken.tries_left})


def family_limits(settings: Settings | None = None) -> SignInLimits:
    """Family sign-in: the staff login's figures (CANTEEN_LOGIN_*), per phone and per address."""
    s = settings or get_settings()
    return SignInLimits.of(
        "family_login",
        max_per_account=s.login_max_failures_per_user,
        max_per_address=s.login_max_failures_per_ip,
        window=s.login_window_seconds,
    )


async def family_sign_in(
    phone: str,
    password: str,
    *,
    limiter: Limiter | None = None,
    ip: str = "-",
    limits: SignInLimits | None = None,
) -> ElderPrincipal:
    """A family member's phone + password; counted per phone and per address before the
    password is checked (``too_many_attempts``, progressive), like the staff login."""
    phone = phone.strip()
    attempt = None
    if limiter is not None:
        attempt = await (limits or family_limits()).attempt(limiter, phone, ip)
    row = (
        await FamilyAccount.select(FamilyAccount.id, FamilyAccount.password_hash, FamilyAccount.active)
        .where(FamilyAccount.phone == phone)
        .first()
    )
    if (
        not await verify_password_async(row["password_hash"] if row else None, password)
        or row is None
        or not row["active"]
    ):
        raise DomainError("invalid_credentials")
    if attempt is not None:
        await attempt.succeeded()
    links = await FamilyLink.select(FamilyLink.elder).where(FamilyLink.family == row["id"])
    return ElderPrincipal("family", int(row["id"]), tuple(sorted(int(r["elder"]) for r in links)))


async def create_family_account(
    actor: Principal, *, phone: str, password: str, name: str, now: dt.datetime | None = None
) -> int:
    """A family member's account; created by staff (admin or community worker)."""
    now = now or utcnow()
    if not actor.has_role(ADMIN, OFFICIAL):
        raise DomainError("forbidden")
    password_hash = await hash_password_async(password)  # slow on purpose: off the loop, before the lock
    async with write_transaction():
        rows = await FamilyAccount.insert(
            FamilyAccount(phone=phone.strip(), password_hash=password_hash, name=name, created_at=now)
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


async def family_name(family_id: int) -> str:
    """A family account's own name (the ordering page greets the family member by it)."""
    row = await FamilyAccount.select(FamilyAccount.name).where(FamilyAccount.id == family_id).first()
    return str(row["name"]) if row else ""


def _check_family_scope(actor: Principal, district_id: int) -> None:
    if not (actor.has_role(ADMIN) or (actor.has_role(OFFICIAL) and actor.can_district(district_id))):
        raise DomainError("forbidden")


async def family_links(actor: Principal, elder_id: int) -> list[FamilyLinkOut]:
    """The family accounts linked to an elder, with the consent as recorded (who, when)."""
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_family_scope(actor, int(elder["district"]))
    rows = (
        await FamilyLink.select(
            FamilyLink.family,
            FamilyLink.family.name.as_alias("name"),
            FamilyLink.family.phone.as_alias("phone"),
            FamilyLink.family.active.as_alias("active"),
            FamilyLink.consent_note,
            FamilyLink.linked_by,
            FamilyLink.linked_at,
        )
        .where(FamilyLink.elder == elder_id)
        .order_by(FamilyLink.id)
    )
    by_ids = {int(r["linked_by"]) for r in rows if r["linked_by"] is not None}
    names: dict[int, str] = {}
    if by_ids:
        staff = await StaffUser.select(StaffUser.id, StaffUser.display_name).where(
            StaffUser.id.is_in(sorted(by_ids))
        )
        names = {int(u["id"]): str(u["display_name"]) for u in staff}
    return [
        FamilyLinkOut(
            family_id=int(r["family"]),
            name=r["name"],
            phone=r["phone"],
            active=bool(r["active"]),
            consent_note=r["consent_note"],
            linked_by=names.get(int(r["linked_by"]), "") if r["linked_by"] is not None else "",
            linked_at=r["linked_at"],
        )
        for r in rows
    ]


async def open_family_account(
    actor: Principal,
    elder_id: int,
    *,
    phone: str,
    password: str,
    name: str,
    consent_note: str,
    now: dt.datetime | None = None,
) -> int:
    """The staff page's one step: a family account for this phone (created, or the existing
    one) linked to the elder with the consent recorded. Scope and consent are checked before
    anything is written; creating and linking commit together."""
    now = now or utcnow()
    elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_family_scope(actor, int(elder["district"]))
    if len(consent_note.strip()) < 2:
        raise DomainError("validation_failed", {"field": "consent_note", "reason": "required"})
    phone = phone.strip()
    # One transaction (the two services join it): the account is never left without its link.
    async with write_transaction():
        found = await FamilyAccount.select(FamilyAccount.id).where(FamilyAccount.phone == phone).first()
        if found is not None:
            family_id = int(found["id"])
            linked = FamilyLink.exists().where(
                (FamilyLink.family == family_id) & (FamilyLink.elder == elder_id)
            )
            if await linked:
                raise DomainError("duplicate", {"field": "phone"})
        else:
            check_policy(password, phone)
            family_id = await create_family_account(actor, phone=phone, password=password, name=name, now=now)
        await link_family(actor, family_id, elder_id, consent_note=consent_note, now=now)
    return family_id


async def reset_family_password(
    actor: Principal, family_id: int, password: str, *, now: dt.datetime | None = None
) -> None:
    """A new password for a family account, by staff in scope of one of its elders (audited).

    Failed sign-ins counted against the phone are the limiter's and expire on their own."""
    now = now or utcnow()
    links = await FamilyLink.select(FamilyLink.elder.district.as_alias("district")).where(
        FamilyLink.family == family_id
    )
    account = await FamilyAccount.select(FamilyAccount.phone).where(FamilyAccount.id == family_id).first()
    if account is None:
        raise DomainError("not_found", {"family_id": family_id})
    districts = sorted({int(r["district"]) for r in links})
    if not actor.has_role(ADMIN) and not any(actor.can_district(d) for d in districts):
        raise DomainError("not_found", {"family_id": family_id})
    check_policy(password, str(account["phone"]))
    password_hash = await hash_password_async(password)
    async with write_transaction():
        await FamilyAccount.update({FamilyAccount.password_hash: password_hash}).where(
            FamilyAccount.id == family_id
        )
        await audit.record(
            actor,
            "family.password_reset",
            "family_account",
            family_id,
            district_id=districts[0] if districts else None,
            now=now,
        )


# --- eligibility, menus, quotes -----------------------------------------------------------


async def delivery_eligible(elder_id: int, today: dt.date) -> tuple[bool, dict[str, Any]]:
    """(eligible, elder row) by the registry's rule (categories, age, or a grant)."""
    row = await elder_row(elder_id)
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    cats = await category_rows([elder_id])
    eligible, _ = delivery_reasons(row, cats, age_on(row["birth_date"], today), today)
    return eligible and row["status"] == "active", row


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(get_settings().tz).date()


@dataclass(frozen=True, slots=True)
class RankedSet:
    """A meal set as it suits one elder: ``conflicts`` are the elder's allergen groups it holds
    (such a set is shown last and only staff may order it), ``suits_diet`` every diet need met,
    ``fits_texture`` no coarser than the elder's IDDSI level."""

    meal_set: Any
    conflicts: list[str]
    suits_diet: bool
    fits_texture: bool

    @property
    def fits(self) -> bool:
        return not self.conflicts and self.suits_diet and self.fits_texture


def rank_sets_for_elder(
    sets: list[Any], diet: list[str], allergens: list[str], texture_level: int | None
) -> list[RankedSet]:
    """Sets in the order an elder should see them: fitting ones first (no allergen, diet met,
    texture fits), then those missing diet or texture (by how many diet needs they meet), and
    the ones holding one of the elder's allergens last; menu order within each group."""
    need = set(diet)
    ranked = []
    for s in sets:
        tags = set(s.diet_tags)
        ranked.append(
            (
                RankedSet(
                    s,
                    allergen_conflicts(allergens, getattr(s, "allergens", []) or []),
                    need.issubset(tags),
                    texture_fits(texture_level, getattr(s, "texture_level", None)),
                ),
                len(need & tags),
            )
        )
    ranked.sort(
        key=lambda p: (bool(p[0].conflicts), not p[0].fits, -p[1], p[0].meal_set.sort_order, p[0].meal_set.id)
    )
    return [r for r, _ in ranked]


def sort_sets_for_diet(sets: list[Any], diet: list[str]) -> list[tuple[Any, bool]]:
    """Meal sets with a flag "suits the elder's diet" (every need met); suitable ones first,
    then the others by how many of the needs they meet, then in menu order."""
    need = set(diet)
    marked = [(s, need.issubset(set(s.diet_tags)), len(need & set(s.diet_tags))) for s in sets]
    ranked = sorted(marked, key=lambda p: (not p[1], -p[2], p[0].sort_order, p[0].id))
    return [(s, suits) for s, suits, _ in ranked]


def delivery_window(site: SiteInfo, slot: str) -> DeliveryWindow | None:
    """When a delivery of ``slot`` comes: the delivering point's serving hours for it."""
    for s in site.slots:
        if s.get("slot") == slot and s.get("start") and s.get("end"):
            return DeliveryWindow(start=str(s["start"]), end=str(s["end"]))
    return None


ENDED = (lifecycle.CANCELLED,)


async def elder_overview(
    actor: OrderActor, elder_id: int, site_id: int | None, *, now: dt.datetime | None = None
) -> ElderOverview:
    """What the ordering page says before any tap: the meals already ordered from today on
    (with when each comes), the balance, whether delivery may be ordered at all, and the
    delivering point's name and phone."""
    now = now or utcnow()
    today = local_today(now)
    eligible, row = await delivery_eligible(elder_id, today)
    _check_elder_access(actor, elder_id, int(row["district"]))
    orders = [
        o
        for o in await list_orders(actor, elder_id, limit=30)
        if o.service_date >= today and o.status not in ENDED
    ]
    orders.sort(key=lambda o: (o.service_date, SLOT_ORDER.get(o.slot, 9), o.id))
    # A meal eaten at a counter takes the slot too: a delivery for it would be refused.
    eaten = sorted(
        {
            (m["service_date"], str(m["slot"]))
            for m in await elder_meals(elder_id, limit=10)
            if m["voided_at"] is None and m["mode"] != meals.DELIVERY and m["service_date"] >= today
        },
        key=lambda p: (p[0], SLOT_ORDER.get(p[1], 9)),
    )
    site = await site_info(site_id) if site_id else None
    windows: dict[str, DeliveryWindow] = {}
    for o in orders:
        info = site if site is not None and site.id == o.site_id else await site_info(o.site_id)
        window = delivery_window(info, o.slot)
        if window is not None:
            windows[str(o.id)] = window
    phone = ""
    if site is not None:
        found = await Site.select(Site.phone).where(Site.id == site.id).first()
        phone = str(found["phone"]) if found else ""
    return ElderOverview(
        elder_id=elder_id,
        name=str(row["name"]),
        balance_fen=await balance_of(elder_id),
        delivery_eligible=eligible,
        upcoming=orders,
        windows=windows,
        eaten=[SlotDay(day, slot) for day, slot in eaten],
        site_name=site.name if site else "",
        site_phone=phone or get_settings().hotline,
    )


async def _quote(elder_id: int, site: SiteInfo, day: dt.date, slot: str, meal_set: MealSetView) -> Quote:
    """The one quote assembly for a delivery (the set's price and its type: a therapeutic or soft
    set gets its tier's own subsidy); a second meal in a slot is refused (an elder is never sent
    two lunches), where the counter would sell it at full price."""
    priced = await price_meal(
        site=site,
        elder_id=elder_id,
        day=day,
        slot=slot,
        mode=meals.DELIVERY,
        list_price_fen=meal_set.list_price_fen,
        meal_type=meal_set.meal_type,
    )
    if priced.already is not None:
        raise DomainError("already_served", already_detail(priced.already))
    return priced.quote


async def quote_order(
    actor: OrderActor,
    *,
    elder_id: int,
    site_id: int,
    day: dt.date,
    slot: str,
    meal_set_id: int,
    allergen_override_reason: str | None = None,
) -> Quote:
    """The price split the confirm screen shows (writes nothing); a set containing one of the
    elder's allergens is refused as :func:`place_order` would (``allergen_conflict``)."""
    site = await site_info(site_id)
    elder = (
        await Elder.select(Elder.district, Elder.allergens)
        .where(Elder.id == elder_id)
        .first()
        .output(load_json=True)
    )
    if elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    _check_elder_access(actor, elder_id, int(elder["district"]))
    check_order_site(actor, site, int(elder["district"]))
    meal_set = await meal_set_for(site_id, day, slot, meal_set_id)
    check_allergens(
        elder["allergens"] or [],
        meal_set.allergens,
        staff=isinstance(actor, Principal),
        override_reason=allergen_override_reason,
        detail={"elder_id": elder_id, "meal_set_id": meal_set.id},
    )
    return await _quote(elder_id, site, day, slot, meal_set)


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
    return await lifecycle.order_row(order_id)


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
    allergen_override_reason: str | None = None,
) -> tuple[int, OrderOut]:
    """Place one delivery order: (201, order), or (200, the first answer) on a retry.

    A set containing one of the elder's allergen groups is refused (``allergen_conflict``)
    unless staff give ``allergen_override_reason`` (audited as ``order.allergen_override``);
    elders and family members can never override (``allergen_override_not_allowed``).

    The site must be one the elder may be served from (:func:`check_order_site`: the elder's
    district, or for staff their own scope).

    Refusals: ``not_found``, ``order_site_not_assigned``, ``not_eligible_for_delivery``,
    ``service_paused``, ``site_not_open``, ``no_menu``,
    ``order_cutoff_passed``, ``already_served``, ``sold_out``, ``insufficient_balance``,
    ``allergen_conflict``, ``allergen_override_not_allowed``, ``allergen_override_reason_required``.
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
    if allergen_override_reason is not None:
        request["allergen_override_reason"] = allergen_override_reason

    async def effect() -> tuple[int, Any]:
        return 201, await _place(
            actor, request, day=day, now=now, key=idempotency_key, standing_order_id=standing_order_id
        )

    kind, by = placed_by(actor)
    try:
        outcome = await run_once(f"order:{kind}:{by or 0}", idempotency_key, request, effect, now=now)
    except UniqueViolation as exc:
        if not is_subsidy_refusal(exc.constraint):
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
    elder_id, site_id, slot = request["elder_id"], request["site_id"], request["slot"]
    payment = request["payment"]
    eligible, elder = await delivery_eligible(elder_id, local_today(now))
    _check_elder_access(actor, elder_id, int(elder["district"]))
    if not eligible:
        raise DomainError("not_eligible_for_delivery", {"elder_id": elder_id})
    await pauses.refuse_if_paused(elder_id, day)  # 报停: service_paused
    site = await site_info(site_id)
    check_order_site(actor, site, int(elder["district"]))
    if not site.serves_meals:
        raise DomainError("site_not_open", {"site_id": site_id})
    menu = await menu_for(site_id, day, slot)
    if menu is None or not menu.sets:
        raise DomainError("no_menu", {"site_id": site_id, "date": day.isoformat(), "slot": slot})
    if now >= menu.cutoff_at:
        raise DomainError("order_cutoff_passed", {"cutoff_at": menu.cutoff_at.isoformat()})
    meal_set = next((s for s in menu.sets if s.id == request["meal_set_id"]), None)
    if meal_set is None:
        raise DomainError("not_found", {"meal_set_id": request["meal_set_id"]})
    overridden = check_allergens(
        elder.get("allergens") or [],
        meal_set.allergens,
        staff=isinstance(actor, Principal),
        override_reason=request.get("allergen_override_reason"),
        detail={"elder_id": elder_id, "meal_set_id": meal_set.id},
    )
    q = await _quote(elder_id, site, day, slot, meal_set)
    brief, _ = await elder_for_pricing(elder_id, day)
    kind, placed_by_id = placed_by(actor)
    # The order is written first so the meal's ledger rows can point at it.
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
            payment_status="pending",
            status=lifecycle.PLACED,
            placed_by_kind=kind,
            placed_by_id=placed_by_id,
            standing_order=standing_order_id,
            idempotency_key=key,
            created_at=now,
            updated_at=now,
        )
    ).returning(Order.id)
    order_id = int(order_rows[0]["id"])
    lactor = ledger_actor(actor)
    recorded = await meals.record_meal(
        meals.MealDraft(
            site=site,
            elder_id=elder_id,
            day=day,
            slot=slot,
            mode=meals.DELIVERY,
            meal_set_id=meal_set.id,
            meal_set_name=meal_set.name,
            quote=q,
            payment=payment,
            categories=list(brief.categories),
            cashier_id=actor.user_id if isinstance(actor, Principal) else None,
            device=f"order:{kind}",
            idempotency_key=f"order:{key}" if key else None,
        ),
        actor=lactor,
        now=now,
        ref=("order", order_id),
    )
    if q.total_due_fen == 0 or payment == "balance":
        payment_status = "paid"
    else:
        payment_status = "pending" if payment == "card" else "due_on_delivery"
    await Order.update(
        {Order.meal: recorded.meal_id, Order.ledger_txn: recorded.txn, Order.payment_status: payment_status}
    ).where(Order.id == order_id)
    await audit.record(
        lactor,
        "order.place",
        "delivery_order",
        order_id,
        district_id=site.district_id,
        after={"elder_id": elder_id, "placed_by": kind, "payment": payment, "total_due_fen": q.total_due_fen},
        now=now,
    )
    if overridden:
        await audit.record(
            lactor,
            "order.allergen_override",
            "delivery_order",
            order_id,
            district_id=site.district_id,
            after={
                "elder_id": elder_id,
                "meal_set_id": meal_set.id,
                "allergens": overridden,
                "reason": str(request["allergen_override_reason"]).strip(),
            },
            now=now,
        )
    return order_out(await _order_row(order_id))


async def _cutoff(site_id: int, day: dt.date, slot: str) -> dt.datetime | None:
    menu = await menu_for(site_id, day, slot)
    return menu.cutoff_at if menu else None


async def cancel_order(
    actor: OrderActor, order_id: int, *, reason: str = "", now: dt.datetime | None = None
) -> OrderOut:
    """Cancel before cut-off: the meal voided (co-pay back, subsidy and portion released);
    a card payment is refunded at the provider after the cancel has committed."""
    now = now or utcnow()
    row = await _order_row(order_id)
    _check_elder_access(actor, row["elder"], row["district"])
    if row["status"] != lifecycle.PLACED:
        raise DomainError("order_not_cancellable", {"status": row["status"]})
    cutoff = await _cutoff(row["site"], row["service_date"], row["slot"])
    if cutoff is not None and now >= cutoff and not isinstance(actor, Principal):
        raise DomainError("order_cutoff_passed", {"cutoff_at": cutoff.isoformat()})
    async with write_transaction():
        moved = await lifecycle.move(actor, order_id, lifecycle.CANCELLED, now=now, reason=reason)
    await lifecycle.refund_card(moved.refund, now=now)
    return order_out(await _order_row(order_id))


async def set_status(
    actor: OrderActor,
    order_id: int,
    status: str,
    *,
    reason: str = "",
    outcome: str = "",
    now: dt.datetime | None = None,
) -> OrderOut:
    """Move an order along placed → confirmed → cooking → out_for_delivery → delivered /
    not_delivered, by the state machine's table (a cancel goes through :func:`cancel_order`).

    The district's officials and the delivering site's operator, kitchen and couriers may.
    Delivered cash orders post the cash collected; a not-delivered order (``outcome``
    not_home / refused / failed, default failed) voids its meal and refunds."""
    now = now or utcnow()
    if isinstance(actor, ElderPrincipal):
        raise DomainError("forbidden")
    row = await _order_row(order_id)
    # can_site with no roles would ask for site grants only and shut officials out.
    if isinstance(actor, Principal) and not actor.can_site(
        row["site"], row["district"], OFFICIAL, OPERATOR, KITCHEN, COURIER
    ):
        raise DomainError("not_found", {"order_id": order_id})
    if status == lifecycle.CANCELLED:
        raise DomainError("order_bad_transition", {"from": row["status"], "to": status})
    if status == lifecycle.NOT_DELIVERED and not outcome:
        outcome = "failed"
    async with write_transaction():
        moved = await lifecycle.move(actor, order_id, status, now=now, reason=reason, outcome=outcome)
    await lifecycle.refund_card(moved.refund, now=now)
    return order_out(await _order_row(order_id))


async def confirm_at_cutoff(site_id: int, day: dt.date, slot: str, *, now: dt.datetime | None = None) -> int:
    """Job: at cut-off, every placed order of (site, day, slot) becomes confirmed (card orders
    once paid). Returns how many."""
    now = now or utcnow()
    cutoff = await _cutoff(site_id, day, slot)
    if cutoff is not None and now < cutoff:
        return 0
    async with write_transaction():
        ids = await Order.select(Order.id).where(
            (Order.site == site_id)
            & (Order.service_date == day)
            & (Order.slot == slot)
            & (Order.status == lifecycle.PLACED)
            & ((Order.payment != "card") | (Order.payment_status == "paid"))
        )
        moved = await lifecycle.move_many(
            [int(r["id"]) for r in ids], lifecycle.CONFIRMED, actor=SystemActor("cutoff"), now=now
        )
    return len(moved)


async def confirm_due_cutoffs(*, now: dt.datetime | None = None) -> int:
    """Job: confirm at cut-off every (site, day, slot) that has placed orders, today's and
    tomorrow's. One query finds the triples that have any (not one per point, slot and day: a city
    has 1,500 points and few of them have placed orders at any moment). Returns how many."""
    now = now or utcnow()
    today = now.astimezone(get_settings().tz).date()
    triples = (
        await Order.select(Order.site, Order.service_date, Order.slot)
        .distinct()
        .where(
            (Order.status == lifecycle.PLACED)
            & Order.service_date.is_in([today, today + dt.timedelta(days=1)])
        )
    )
    confirmed = 0
    for t in triples:
        confirmed += await confirm_at_cutoff(int(t["site"]), t["service_date"], t["slot"], now=now)
    return confirmed


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
    try:
        provider = get_provider()
    except RuntimeError as exc:
        raise DomainError("card_not_configured") from exc
    intent = await off_loop(
        provider.create,
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
            intent = await off_loop(provider.confirm, intent.provider_id)
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
    success changes nothing; events about unknown intents are recorded and ignored. A success
    for an order that was cancelled or not delivered meanwhile never marks it paid: the money
    is taken in and handed back in the ledger, and refunded at the provider after commit
    (``refunded_late``).
    """
    now = now or utcnow()
    actor = SystemActor(f"webhook:{event.provider}")
    refund: lifecycle.CardRefund | None = None
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
                        outcome, refund = await _settle_card_order(rec, actor=actor, now=now)
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
    except UniqueViolation:
        return "duplicate"
    await lifecycle.refund_card(refund, now=now)
    return outcome


async def _settle_card_order(
    rec: dict[str, Any], *, actor: SystemActor, now: dt.datetime
) -> tuple[str, lifecycle.CardRefund | None]:
    """A card payment arrived for an order: paid, or — when the order was cancelled or not
    delivered meanwhile — taken in and handed straight back, to be refunded after commit."""
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
    if order["status"] in (lifecycle.CANCELLED, lifecycle.NOT_DELIVERED):
        await reverse_in_txn(txn, kind="refund", actor=actor, now=now, note="paid after the order ended")
        await PaymentIntentRecord.update(
            {PaymentIntentRecord.status: "refund_pending", PaymentIntentRecord.updated_at: now}
        ).where(PaymentIntentRecord.id == rec["id"])
        await Order.update(
            {Order.payment_status: "refund_pending", Order.payment_txn: txn, Order.updated_at: now}
        ).where(Order.id == order["id"])
        return "refunded_late", lifecycle.CardRefund(
            int(order["id"]), int(rec["id"]), str(rec["provider_id"])
        )
    await Order.update({Order.payment_status: "paid", Order.payment_txn: txn, Order.updated_at: now}).where(
        Order.id == order["id"]
    )
    return "settled", None


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


# How far ahead a new standing order's named set is checked against the elder's allergens.
STANDING_ALLERGEN_DAYS = 14


async def _refuse_standing_allergens(data: StandingOrderIn, allergens: list[str], today: dt.date) -> None:
    """``allergen_conflict`` when the named set, on a published menu of the coming
    ``STANDING_ALLERGEN_DAYS`` days on the chosen weekdays, contains one of the elder's allergens.
    Menus written later are caught by the daily materialisation, which skips such a day."""
    if not allergens or not data.meal_set_name:
        return
    for n in range(STANDING_ALLERGEN_DAYS):
        day = today + dt.timedelta(days=n)
        if day.weekday() not in data.weekdays or (data.until and day > data.until):
            continue
        menu = await menu_for(data.site_id, day, data.slot)
        named = next((s for s in (menu.sets if menu else []) if s.name == data.meal_set_name), None)
        if named is None:
            continue
        conflicts = allergen_conflicts(allergens, named.allergens)
        if conflicts:
            raise AllergenConflict(
                conflicts,
                {"field": "meal_set_name", "elder_id": data.elder_id, "date": day.isoformat()},
            )


async def create_standing_order(
    actor: OrderActor, data: StandingOrderIn, *, now: dt.datetime | None = None
) -> StandingOrderOut:
    """A standing order (every chosen weekday, the named set or the best fit). Refused with
    ``allergen_conflict`` when the named set on the coming menus contains one of the elder's
    allergens; no override here (staff place such a day as a single order with a reason)."""
    now = now or utcnow()
    eligible, elder = await delivery_eligible(data.elder_id, local_today(now))
    _check_elder_access(actor, data.elder_id, int(elder["district"]))
    check_order_site(actor, await site_info(data.site_id), int(elder["district"]))
    if not eligible:
        raise DomainError("not_eligible_for_delivery", {"elder_id": data.elder_id})
    await _refuse_standing_allergens(data, list(elder.get("allergens") or []), local_today(now))
    kind, by = placed_by(actor)
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
            ledger_actor(actor),
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


async def _due_standing_orders(
    day: dt.date, page: int = 500, district_id: int | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The active standing orders due on ``day`` (weekday, until), a page at a time, each with
    ``done``: its order for the day already exists (one query per page, not one per order).
    ``district_id``: only those delivered from that district's points."""
    from canteen.core.db import is_sqlite  # the one engine-specific query of this module

    if is_sqlite():
        weekday = "EXISTS (SELECT 1 FROM json_each(so.weekdays) AS w WHERE w.value = {})"
    else:
        weekday = "CAST(so.weekdays AS jsonb) @> to_jsonb(CAST({} AS integer))"
    sql = (
        "SELECT so.id, so.elder, so.site, so.slot, so.meal_set_name, so.payment, "  # noqa: S608 - constants
        "CASE WHEN d.standing_order IS NULL THEN 0 ELSE 1 END AS done "
        "FROM standing_order so LEFT JOIN (SELECT DISTINCT standing_order FROM delivery_order "
        "WHERE service_date = {} AND standing_order IS NOT NULL) d ON d.standing_order = so.id "
        f"WHERE so.active AND (so.until IS NULL OR so.until >= {{}}) AND {weekday} AND so.id > {{}} "
        + ("AND so.site IN (SELECT id FROM site WHERE district = {}) " if district_id is not None else "")
        + "ORDER BY so.id LIMIT {}"
    )
    scope = [district_id] if district_id is not None else []
    after = 0
    while True:
        rows = await StandingOrder.raw(sql, day, day, day.weekday(), after, *scope, page)
        for r in rows:
            yield r
        if len(rows) < page:
            return
        after = int(rows[-1]["id"])


async def materialise_standing_orders(
    day: dt.date, *, now: dt.datetime | None = None, district_id: int | None = None
) -> dict[str, int]:
    """Job: turn active standing orders into orders for ``day`` (before cut-off). Idempotent per
    (standing order, day) through the idempotency key. Returns counts by outcome code.
    ``district_id``: one district's (the schedule runs one job per district, in parallel)."""
    now = now or utcnow()
    actor = SystemActor("standing_orders")
    counts: dict[str, int] = {}
    paused = await pauses.paused_elders(day, pauses.DELIVERY)  # 报停: the day is skipped, not refused
    async for r in _due_standing_orders(day, district_id=district_id):
        if r["done"]:  # its order for the day exists: placed by an earlier run, nothing to do
            counts["placed"] = counts.get("placed", 0) + 1
            continue
        if int(r["elder"]) in paused:
            counts["paused"] = counts.get("paused", 0) + 1
            continue
        menu = await menu_for(r["site"], day, r["slot"])
        if menu is None or not menu.sets:
            counts["no_menu"] = counts.get("no_menu", 0) + 1
            continue
        chosen = next((s for s in menu.sets if s.name == r["meal_set_name"]), None)
        if chosen is None:
            needs = (
                await Elder.select(Elder.diet, Elder.allergens, Elder.texture_level)
                .where(Elder.id == r["elder"])
                .first()
                .output(load_json=True)
            ) or {}
            # The best fit: no allergen of the elder first, then diet and texture. A day whose
            # only sets hold an allergen is refused by place_order and counted as allergen_conflict.
            chosen = rank_sets_for_elder(
                list(menu.sets),
                list(needs.get("diet") or []),
                list(needs.get("allergens") or []),
                needs.get("texture_level"),
            )[0].meal_set
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
