"""The counter's one service: scan → quote → meal + payment, exactly once.

Modelled on pretix's ``perform_checkin``: one plain function used by the API and
the cashier page alike; one read and one atomic write (``canteen.meals.hotpath``);
the database as referee (the subsidy counters, increment-then-check in the write); a
retry with the same Idempotency-Key returns the first answer; every refusal is logged
in CounterEvent with its stable code (a served meal is its own record).

The counter decides; ``canteen.meals`` writes: the price comes from the one quote
assembly (``meals.pricing.price_meal``), the meal, its money and its rollups from
``meals.services.record_meal``, a void from ``meals.services.void_meal``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Sum

from canteen.accounts.roles import CASHIER, OPERATOR, Principal
from canteen.checkin.rules import pick_slot
from canteen.checkin.schemas import (
    CheckinOut,
    DistrictToday,
    ElderOnTicket,
    FundingPartOut,
    PreviewOut,
    SiteToday,
    Tally,
    VoidOut,
)
from canteen.checkin.tables import CounterEvent
from canteen.core import audit, events
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import fingerprint, run_once
from canteen.meals import hotpath
from canteen.meals import services as meals
from canteen.meals.hotpath import Limits
from canteen.meals.pricing import assemble_quote, price_meal, without_categories
from canteen.meals.tables import DailyRollup, Meal
from canteen.meals.usage import already_detail, is_subsidy_refusal, served_already
from canteen.menus.rules import AllergenConflict, allergen_conflicts, check_allergens
from canteen.menus.services import meal_set_for
from canteen.payments.ledger import balance_of, elder_account, ledger_balance_of
from canteen.payments.tables import LedgerEntry
from canteen.regions.lookup import SiteInfo, check_same_city, site_info
from canteen.regions.tables import Site
from canteen.registry.card_services import card_hit, card_key
from canteen.registry.cards import mask_card_number
from canteen.registry.schemas import ElderBrief, ElderFacts
from canteen.registry.services import CATEGORY_GROUP, access_of, counter_view_of
from canteen.settings import get_settings
from canteen.subsidies.rules import deciding_district
from canteen.subsidies.schemas import Policy, Quote, Usage
from canteen.subsidies.services import policy_for

log = logging.getLogger("canteen.checkin")

register("site_forbidden", 403)
register("site_not_open", 409)
register("elder_inactive", 409)
register("already_served", 409)
register("no_menu", 409)
register("manual_reason_required", 422)

__all__ = [
    "SiteInfo",
    "check_in",
    "meal_receipt",
    "preview",
    "sell_walk_in",
    "site_info",
    "tally",
    "void_meal",
]


def _check_site(actor: Principal, site: SiteInfo) -> None:
    if not actor.can_site(site.id, site.district_id, CASHIER, OPERATOR):
        raise DomainError("site_forbidden", {"site_id": site.id})
    if not site.serves_meals:
        raise DomainError("site_not_open", {"site_id": site.id, "status": site.status})


@dataclass
class _Prepared:
    site: SiteInfo
    slot: str
    day: dt.date
    elder_id: int
    brief: ElderBrief
    meal_set: Any
    quote: Quote
    limits: Limits
    limit_reached: bool
    balance_fen: int
    shows_categories: bool
    allergen_conflicts: list[str] = field(default_factory=list)


class _Replay(Exception):
    """The request's Idempotency-Key was answered before: its stored (status, body)."""

    def __init__(self, body: Any) -> None:
        self.body = body
        super().__init__("replay")


def _replay(stored: tuple[str, int, Any] | None, fp: str) -> None:
    if stored is None:
        return
    if stored[0] != fp:
        raise DomainError("idempotency_key_reused")
    raise _Replay(stored[2])


