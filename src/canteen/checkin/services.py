"""The counter's one service: scan → quote → meal + payment, exactly once.

Modelled on pretix's ``perform_checkin``: one plain function used by the API and
the cashier page alike; one transaction; the database as referee (a partial
unique index on (elder, service_date, slot) for subsidised meals); a retry with
the same Idempotency-Key returns the first answer; every outcome, refusals
included, is logged in CounterEvent with its stable code.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import msgspec

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
from canteen.checkin.tables import CounterEvent, Meal
from canteen.core import audit, events
from canteen.core.cache import TTLCache
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import run_once
from canteen.regions.tables import Site
from canteen.settings import get_settings
from canteen.subsidies import rules as subsidy_rules
from canteen.subsidies.schemas import Quote, Usage

log = logging.getLogger("canteen.checkin")

register("site_forbidden", 403, "您不能在该站点收银。", "You are not allowed to serve at this site.")
register("site_not_open", 409, "该站点未在营业。", "This site is not open.")
register(
    "elder_inactive",
    409,
    "该长者档案已停用（暂停、迁出或已故），请联系社区。",
    "This member is not active (suspended, moved or deceased); contact the community.",
)
register(
    "already_served",
    409,
    "该长者本餐次今天已享受过补贴餐。如需再买一份，请按原价收费。",
    "This member already had a subsidised meal in this slot today. A second meal is sold at full price.",
)
register(
    "no_menu",
    409,
    "该站点本餐次没有菜单，请先设置菜单。",
    "There is no menu for this slot; set one up first.",
)
register("already_voided", 409, "该餐已作废。", "This meal has already been voided.")
register(
    "void_window_passed",
    403,
    "已超过收银员可作废的时限，请联系运营方作废。",
    "The cashier's void window has passed; ask the operator to void it.",
)
register("manual_reason_required", 422, "手工查找长者须填写原因。", "A manual look-up needs a reason.")

SUBSIDY_INDEX_MARKERS = ("meal_one_subsidy", "meal.elder, meal.service_date, meal.slot")


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: int
    name: str
    district_id: int
    street_id: int | None
    operator_id: int | None
    kind: str
    status: str
    slots: list[dict[str, Any]]
    void_window_minutes: int


# Serving hours and the operator are read on every scan and change rarely (site edits clear it).
_SITES: TTLCache[int, SiteInfo] = TTLCache(ttl=30.0)


async def site_info(site_id: int) -> SiteInfo:
    hit, cached = _SITES.get(site_id)
    if hit and cached is not None:
        return cached
    row = (
        await Site.select(
            Site.id,
            Site.name,
            Site.district,
            Site.street,
            Site.operator,
            Site.kind,
            Site.status,
            Site.slots,
            Site.void_window_minutes,
        )
        .where(Site.id == site_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    info = SiteInfo(
        id=row["id"],
        name=row["name"],
        district_id=row["district"],
        street_id=row["street"],
        operator_id=row["operator"],
        kind=row["kind"],
        status=row["status"],
        slots=row["slots"] or [],
        void_window_minutes=row["void_window_minutes"],
    )
    _SITES.set(site_id, info)
    return info


def _check_site(actor: Principal, site: SiteInfo) -> None:
    if not actor.can_site(site.id, site.district_id, CASHIER, OPERATOR):
        raise DomainError("site_forbidden", {"site_id": site.id})
    if site.kind != "meal_point" or site.status != "open":
        raise DomainError("site_not_open", {"site_id": site.id, "status": site.status})


async def _served_already(elder_id: int, day: dt.date, slot: str) -> dict[str, Any] | None:
    row = (
        await Meal.select(Meal.id, Meal.site, Meal.site.name.as_alias("site_name"), Meal.served_at, Meal.mode)
        .where(
            (Meal.elder == elder_id)
            & (Meal.service_date == day)
            & (Meal.slot == slot)
            & (Meal.subsidised == True)  # noqa: E712 - Piccolo builds SQL from this comparison
            & Meal.voided_at.is_null()
        )
        .first()
    )
    return row


async def _month_subsidy(elder_id: int, day: dt.date) -> int:
    first = day.replace(day=1)
    rows = await Meal.select(Meal.subsidy_fen).where(
        (Meal.elder == elder_id)
        & (Meal.service_date >= first)
        & (Meal.service_date <= day)
        & Meal.voided_at.is_null()
    )
    return sum(r["subsidy_fen"] for r in rows)


async def usage(elder_id: int, day: dt.date, slot: str) -> Usage:
    """Subsidised meals already taken in this slot today, and subsidy received this month."""
    already = await _served_already(elder_id, day, slot)
    return Usage(slot_meals_today=1 if already else 0, month_subsidy_fen=await _month_subsidy(elder_id, day))


def _already_detail(row: dict[str, Any]) -> dict[str, Any]:
    tz = get_settings().tz
    return {
        "meal_id": row["id"],
        "site_id": row["site"],
        "site_name": row["site_name"],
        "served_at": row["served_at"].astimezone(tz).isoformat(timespec="minutes"),
        "mode": row["mode"],
    }


def walk_in_quote(list_price_fen: int, policy_version: int = 0) -> Quote:
    """The list price, no subsidy (a walk-in, or no policy in force: version 0)."""
    return Quote(
        list_price_fen=list_price_fen,
        subsidy_fen=0,
        copay_fen=list_price_fen,
        funding=[],
        delivery_fee_fen=0,
        delivery_subsidy_fen=0,
        delivery_copay_fen=0,
        delivery_funding=[],
        total_due_fen=list_price_fen,
        tier_code=None,
        tier_codes=[],
        tier_name_zh=None,
        tier_name_en=None,
        reason_zh="非会员，按原价",
        reason_en="Not a member: list price",
        policy_version=policy_version,
    )


@dataclass
class _Prepared:
    site: SiteInfo
    slot: str
    day: dt.date
    elder_id: int
    brief: Any
    meal_set: Any
    quote: Quote
    already: dict[str, Any] | None


async def _prepare(
    actor: Principal,
    *,
    site_id: int,
    card: str | None,
    elder_id: int | None,
    slot: str | None,
    items: list[int] | None,
    full_price_ok: bool,
    now: dt.datetime,
    for_preview: bool = False,
) -> _Prepared:
    from canteen.menus.services import meal_set_for
    from canteen.registry.card_services import resolve_card
    from canteen.registry.services import counter_view
    from canteen.subsidies.services import policy_for

    settings = get_settings()
    site = await site_info(site_id)
    _check_site(actor, site)
    local = now.astimezone(settings.tz)
    slot_name = pick_slot(site.slots, local.time(), slot)
    day = local.date()
    if card is not None:
        hit = await resolve_card(card)
        elder_id = hit.elder_id
    assert elder_id is not None
    brief, facts = await counter_view(elder_id, today=day)
    if brief.status != "active":
        raise DomainError("elder_inactive", {"status": brief.status})
    meal_set = await meal_set_for(site.id, day, slot_name, items[0] if items else None)
    if meal_set is None:
        raise DomainError("no_menu", {"site_id": site.id, "slot": slot_name, "date": day.isoformat()})
    # Without full_price_ok the partial unique index is the referee (check_in maps its refusal to
    # already_served), so the hot path does not read first; a full-price sale or a preview must know.
    already = await _served_already(elder_id, day, slot_name) if (full_price_ok or for_preview) else None
    policy = await policy_for(site.district_id, day)
    if policy is None:
        quote = walk_in_quote(meal_set.list_price_fen)
        quote = msgspec.structs.replace(
            quote,
            reason_zh="本区暂无生效的补贴政策，按原价",
            reason_en="No subsidy policy in force: list price",
        )
    else:
        usage = Usage(
            slot_meals_today=1 if already is not None else 0,
            month_subsidy_fen=await _month_subsidy(elder_id, day) if policy.monthly_cap_fen else 0,
        )
        quote = subsidy_rules.quote(
            elder=facts,
            list_price_fen=meal_set.list_price_fen,
            slot=slot_name,
            day=day,
            mode="dine_in",
            policy=policy,
            usage=usage,
            site_street_id=site.street_id or 0,
            site_district_id=site.district_id,
        )
    return _Prepared(site, slot_name, day, elder_id, brief, meal_set, quote, already)


def _ticket(brief: Any) -> ElderOnTicket:
    return ElderOnTicket(brief.id, brief.display_name, brief.masked_id, list(brief.categories))


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
    from canteen.payments.ledger import balance_of

    now = now or utcnow()
    p = await _prepare(
        actor,
        site_id=site_id,
        card=card,
        elder_id=elder_id,
        slot=slot,
        items=items,
        full_price_ok=True,
        now=now,
        for_preview=True,
    )
    balance = await balance_of(p.elder_id)
    after = balance - p.quote.copay_fen if payment == "balance" else None
    return PreviewOut(
        elder=_ticket(p.brief),
        tier=p.quote.tier_code,
        reason=_reason(p.quote, lang),
        list_price_fen=p.quote.list_price_fen,
        subsidy_fen=p.quote.subsidy_fen,
        copay_fen=p.quote.copay_fen,
        funding=[FundingPartOut(f.source, f.fen) for f in p.quote.funding],
        balance_fen=balance,
        balance_after_fen=after,
        slot=p.slot,
        meal_set=p.meal_set.name,
        already_served=_already_detail(p.already) if p.already else None,
    )


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
    device: str = "",
    idempotency_key: str | None = None,
    lang: str = "zh-CN",
    now: dt.datetime | None = None,
) -> tuple[int, CheckinOut]:
    """Serve one elder: returns (201, CheckinOut), or (200, the first answer) on a retry.

    Refusals raise DomainError with their stable code (see the registered codes above).
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
    seen: dict[str, Any] = {}

    async def effect() -> tuple[int, Any]:
        out = await _perform(
            actor,
            request,
            manual_reason=manual_reason,
            device=device,
            key=idempotency_key,
            lang=lang,
            now=now,
            seen=seen,
        )
        return 201, out

    try:
        outcome = await run_once(f"checkin:{actor.user_id}", idempotency_key, request, effect, now=now)
    except UniqueViolation as exc:
        if not any(m in exc.constraint for m in SUBSIDY_INDEX_MARKERS) or "elder" not in seen:
            raise
        # Another counter served this elder a subsidised meal in the same instant: the index decided.
        row = await _served_already(seen["elder"], seen["day"], seen["slot"])
        err = DomainError("already_served", _already_detail(row) if row else {})
        await _log_refusal(actor, site_id, err, device=device, manual=manual, elder_id=seen["elder"], now=now)
        raise err from exc
    except DomainError as err:
        await _log_refusal(
            actor, site_id, err, device=device, manual=manual, elder_id=seen.get("elder", elder_id), now=now
        )
        raise
    if outcome.replayed:
        return 200, msgspec.convert(outcome.body, CheckinOut)
    body: CheckinOut = outcome.body
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
    key: str | None,
    lang: str,
    now: dt.datetime,
    seen: dict[str, Any],
) -> CheckinOut:
    from canteen.accounting.rollups import apply_meal
    from canteen.menus.services import take_portion
    from canteen.payments.ledger import Movement, balance_of, charge_elder, new_txn, post

    p = await _prepare(
        actor,
        site_id=request["site_id"],
        card=request["card"],
        elder_id=request["elder_id"],
        slot=request["slot"],
        items=request["items"],
        full_price_ok=request["full_price_ok"],
        now=now,
    )
    seen.update(elder=p.elder_id, day=p.day, slot=p.slot, district=p.site.district_id)
    q = p.quote
    await take_portion(p.meal_set.id)
    subsidised = q.subsidy_fen > 0
    revenue = f"revenue:site:{p.site.id}"
    movements = [
        Movement(f"receivable:{f.source}:op:{p.site.operator_id or 0}", revenue, f.fen)
        for f in q.funding
        if f.fen
    ]
    by_balance = q.copay_fen > 0 and request["payment"] == "balance"
    if q.copay_fen > 0 and not by_balance:
        movements.append(Movement(f"cash:site:{p.site.id}:{p.day.isoformat()}", revenue, q.copay_fen))
    # The txn id is chosen first so the meal row is written once, already pointing at its entries.
    txn = new_txn() if (by_balance or movements) else ""
    rows = await Meal.insert(
        Meal(
            district=p.site.district_id,
            site=p.site.id,
            elder=p.elder_id,
            service_date=p.day,
            slot=p.slot,
            mode="dine_in",
            served_at=now,
            meal_set=p.meal_set.id,
            items=[
                {"meal_set_id": p.meal_set.id, "name": p.meal_set.name, "list_price_fen": q.list_price_fen}
            ],
            list_price_fen=q.list_price_fen,
            subsidy_fen=q.subsidy_fen,
            copay_fen=q.copay_fen,
            funding=[{"source": f.source, "fen": f.fen} for f in q.funding],
            payment=request["payment"],
            subsidised=subsidised,
            policy_version=q.policy_version or None,
            tier_code=q.tier_code,
            reason_zh=q.reason_zh[:300],
            reason_en=q.reason_en[:300],
            categories=list(p.brief.categories),
            operator=p.site.operator_id,
            cashier_id=actor.user_id,
            device=device[:100],
            manual_reason=(manual_reason or "")[:200],
            idempotency_key=key,
            ledger_txn=txn,
        )
    ).returning(Meal.id)
    meal_id = int(rows[0]["id"])
    await apply_meal(
        {
            "id": meal_id,
            "district": p.site.district_id,
            "site": p.site.id,
            "operator": p.site.operator_id,
            "service_date": p.day,
            "slot": p.slot,
            "mode": "dine_in",
            "categories": list(p.brief.categories),
            "tier_code": q.tier_code,
            "subsidised": subsidised,
            "list_price_fen": q.list_price_fen,
            "subsidy_fen": q.subsidy_fen,
            "copay_fen": q.copay_fen,
            "funding": [{"source": f.source, "fen": f.fen} for f in q.funding],
            "delivery_fee_fen": 0,
            "delivery_subsidy_fen": 0,
            "voided_at": None,
        },
        +1,
    )
    balance_after: int | None = None
    if by_balance:
        _, balance_after = await charge_elder(
            p.elder_id,
            q.copay_fen,
            revenue,
            kind="meal",
            ref_type="meal",
            ref_id=meal_id,
            site_id=p.site.id,
            actor=actor,
            now=now,
            extra=movements,
            txn=txn,
        )
    else:
        if movements:
            await post(
                "meal",
                movements,
                ref_type="meal",
                ref_id=meal_id,
                site_id=p.site.id,
                elder_id=p.elder_id,
                actor=actor,
                now=now,
                txn=txn,
            )
        balance_after = await balance_of(p.elder_id)
    # A served meal is its own record of the outcome; refusals and manual look-ups get an event.
    if manual_reason:
        await log_event(
            site_id=p.site.id,
            outcome="ok",
            elder_id=p.elder_id,
            meal_id=meal_id,
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
            meal_id,
            district_id=p.site.district_id,
            after={"elder_id": p.elder_id, "reason": manual_reason},
            now=now,
        )
    return CheckinOut(
        meal_id=meal_id,
        elder=_ticket(p.brief),
        tier=q.tier_code,
        reason=_reason(q, lang),
        reason_zh=q.reason_zh,
        reason_en=q.reason_en,
        list_price_fen=q.list_price_fen,
        subsidy_fen=q.subsidy_fen,
        copay_fen=q.copay_fen,
        funding=[FundingPartOut(f.source, f.fen) for f in q.funding],
        payment=request["payment"],
        balance_after_fen=balance_after,
        slot=p.slot,
        service_date=p.day.isoformat(),
        site_id=p.site.id,
        meal_set=p.meal_set.name,
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
    from canteen.accounting.rollups import apply_meal_id
    from canteen.menus.services import meal_set_for, take_portion
    from canteen.payments.ledger import Movement, post

    now = now or utcnow()
    request = {"walk_in": True, "site_id": site_id, "slot": slot, "items": items}

    async def effect() -> tuple[int, Any]:
        site = await site_info(site_id)
        _check_site(actor, site)
        local = now.astimezone(get_settings().tz)
        slot_name = pick_slot(site.slots, local.time(), slot)
        meal_set = await meal_set_for(site.id, local.date(), slot_name, items[0] if items else None)
        if meal_set is None:
            raise DomainError("no_menu", {"site_id": site.id, "slot": slot_name})
        await take_portion(meal_set.id)
        q = walk_in_quote(meal_set.list_price_fen)
        rows = await Meal.insert(
            Meal(
                district=site.district_id,
                site=site.id,
                elder=None,
                service_date=local.date(),
                slot=slot_name,
                served_at=now,
                meal_set=meal_set.id,
                items=[
                    {"meal_set_id": meal_set.id, "name": meal_set.name, "list_price_fen": q.list_price_fen}
                ],
                list_price_fen=q.list_price_fen,
                subsidy_fen=0,
                copay_fen=q.copay_fen,
                payment="cash",
                subsidised=False,
                reason_zh=q.reason_zh,
                reason_en=q.reason_en,
                operator=site.operator_id,
                cashier_id=actor.user_id,
                device=device[:100],
                idempotency_key=idempotency_key,
            )
        ).returning(Meal.id)
        meal_id = int(rows[0]["id"])
        txn = await post(
            "meal",
            [
                Movement(
                    f"cash:site:{site.id}:{local.date().isoformat()}", f"revenue:site:{site.id}", q.copay_fen
                )
            ],
            ref_type="meal",
            ref_id=meal_id,
            site_id=site.id,
            elder_id=None,
            actor=actor,
            now=now,
        )
        await Meal.update({Meal.ledger_txn: txn}).where(Meal.id == meal_id)
        await apply_meal_id(meal_id, +1)
        await log_event(
            site_id=site.id,
            outcome="ok",
            code="walk_in",
            meal_id=meal_id,
            actor=actor,
            device=device,
            now=now,
        )
        return 201, CheckinOut(
            meal_id=meal_id,
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


async def mark_voided(meal_id: int, *, by: int | None, reason: str, void_txn: str, now: dt.datetime) -> bool:
    """Void one meal row inside the caller's transaction: frees its subsidy (the partial
    unique index no longer counts it) and takes it out of the day's rollups. The caller
    reverses its ledger entries. Returns False if it was already voided."""
    from canteen.accounting.rollups import MEAL_COLUMNS, apply_meal

    row = await Meal.select(*MEAL_COLUMNS).where((Meal.id == meal_id) & Meal.voided_at.is_null()).first()
    if row is None:
        return False
    await apply_meal(row, -1)
    await Meal.update(
        {Meal.voided_at: now, Meal.voided_by: by, Meal.void_reason: reason[:200], Meal.void_txn: void_txn}
    ).where(Meal.id == meal_id)
    return True


async def void_meal(
    actor: Principal, meal_id: int, reason: str, *, now: dt.datetime | None = None
) -> VoidOut:
    """Void a meal: reverse its ledger entries, give the portion back and free the subsidy.

    A cashier may void within the site's window (default 15 minutes); later only the
    operator or an admin. Audited, and logged as a counter event.
    """
    from canteen.menus.services import release_portion
    from canteen.payments.ledger import reverse_in_txn

    now = now or utcnow()
    async with write_transaction():
        meal = (
            await Meal.select(
                Meal.id,
                Meal.site,
                Meal.district,
                Meal.elder,
                Meal.served_at,
                Meal.voided_at,
                Meal.ledger_txn,
                Meal.meal_set,
                Meal.subsidy_fen,
                Meal.copay_fen,
                Meal.site.void_window_minutes.as_alias("window"),
            )
            .where(Meal.id == meal_id)
            .first()
        )
        if meal is None or not actor.can_site(meal["site"], meal["district"], CASHIER, OPERATOR):
            raise DomainError("not_found", {"meal_id": meal_id})
        if meal["voided_at"] is not None:
            raise DomainError("already_voided", {"meal_id": meal_id})
        senior = actor.can_site(meal["site"], meal["district"], OPERATOR)
        if not senior and now - meal["served_at"] > dt.timedelta(minutes=meal["window"]):
            raise DomainError("void_window_passed", {"window_minutes": meal["window"]})
        void_txn = ""
        if meal["ledger_txn"]:
            void_txn = await reverse_in_txn(
                meal["ledger_txn"], kind="void", actor=actor, now=now, note=reason
            )
        if meal["meal_set"]:
            await release_portion(meal["meal_set"])
        await mark_voided(meal_id, by=actor.user_id, reason=reason, void_txn=void_txn, now=now)
        await audit.record(
            actor,
            "meal.void",
            "meal",
            meal_id,
            district_id=meal["district"],
            before={"voided_at": None},
            after={"voided_at": now.isoformat(), "reason": reason},
            now=now,
        )
        await log_event(
            site_id=meal["site"],
            outcome="void",
            elder_id=meal["elder"],
            meal_id=meal_id,
            actor=actor,
            detail={"reason": reason},
            now=now,
        )
    events.publish(
        [events.site_channel(meal["site"]), events.district_channel(meal["district"])],
        {"type": "void", "site_id": meal["site"], "meal_id": meal_id},
    )
    return VoidOut(meal_id=meal_id, voided_at=now.isoformat(), reversed_txn=void_txn)


async def tally(actor: Principal, site_id: int, day: dt.date) -> Tally:
    """Today's counts and money at one site: what the cashier reconciles at closing."""
    site = await site_info(site_id)
    if not actor.can_site(site.id, site.district_id):
        raise DomainError("not_found", {"site_id": site_id})
    rows = await Meal.select(
        Meal.slot,
        Meal.elder,
        Meal.subsidised,
        Meal.voided_at,
        Meal.list_price_fen,
        Meal.subsidy_fen,
        Meal.copay_fen,
        Meal.payment,
    ).where((Meal.site == site_id) & (Meal.service_date == day))
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
        if r["voided_at"] is not None:
            t.voided += 1
            continue
        t.meals += 1
        t.by_slot[r["slot"]] = t.by_slot.get(r["slot"], 0) + 1
        t.subsidised += 1 if r["subsidised"] else 0
        t.walk_ins += 1 if r["elder"] is None else 0
        t.list_fen += r["list_price_fen"]
        t.subsidy_fen += r["subsidy_fen"]
        t.copay_fen += r["copay_fen"]
        if r["payment"] == "cash":
            t.cash_fen += r["copay_fen"]
        elif r["payment"] == "balance":
            t.balance_fen += r["copay_fen"]
    return t


async def district_today(actor: Principal, district_id: int, day: dt.date) -> DistrictToday:
    """Meals so far today at every meal point of a district (the official's live view)."""
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})
    sites = (
        await Site.select(Site.id, Site.name, Site.point_type)
        .where((Site.district == district_id) & (Site.kind == "meal_point"))
        .order_by(Site.id)
    )
    rows = await Meal.select(Meal.site, Meal.slot, Meal.subsidised).where(
        (Meal.district == district_id) & (Meal.service_date == day) & Meal.voided_at.is_null()
    )
    per: dict[int, SiteToday] = {
        s["id"]: SiteToday(s["id"], s["name"], s["point_type"], 0, 0, {}) for s in sites
    }
    for r in rows:
        item = per.get(r["site"])
        if item is None:
            continue
        item.meals += 1
        item.subsidised += 1 if r["subsidised"] else 0
        item.by_slot[r["slot"]] = item.by_slot.get(r["slot"], 0) + 1
    items = list(per.values())
    return DistrictToday(district_id, day.isoformat(), sum(i.meals for i in items), items)