async def _prepare(
    actor: Principal,
    *,
    site_id: int,
    card: str | None,
    elder_id: int | None,
    slot: str | None,
    items: list[int] | None,
    now: dt.datetime,
    idem: tuple[str, str, str] | None = None,
    at_full_price: bool = False,
) -> _Prepared:
    """The scan's one read (``meals.hotpath.read_counter``) and the pure quote.

    ``idem`` is (scope, key, fingerprint): a request answered before raises ``_Replay``.
    ``at_full_price`` prices the meal as if the policy's limits were reached (a sale agreed at
    full price after another counter took the last subsidised meal)."""
    settings = get_settings()
    try:
        site = await site_info(site_id)
        _check_site(actor, site)
        local = now.astimezone(settings.tz)
        slot_name = pick_slot(site.slots, local.time(), slot)
    except DomainError:
        if idem is not None:  # a retry after the slot closed still gets its first answer
            _replay(await hotpath.stored_answer(idem[0], idem[1]), idem[2])
        raise
    day = local.date()
    key = card_key(card) if card is not None else None
    read = await hotpath.read_counter(
        day=day,
        slot=slot_name,
        card_elder=key.elder_id if key is not None and key.number is None else None,
        card_serial=key.serial if key is not None and key.number is None else None,
        card_number=key.number if key is not None else None,
        elder_id=elder_id,
        idem_scope=idem[0] if idem else "",
        idem_key=idem[1] if idem else None,
    )
    if idem is not None:
        _replay(read.stored, idem[2])
    if key is not None:
        card_hit(key, read.card)
    if read.elder is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    brief, facts = counter_view_of(read.elder, read.categories, today=day)
    if brief.status != "active":
        raise DomainError("elder_inactive", {"status": brief.status})
    await check_same_city(brief.district_id, site.district_id)
    meal_set = await meal_set_for(site.id, day, slot_name, items[0] if items else None)
    # The home district's policy at any point of the city (补贴跟着人走): rules.deciding_district.
    policy = await policy_for(deciding_district(facts, site.district_id), day)
    limits = meals.limits_of(policy)
    reached = policy is not None and (
        at_full_price
        or read.slot_meals >= limits.per_slot
        or (limits.per_day is not None and read.day_meals >= limits.per_day)
    )
    usage = hotpath.usage_of(read)
    if reached:
        # The rules sell at full price once the slot's limit is taken (the day's limit joins them
        # with issue #11's Usage.day_meals_today); either way the counters would refuse a subsidy.
        usage = msgspec.structs.replace(usage, slot_meals_today=max(usage.slot_meals_today, limits.per_slot))
    quote = _quote(site, facts, policy, usage, day, slot_name, meal_set.list_price_fen, meal_set.meal_type)
    return _Prepared(
        site=site,
        slot=slot_name,
        day=day,
        elder_id=int(read.elder["id"]),
        brief=brief,
        meal_set=meal_set,
        quote=quote,
        limits=limits,
        limit_reached=bool(reached)
        and _quote(
            site, facts, policy, Usage(), day, slot_name, meal_set.list_price_fen, meal_set.meal_type
        ).subsidy_fen
        > 0,
        balance_fen=read.balance_fen,
        shows_categories=CATEGORY_GROUP in (access_of(actor, brief.district_id) or frozenset()),
        allergen_conflicts=allergen_conflicts(brief.allergens, meal_set.allergens),
    )


def _quote(
    site: SiteInfo,
    facts: ElderFacts,
    policy: Policy | None,
    usage: Usage,
    day: dt.date,
    slot: str,
    list_price_fen: int,
    meal_type: str,
) -> Quote:
    return assemble_quote(
        site_district_id=site.district_id,
        site_street_id=site.street_id,
        facts=facts,
        policy=policy,
        usage=usage,
        day=day,
        slot=slot,
        mode=meals.DINE_IN,
        list_price_fen=list_price_fen,
        meal_type=meal_type,
    )


def _ticket(brief: ElderBrief, shows_categories: bool) -> ElderOnTicket:
    """The elder as the counter shows them; the categories only to a reader who may see them
    (a cashier of another district serving a visiting elder sees none, as in ``quote_for``)."""
    cats = list(brief.categories) if shows_categories else []
    return ElderOnTicket(brief.id, brief.display_name, brief.masked_id, cats)


def _shown(p: _Prepared) -> Quote:
    return p.quote if p.shows_categories else without_categories(p.quote)


def _reason(q: Quote, lang: str) -> str:
    return q.reason_en if lang.startswith("en") else q.reason_zh


async def log_event(
    *,
    site_id: int,
    outcome: str,
    code: str = "",
    elder_id: int | None = None,
    meal_id: int | None = None,
    actor: Principal | None = None,
    device: str = "",
    detail: dict[str, Any] | None = None,
    manual: bool = False,
    now: dt.datetime | None = None,
) -> None:
    await CounterEvent.insert(
        CounterEvent(
            at=now or utcnow(),
            site=site_id,
            elder=elder_id,
            outcome=outcome,
            code=code,
            meal=meal_id,
            actor_id=actor.user_id if actor else None,
            device=device[:100],
            detail=detail or {},
            manual=manual,
        )
    )


async def _log_refusal(
    actor: Principal,
    site_id: int,
    err: DomainError,
    *,
    device: str,
    manual: bool,
    elder_id: int | None,
    now: dt.datetime,
) -> None:
    log.info("checkin refused", extra={"code": err.code})
    try:
        async with write_transaction():
            await log_event(
                site_id=site_id,
                outcome="refused",
                code=err.code,
                elder_id=elder_id,
                actor=actor,
                device=device,
                detail=err.detail,
                manual=manual,
                now=now,
            )
    except Exception:  # the refusal itself must reach the cashier even if its log row cannot be written
        log.exception("could not log a refusal")


async def preview(
    actor: Principal,
    *,
    site_id: int,
    card: str | None = None,
    elder_id: int | None = None,
    slot: str | None = None,
    items: list[int] | None = None,
    payment: str = "balance",
    lang: str = "zh-CN",
    now: dt.datetime | None = None,
) -> PreviewOut:
    """What a check-in would charge, for the cashier's confirm panel. Writes nothing."""
    now = now or utcnow()
    p = await _prepare(actor, site_id=site_id, card=card, elder_id=elder_id, slot=slot, items=items, now=now)
    already = await served_already(p.elder_id, p.day, p.slot) if p.limit_reached else None
    q = _shown(p)
    after = p.balance_fen - q.copay_fen if payment == "balance" else None
    return PreviewOut(
        elder=_ticket(p.brief, p.shows_categories),
        tier=q.tier_code,
        reason=_reason(q, lang),
        list_price_fen=q.list_price_fen,
        subsidy_fen=q.subsidy_fen,
        copay_fen=q.copay_fen,
        funding=[FundingPartOut(f.source, f.fen, q.policy_district_id) for f in q.funding],
        balance_fen=p.balance_fen,
        balance_after_fen=after,
        slot=p.slot,
        meal_set=p.meal_set.name,
        already_served=already_detail(already) if already else None,
        allergen_conflicts=p.allergen_conflicts,
        allergen_message=AllergenConflict(p.allergen_conflicts).message(lang) if p.allergen_conflicts else "",
    )


class _AlreadyServed(Exception):
    """check_in's own signal: the subsidy limit refused this meal (never leaves the module)."""


async def check_in(
    actor: Principal,
    *,
    site_id: int,
    card: str | None = None,
    elder_id: int | None = None,
    manual_reason: str | None = None,
    slot: str | None = None,
    items: list[int] | None = None,
    payment: str = "balance",
    full_price_ok: bool = False,
    allergen_override_reason: str | None = None,
    device: str = "",
    idempotency_key: str | None = None,
    lang: str = "zh-CN",
    now: dt.datetime | None = None,
) -> tuple[int, CheckinOut]:
    """Serve one elder: returns (201, CheckinOut), or (200, the first answer) on a retry.

    One read and one write (``meals.hotpath``); the subsidy counters, the balance's conditional
    update and the idempotency key's unique index are the referees. Refusals raise DomainError
    with their stable code (see the registered codes above).
    """
    now = now or utcnow()
    manual = card is None
    if manual and not (manual_reason and manual_reason.strip()):
        raise DomainError("manual_reason_required")
    request = {
        "site_id": site_id,
        "card": card,
        "elder_id": elder_id,
        "slot": slot,
        "items": items,
        "payment": payment,
        "full_price_ok": full_price_ok,
    }
    if allergen_override_reason is not None:
        request["allergen_override_reason"] = allergen_override_reason
    scope = f"checkin:{actor.user_id}"
    idem = (scope, idempotency_key, fingerprint(request)) if idempotency_key else None
    seen: dict[str, Any] = {}

    async def attempt(at_full_price: bool) -> CheckinOut:
        try:
            return await _perform(
                actor,
                request,
                manual_reason=manual_reason,
                device=device,
                idem=idem,
                lang=lang,
                now=now,
                seen=seen,
                at_full_price=at_full_price,
            )
        except (DomainError, UniqueViolation) as exc:
            if idem is not None and getattr(exc, "code", "") != "idempotency_key_reused":
                # A twin with the same key may have committed between our read and our write (its
                # meal took the subsidy, the portion or the money, or its key refused ours): then
                # this request is a retry and gets the twin's answer, not a refusal.
                _replay(await hotpath.stored_answer(idem[0], idem[1]), idem[2])
            raise

    try:
        try:
            try:
                body = await attempt(False)
            except UniqueViolation as exc:
                if not is_subsidy_refusal(exc.constraint) or "elder" not in seen:
                    raise
                if not full_price_ok:
                    raise _AlreadyServed from exc
                # Another counter took the last subsidised meal of this slot in the same instant,
                # and this sale was agreed at full price anyway: price it once more at full price.
                try:
                    body = await attempt(True)
                except UniqueViolation as again:
                    if not is_subsidy_refusal(again.constraint):
                        raise
                    raise _AlreadyServed from again
        except _Replay as replay:
            return 200, msgspec.convert(replay.body, CheckinOut)
    except _AlreadyServed as exc:
        # The counters decided: the policy's subsidised meals of this slot (or day) are taken.
        row = await served_already(seen["elder"], seen["day"], seen["slot"])
        err = DomainError("already_served", already_detail(row))
        await _log_refusal(actor, site_id, err, device=device, manual=manual, elder_id=seen["elder"], now=now)
        raise err from exc.__cause__
    except DomainError as err:
        await _log_refusal(
            actor, site_id, err, device=device, manual=manual, elder_id=seen.get("elder", elder_id), now=now
        )
        raise
    # Publishing only queues the message (the channels backend sends it from its own task).
    events.publish(
        [events.site_channel(site_id), events.district_channel(seen["district"])],
        {
            "type": "checkin",
            "site_id": site_id,
            "meal_id": body.meal_id,
            "slot": body.slot,
            "subsidy_fen": body.subsidy_fen,
            "copay_fen": body.copay_fen,
        },
    )
    return 201, body


async def _perform(
    actor: Principal,
    request: dict[str, Any],
    *,
    manual_reason: str | None,
    device: str,
    idem: tuple[str, str, str] | None,
    lang: str,
    now: dt.datetime,
    seen: dict[str, Any],
    at_full_price: bool,
) -> CheckinOut:
    p = await _prepare(
        actor,
        site_id=request["site_id"],
        card=request["card"],
        elder_id=request["elder_id"],
        slot=request["slot"],
        items=request["items"],
        now=now,
        idem=idem,
        at_full_price=at_full_price,
    )
    seen.update(elder=p.elder_id, day=p.day, slot=p.slot, district=p.site.district_id)
    # Staff only reach the counter, so a reason is the override (canteen.menus.rules).
    overridden = check_allergens(
        p.brief.allergens,
        p.meal_set.allergens,
        staff=True,
        override_reason=request.get("allergen_override_reason"),
        detail={"elder_id": p.elder_id, "meal_set_id": p.meal_set.id},
    )
    if p.limit_reached and not request["full_price_ok"]:
        raise _AlreadyServed
    q = p.quote
    shown = _shown(p)
    out = CheckinOut(
        meal_id=0,
        elder=_ticket(p.brief, p.shows_categories),
        tier=shown.tier_code,
        reason=_reason(shown, lang),
        reason_zh=shown.reason_zh,
        reason_en=shown.reason_en,
        list_price_fen=q.list_price_fen,
        subsidy_fen=q.subsidy_fen,
        copay_fen=q.copay_fen,
        funding=[FundingPartOut(f.source, f.fen, q.policy_district_id) for f in q.funding],
        payment=request["payment"],
        balance_after_fen=p.balance_fen,
        slot=p.slot,
        service_date=p.day.isoformat(),
        site_id=p.site.id,
        meal_set=p.meal_set.name,
    )
    draft = meals.MealDraft(
        site=p.site,
        elder_id=p.elder_id,
        day=p.day,
        slot=p.slot,
        mode=meals.DINE_IN,
        meal_set_id=p.meal_set.id,
        meal_set_name=p.meal_set.name,
        quote=q,
        payment=request["payment"],
        categories=list(p.brief.categories),
        cashier_id=actor.user_id,
        device=device,
        manual_reason=manual_reason or "",
        idempotency_key=idem[1] if idem else None,
        limits=p.limits,
    )
    idem_row = hotpath.IdemRow(idem[0], idem[1], idem[2], msgspec.to_builtins(out)) if idem else None
    # A scanned card is the hot path: one write statement (PostgreSQL), no transaction held across
    # round trips. A manual look-up or an allergen override is audited with its meal, in one
    # transaction.
    async with write_transaction() if manual_reason or overridden else contextlib.nullcontext():
        recorded = await meals.record_meal(
            draft, actor=actor, now=now, idem=idem_row, balance_before_fen=p.balance_fen
        )
        if manual_reason:
            await log_event(
                site_id=p.site.id,
                outcome="ok",
                elder_id=p.elder_id,
                meal_id=recorded.meal_id,
                actor=actor,
                device=device,
                manual=True,
                now=now,
                detail={"reason": manual_reason},
            )
            await audit.record(
                actor,
                "checkin.manual",
                "meal",
                recorded.meal_id,
                district_id=p.site.district_id,
                after={"elder_id": p.elder_id, "reason": manual_reason},
                now=now,
            )
        if overridden:
            await audit.record(
                actor,
                "meal.allergen_override",
                "meal",
                recorded.meal_id,
                district_id=p.site.district_id,
                after={
                    "elder_id": p.elder_id,
                    "meal_set_id": p.meal_set.id,
                    "allergens": overridden,
                    "reason": str(request["allergen_override_reason"]).strip(),
                },
                now=now,
            )
    balance_after = recorded.balance_after_fen
    return msgspec.structs.replace(
        out,
        meal_id=recorded.meal_id,
        balance_after_fen=balance_after if balance_after is not None else p.balance_fen,
    )


async def sell_walk_in(
    actor: Principal,
    *,
    site_id: int,
    slot: str | None = None,
    items: list[int] | None = None,
    device: str = "",
    idempotency_key: str | None = None,
    lang: str = "zh-CN",
    now: dt.datetime | None = None,
) -> tuple[int, CheckinOut]:
    """A non-member buys a meal at the list price, in cash."""
    now = now or utcnow()
    request = {"walk_in": True, "site_id": site_id, "slot": slot, "items": items}

    async def effect() -> tuple[int, Any]:
        site = await site_info(site_id)
        _check_site(actor, site)
        local = now.astimezone(get_settings().tz)
        slot_name = pick_slot(site.slots, local.time(), slot)
        meal_set = await meal_set_for(site.id, local.date(), slot_name, items[0] if items else None)
        priced = await price_meal(
            site=site,
            elder_id=None,
            day=local.date(),
            slot=slot_name,
            mode=meals.DINE_IN,
            list_price_fen=meal_set.list_price_fen,
        )
        q = priced.quote
        recorded = await meals.record_meal(
            meals.MealDraft(
                site=site,
                elder_id=None,
                day=local.date(),
                slot=slot_name,
                mode=meals.DINE_IN,
                meal_set_id=meal_set.id,
                meal_set_name=meal_set.name,
                quote=q,
                payment="cash",
                cashier_id=actor.user_id,
                device=device,
                idempotency_key=idempotency_key,
            ),
            actor=actor,
            now=now,
        )
        await log_event(
            site_id=site.id,
            outcome="ok",
            code="walk_in",
            meal_id=recorded.meal_id,
            actor=actor,
            device=device,
            now=now,
        )
        return 201, CheckinOut(
            meal_id=recorded.meal_id,
            elder=None,
            tier=None,
            reason=_reason(q, lang),
            reason_zh=q.reason_zh,
            reason_en=q.reason_en,
            list_price_fen=q.list_price_fen,
            subsidy_fen=0,
            copay_fen=q.copay_fen,
            funding=[],
            payment="cash",
            balance_after_fen=None,
            slot=slot_name,
            service_date=local.date().isoformat(),
            site_id=site.id,
            meal_set=meal_set.name,
        )

    outcome = await run_once(f"walkin:{actor.user_id}", idempotency_key, request, effect, now=now)
    if outcome.replayed:
        return 200, msgspec.convert(outcome.body, CheckinOut)
    return 201, outcome.body


async def void_meal(
    actor: Principal, meal_id: int, reason: str, *, now: dt.datetime | None = None
) -> VoidOut:
    """Void a counter meal: its money reversed, its portion given back, its subsidy freed.

    A cashier may void within the site's window (default 15 minutes); later only the
    operator or an admin. A delivery meal is refused (``meal_is_delivery``): its order is
    cancelled instead. Audited, and logged as a counter event.
    """
    now = now or utcnow()
    async with write_transaction():
        done = await meals.void_meal(actor, meal_id, reason, now=now)
        await log_event(
            site_id=done.site_id,
            outcome="void",
            elder_id=done.elder_id,
            meal_id=meal_id,
            actor=actor,
            detail={"reason": reason},
            now=now,
        )
    events.publish(
        [events.site_channel(done.site_id), events.district_channel(done.district_id)],
        {"type": "void", "site_id": done.site_id, "meal_id": meal_id},
    )
    return VoidOut(meal_id=meal_id, voided_at=now.isoformat(), reversed_txn=done.void_txn)


async def tally(actor: Principal, site_id: int, day: dt.date) -> Tally:
    """Today's counts and money at one site: what the cashier reconciles at closing."""
    site = await site_info(site_id)
    if not actor.can_site(site.id, site.district_id):
        raise DomainError("not_found", {"site_id": site_id})
    # caches: the counter asks again on every check-in at the site; the rollups hold no voids,
    # walk-ins or payment kinds, so the site's day is summed in the database (index meal_site_day)
    # and a few grouped rows come back instead of every meal.
    rows = await Meal.raw(
        "SELECT slot, subsidised, elder IS NULL AS walk_in, voided_at IS NOT NULL AS voided, payment, "
        "COUNT(*) AS n, SUM(list_price_fen) AS list_fen, SUM(subsidy_fen) AS subsidy_fen, "
        "SUM(copay_fen) AS copay_fen FROM meal WHERE site = {} AND service_date = {} "
        "GROUP BY slot, subsidised, elder IS NULL, voided_at IS NOT NULL, payment",
        site_id,
        day,
    )
    t = Tally(
        site_id=site_id,
        service_date=day.isoformat(),
        meals=0,
        subsidised=0,
        walk_ins=0,
        voided=0,
        list_fen=0,
        subsidy_fen=0,
        copay_fen=0,
        cash_fen=0,
        balance_fen=0,
        by_slot={},
    )
    for r in rows:
        n = int(r["n"])
        if r["voided"]:
            t.voided += n
            continue
        t.meals += n
        t.by_slot[r["slot"]] = t.by_slot.get(r["slot"], 0) + n
        t.subsidised += n if r["subsidised"] else 0
        t.walk_ins += n if r["walk_in"] else 0
        t.list_fen += int(r["list_fen"] or 0)
        t.subsidy_fen += int(r["subsidy_fen"] or 0)
        copay = int(r["copay_fen"] or 0)
        t.copay_fen += copay
        if r["payment"] == "cash":
            t.cash_fen += copay
        elif r["payment"] == "balance":
            t.balance_fen += copay
    t.by_slot = _in_slot_order(t.by_slot)
    return t


def _in_slot_order(by_slot: dict[str, int]) -> dict[str, int]:
    """Breakfast, lunch, dinner (then anything else by name), as the day goes."""
    order = {s: i for i, s in enumerate(("breakfast", "lunch", "dinner"))}
    return dict(sorted(by_slot.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


async def district_today(actor: Principal, district_id: int, day: dt.date) -> DistrictToday:
    """Meals so far today at every meal point of a district (the official's live view)."""
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    sites = (
        await Site.select(Site.id, Site.name, Site.point_type)
        .where((Site.district == district_id) & (Site.kind == "meal_point"))
        .order_by(Site.id)
    )
    # caches: every open live page asks again on every check-in of the district, so the answer
    # comes from the day's rollup rows (kept by each meal's own write, voids taken away), summed
    # in the database: a few rows per point and slot, never the district's meals of the day.
    rows = await (
        DailyRollup.select(
            DailyRollup.site,
            DailyRollup.slot,
            Sum(DailyRollup.meals).as_alias("meals"),
            Sum(DailyRollup.subsidised).as_alias("subsidised"),
        )
        .where(
            (DailyRollup.district == district_id)
            & (DailyRollup.service_date == day)
            & (DailyRollup.source == "")  # the meal rows; the funding-source rows count again
        )
        .group_by(DailyRollup.site, DailyRollup.slot)
    )
    per: dict[int, SiteToday] = {
        s["id"]: SiteToday(s["id"], s["name"], s["point_type"], 0, 0, {}) for s in sites
    }
    for r in rows:
        item = per.get(r["site"])
        n = int(r["meals"] or 0)
        if item is None or n <= 0:
            continue
        item.meals += n
        item.subsidised += int(r["subsidised"] or 0)
        item.by_slot[r["slot"]] = item.by_slot.get(r["slot"], 0) + n
    items = list(per.values())
    for i in items:
        i.by_slot = _in_slot_order(i.by_slot)
    return DistrictToday(district_id, day.isoformat(), sum(i.meals for i in items), items)


# --- the receipt read ----------------------------------------------------------------------


class MealReceipt(msgspec.Struct):
    meal_id: int
    site_id: int
    site_name: str
    served_at: dt.datetime
    slot: str
    meal_set: str
    list_price_fen: int
    subsidy_fen: int
    copay_fen: int
    payment: str
    balance_after_fen: int | None
    elder_name: str | None
    voided: bool


async def meal_receipt(actor: Principal, meal_id: int) -> MealReceipt:
    """What a meal's receipt prints. Read-only; scoped to the actor's sites.

    It selects no categories or tier, so a receipt can never show them.
    """
    row = await (
        Meal.select(
            Meal.id,
            Meal.site,
            Meal.district,
            Meal.site.name.as_alias("site_name"),
            Meal.served_at,
            Meal.slot,
            Meal.items,
            Meal.list_price_fen,
            Meal.subsidy_fen,
            Meal.copay_fen,
            Meal.payment,
            Meal.elder,
            Meal.elder.name.as_alias("elder_name"),
            Meal.ledger_txn,
            Meal.voided_at,
        )
        .where(Meal.id == meal_id)
        .first()
        .output(load_json=True)
    )
    if row is None or not actor.can_site(row["site"], row["district"], CASHIER, OPERATOR):
        raise DomainError("not_found", {"meal_id": meal_id})
    balance_after: int | None = None
    if row["elder"] and row["ledger_txn"] and row["payment"] == "balance":
        # The elder's balance right after this meal: the ledger summed up to its transaction.
        last = await (
            LedgerEntry.select(LedgerEntry.id)
            .where(LedgerEntry.txn == row["ledger_txn"])
            .order_by(LedgerEntry.id, ascending=False)
            .first()
        )
        if last is not None:
            balance_after = await ledger_balance_of(elder_account(row["elder"]), up_to_id=last["id"])
    items = row["items"] or []
    return MealReceipt(
        meal_id=row["id"],
        site_id=row["site"],
        site_name=row["site_name"] or "",
        served_at=row["served_at"].astimezone(get_settings().tz),
        slot=row["slot"],
        meal_set=", ".join(str(i.get("name", "")) for i in items if isinstance(i, dict)),
        list_price_fen=row["list_price_fen"],
        subsidy_fen=row["subsidy_fen"],
        copay_fen=row["copay_fen"],
        payment=row["payment"],
        balance_after_fen=balance_after,
        elder_name=row["elder_name"],
        voided=row["voided_at"] is not None,
    )


# --- the counter's reads for its tools: whose balance a top-up fills, which meal a void undoes ---


class CounterElder(msgspec.Struct):
    """Whose balance a top-up goes to, as the cashier checks it against the person in front."""

    elder_id: int
    name: str
    masked_id: str
    card: str  # the live card's printed number with its first five symbols hidden; "" without one
    balance_fen: int


class CounterMeal(msgspec.Struct):
    """A meal as the void tool shows it before the cashier confirms: whose, when, what, how much."""

    meal_id: int
    served_at: dt.datetime
    slot: str
    meal_set: str
    elder_id: int | None  # None: a walk-in sale
    elder_name: str | None
    masked_id: str
    list_price_fen: int
    copay_fen: int
    payment: str
    voidable: bool
    why_not: str  # "" when voidable, else the refusal code a void would give


def _tool_site(actor: Principal, site: SiteInfo) -> None:
    if not actor.can_site(site.id, site.district_id, CASHIER, OPERATOR):
        raise DomainError("site_forbidden", {"site_id": site.id})


async def counter_elder(actor: Principal, site_id: int, elder_id: int) -> CounterElder:
    """Name, masked ID, masked card and balance of an elder a top-up at ``site_id`` may fill.

    Read-only. The same scope as ``payments.ledger.top_up_cash``: the site's cashiers and
    operators, an elder of the site's district (anyone else is ``not_found``)."""
    # Local imports: the tools' reads stay out of the module-level imports of the scan's hot path.
    from canteen.registry.services import elder_brief
    from canteen.registry.tables import Card

    site = await site_info(site_id)
    _tool_site(actor, site)
    brief = await elder_brief(elder_id)
    if brief.district_id != site.district_id:
        raise DomainError("not_found", {"elder_id": elder_id})
    card = (
        await Card.select(Card.number)
        .where((Card.elder == elder_id) & Card.revoked_at.is_null())
        .order_by(Card.serial, ascending=False)
        .first()
    )
    return CounterElder(
        elder_id=brief.id,
        name=brief.display_name,
        masked_id=brief.masked_id,
        card=mask_card_number(str(card["number"])) if card else "",
        balance_fen=await balance_of(elder_id),
    )


_COUNTER_MEAL_COLUMNS = (
    Meal.id,
    Meal.site,
    Meal.served_at,
    Meal.slot,
    Meal.items,
    Meal.mode,
    Meal.elder,
    Meal.elder.name.as_alias("elder_name"),
    Meal.elder.national_id_enc.as_alias("national_id_enc"),
    Meal.list_price_fen,
    Meal.copay_fen,
    Meal.payment,
    Meal.voided_at,
)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _counter_meal(row: dict[str, Any], *, senior: bool, window: int, now: dt.datetime) -> CounterMeal:
    from canteen.registry.services import masked_id  # local, as in counter_elder

    served_at = _aware(row["served_at"])
    why_not = ""
    if row["voided_at"] is not None:
        why_not = "already_voided"
    elif row["mode"] == meals.DELIVERY:
        why_not = "meal_is_delivery"
    elif not senior and now - served_at > dt.timedelta(minutes=window):
        why_not = "void_window_passed"
    items = row["items"] or []
    return CounterMeal(
        meal_id=row["id"],
        served_at=served_at,
        slot=row["slot"],
        meal_set=", ".join(str(i.get("name", "")) for i in items if isinstance(i, dict)),
        elder_id=row["elder"],
        elder_name=row["elder_name"] if row["elder"] else None,
        masked_id=masked_id(row["national_id_enc"]) if row["elder"] and row["national_id_enc"] else "",
        list_price_fen=row["list_price_fen"],
        copay_fen=row["copay_fen"],
        payment=row["payment"],
        voidable=not why_not,
        why_not=why_not,
    )


async def recent_meals(
    actor: Principal, site_id: int, limit: int = 8, *, now: dt.datetime | None = None
) -> list[CounterMeal]:
    """The site's last meals this actor may still void, newest first (the void tool's list).

    Shared by every counter of the site, so a meal served at the next till can be voided here.
    A cashier sees the meals inside the site's void window; an operator today's counter meals.
    """
    now = now or utcnow()
    site = await site_info(site_id)
    _tool_site(actor, site)
    senior = actor.can_site(site.id, site.district_id, OPERATOR)
    since = now - dt.timedelta(minutes=site.void_window_minutes)
    if senior:
        tz = get_settings().tz
        since = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz)
    rows = await (
        Meal.select(*_COUNTER_MEAL_COLUMNS)
        .where(
            (Meal.site == site_id)
            & Meal.voided_at.is_null()
            & (Meal.mode == meals.DINE_IN)
            & (Meal.served_at >= since.astimezone(dt.UTC))
        )
        .order_by(Meal.served_at, Meal.id, ascending=False)
        .limit(max(1, min(limit, 50)))
        .output(load_json=True)
    )
    return [_counter_meal(r, senior=senior, window=site.void_window_minutes, now=now) for r in rows]


async def counter_meal(
    actor: Principal, site_id: int, meal_id: int, *, now: dt.datetime | None = None
) -> CounterMeal:
    """One meal of ``site_id`` as the void tool shows it, with whether this actor may void it.

    A meal of another site is ``not_found``, like a number that does not exist."""
    now = now or utcnow()
    site = await site_info(site_id)
    _tool_site(actor, site)
    row = await (
        Meal.select(*_COUNTER_MEAL_COLUMNS)
        .where((Meal.id == meal_id) & (Meal.site == site_id))
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"meal_id": meal_id})
    senior = actor.can_site(site.id, site.district_id, OPERATOR)
    return _counter_meal(row, senior=senior, window=site.void_window_minutes, now=now)
