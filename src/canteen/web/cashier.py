"""The counter: the cashier's page during a lunch rush, keyboard only, a few seconds per elder.

One page (``/counter/{site_id}``) with a scan field that always has focus, and small
routes that answer with HTML partials which ``static/js/counter.js`` swaps in:

* ``POST …/preview``  a scan (or a manual pick) → the confirm panel (nothing is written);
  the panel carries an Idempotency-Key made when it was rendered, so a double Enter
  cannot charge twice (the service replays the first answer);
* ``POST …/confirm``  the check-in → green success panel or a red refusal with advice;
* ``GET …/walk-in`` + ``POST …/walk-in``  a non-member's full-price cash sale;
* ``GET …/lookup``    the manual path: elders by name, last 4 of the ID or card number;
* ``GET/POST …/topup`` a cash top-up, always for the elder on screen, named with the masked
  card before the cash is taken (no elder on screen: refused in words);
* ``GET …/void``      the site's last voidable meals (from the server, shared by every till)
  and the chosen one's name, time, set and amount; ``POST …/void`` voids it (reason required);
* ``GET …/tally``     today's tally (refreshed on each live event from the SSE endpoint);
* ``GET /counter/receipt/{meal_id}``  a 58 mm receipt (never the elder's categories).

Refusals are caught here only to render them as a panel in the cashier's language with
what to do next; every other error goes to the app's one exception handler.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromQuery, PathParameter, URLEncodedBody
from litestar.response import Redirect, Template

from canteen import i18n
from canteen.accounts.context import count_typed_lookup, lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import CASHIER, OPERATOR, Principal
from canteen.checkin import services
from canteen.checkin.rules import pick_slot
from canteen.checkin.services import (
    counter_elder,
    counter_meal,
    meal_receipt,
    recent_meals,
    site_info,
    tally,
    void_meal,
)
from canteen.core.categories import category_label, slot_label
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.idempotency import require_key
from canteen.core.schemas import IdempotencyKeyHeader
from canteen.menus.rules import AllergenConflict
from canteen.menus.services import menu_for
from canteen.payments.ledger import top_up_cash
from canteen.quality.services import rate_meal
from canteen.regions.services import list_sites
from canteen.registry.cards import looks_like_token
from canteen.registry.services import search_elders
from canteen.settings import get_settings
from canteen.web.pages import page

Req = Request[Any, Any, Any]
SiteId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
MealId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
IdemKey = IdempotencyKeyHeader
GUARDS = [roles(CASHIER, OPERATOR)]
DEVICE = "counter-page"
MAX_ID = 2_147_483_647

# What to do next, per refusal code: plain words for the cashier (English msgids, see the catalog).
ADVICE: dict[str, str] = {
    "invalid_card": "Scan the card again, or type the card number printed on it. "
    "If that fails, press F6 to look the elder up by name.",
    "invalid_card_number": "Check the card number and type it again, "
    "or press F6 to look the elder up by name.",
    "card_revoked": "This card was reported lost or replaced. Ask for the new card; "
    "without it, press F6 to look the elder up and serve them by hand.",
    "card_other_city": "This card is from another city: no subsidised meal here. "
    "A walk-in meal at full price is still possible (F4).",
    "elder_inactive": "Do not serve a subsidised meal. Ask the elder to contact their community worker. "
    "A walk-in meal at full price is still possible (F4).",
    "already_served": "Press Enter to sell a second meal at full price, or Esc to cancel.",
    "insufficient_balance": "Press Enter to take the co-pay in cash, or top up the balance (F7).",
    "slot_closed": "No meal can be served outside the serving hours.",
    "sold_out": "Choose another meal set (number keys 1–9) and scan again.",
    "site_forbidden": "You are not a cashier at this site. "
    "Choose your own site, or ask the operator to add you.",
    "site_not_open": "This site is closed. Ask the operator.",
    "no_menu": "There is no menu for this meal. Ask the kitchen or the operator to publish it.",
    "manual_reason_required": "Type why the card could not be used.",
    "allergen_conflict": "Do not serve this set. Choose another set (number keys 1–9), "
    "or press F3, type why it may be served anyway and press Enter.",
    "allergen_override_reason_required": "Press F3 and type why this set may be served anyway "
    "(at least 2 characters), then press Enter.",
    "not_found": "Nothing was found. Scan again or look the elder up (F6).",
    "void_window_passed": "Ask the operator to void this meal.",
    "already_voided": "Nothing to do: this meal is already void.",
    "invalid_amount": "Type an amount in yuan, such as 50 or 20.5.",
    "too_many_attempts": "Too many card numbers or names typed in a minute. "
    "Scan the card instead, or wait a minute and try again.",
}
# Codes after which Enter offers a next step (the panel carries the follow-up form).
NEXT_STEP = {"already_served", "insufficient_balance"}


def N_(msgid: str) -> str:
    """Marks a msgid translated later (in the template) so the catalog test finds it."""
    return msgid


# How a meal was paid, in words (the meal's ``payment`` column is a code).
PAYMENT_WORDS: dict[str, str] = {
    "balance": N_("Paid from the balance"),
    "cash": N_("Paid in cash"),
    "card": N_("Paid by bank card"),
    "none": N_("Nothing to pay"),
}
# Why the void tool cannot void a meal, in words (the codes a void would be refused with).
VOID_WHY_NOT: dict[str, str] = {
    "already_voided": N_("This meal is already void: nothing to do."),
    "meal_is_delivery": N_("This is a delivery meal: cancel its order instead."),
    "void_window_passed": N_("Too long ago for a cashier to void: ask the operator."),
}


# --------------------------------------------------------------------------- forms


class ScanForm(msgspec.Struct):
    """Everything is text: a form field a person typed is judged here, in words, not by a 400."""

    card: str = ""
    elder_id: str = ""
    reason: str = ""
    set_id: str = ""
    payment: str = "balance"
    full_price_ok: str = ""
    # Present only on the allergen panel's form: None means "no override asked".
    allergen_override_reason: str | None = None


class WalkInForm(msgspec.Struct):
    set_id: str = ""


class TopUpForm(msgspec.Struct):
    elder_id: str = ""
    amount: str = ""


class RateForm(msgspec.Struct):
    meal_id: str = ""
    score: str = ""


class VoidForm(msgspec.Struct):
    meal_id: str = ""
    reason: str = ""


def _int(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _payment(text: str) -> str:
    return "cash" if text == "cash" else "balance"


def yuan_to_fen(text: str) -> int | None:
    """``"50"`` / ``"20.5"`` / ``"¥20.50"`` → fen; None when it is not an amount of money."""
    cleaned = text.strip().replace("¥", "").replace("￥", "").replace("元", "").replace(",", "").strip()
    m = re.fullmatch(r"(\d{1,7})(?:\.(\d{1,2}))?", cleaned)
    if m is None:
        return None
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


def yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "−" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _key() -> str:
    return uuid.uuid4().hex


def _today(now: dt.datetime) -> dt.date:
    return now.astimezone(get_settings().tz).date()


def _render(request: Req, template: str, status_code: int = 200, **context: Any) -> Template:
    lang = lang_of(request)
    return page(
        request,
        template,
        status_code=status_code,
        yuan=yuan,
        slot_label=lambda code: slot_label(code, lang) if code else "",
        category_label=lambda code: category_label(code, lang),
        payment_words=lambda code: PAYMENT_WORDS.get(code, N_("Paid")),
        as_date=_as_date,
        **context,
    )


def _as_date(text: str | dt.date) -> dt.date | str:
    """A tally's ``YYYY-MM-DD`` as a date, so the template formats it for people."""
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return ""


def _hm(text: str) -> dt.time | None:
    try:
        hh, mm = str(text).split(":")[:2]
        return dt.time(int(hh), int(mm))
    except ValueError:
        return None


def next_serving(slots: list[dict[str, Any]], local: dt.datetime, lang: str) -> str:
    """When the counter opens next, in words: "下一餐：今天 午餐 11:00 开始"."""
    starts = sorted(
        (t, str(s["slot"])) for s in slots if s.get("end") and (t := _hm(str(s.get("start", "")))) is not None
    )
    if not starts:
        return i18n.gettext(lang, "No serving hours are set for this site. Ask the operator.")
    for start, slot in starts:
        if start > local.time():
            return i18n.gettext(
                lang,
                "Next serving: {slot} today from {time}.",
                slot=slot_label(slot, lang),
                time=start.strftime("%H:%M"),
            )
    start, slot = starts[0]
    return i18n.gettext(
        lang,
        "Next serving: {slot} tomorrow from {time}.",
        slot=slot_label(slot, lang),
        time=start.strftime("%H:%M"),
    )


def _refusal(request: Req, site_id: int, err: DomainError, **context: Any) -> Template:
    """A red panel: the message, what to do next, and (for some codes) what Enter does next."""
    lang = lang_of(request)
    advice = ADVICE.get(err.code, "Check the entry and try again, or ask the operator.")
    status = err.status if 400 <= err.status < 500 else 409
    return _render(
        request,
        "cashier/_result.html",
        status_code=status,
        outcome="refused",
        site_id=site_id,
        code=err.code,
        message=err.message(lang),
        advice=advice,
        detail=err.detail,
        next_key=_key(),
        hours=_hours(err.detail.get("serving_hours") or [], lang),
        next_serving=next_serving(err.detail.get("serving_hours") or [], _local_now(), lang)
        if err.code == "slot_closed"
        else "",
        **context,
    )


def _local_now() -> dt.datetime:
    return utcnow().astimezone(get_settings().tz)


def _hours(items: list[dict[str, Any]], lang: str) -> str:
    return "; ".join(f"{slot_label(h['slot'], lang)} {h['start']}–{h['end']}" for h in items if "slot" in h)


# --------------------------------------------------------------------------- pages


@get("/counter", guards=GUARDS, include_in_schema=False)
async def choose_site(request: Req) -> Response[Any]:
    """The sites this user may serve; straight in when there is one."""
    actor = principal_of(request)
    listed = await list_sites(actor, kind="meal_point", status="open", limit=200)
    sites = [s for s in listed.items if actor.can_site(s.id, s.district_id, CASHIER, OPERATOR)]
    if len(sites) == 1:
        return Redirect(path=f"/counter/{sites[0].id}")
    return _render(request, "cashier/choose.html", sites=sites)


async def _counter_context(actor: Principal, site_id: int, lang: str) -> dict[str, Any]:
    site = await site_info(site_id)
    if not actor.can_site(site.id, site.district_id, CASHIER, OPERATOR):
        raise DomainError("site_forbidden", {"site_id": site_id})
    now = utcnow()
    local = now.astimezone(get_settings().tz)
    slot: str | None
    try:
        slot = pick_slot(site.slots, local.time())
    except DomainError:
        slot = None
    menu = await menu_for(site.id, local.date(), slot) if slot else None
    return {
        "site": site,
        "slot": slot,
        "hours": _hours(site.slots, lang),
        # Out of hours the page says when the counter opens, and nothing about menus.
        "next_serving": next_serving(site.slots, local, lang) if slot is None else "",
        "sets": menu.sets if menu else [],
        "tally": await tally(actor, site.id, local.date()),
        "today": local.date(),
    }


@get("/counter/{site_id:int}", guards=GUARDS, include_in_schema=False)
async def counter_page(request: Req, site_id: SiteId) -> Template:
    ctx = await _counter_context(principal_of(request), site_id, lang_of(request))
    return _render(request, "cashier/counter.html", site_id=site_id, **ctx)


def _scan_form(data: ScanForm) -> tuple[str | None, int | None, int | None, str, str, dict[str, Any]]:
    """The scan form, cleaned: a card (or a manually picked elder with a reason), set and payment."""
    card = data.card.strip()[:200] or None
    elder_id = _int(data.elder_id) if not card else None
    set_id = _int(data.set_id)
    payment = _payment(data.payment)
    reason = data.reason.strip()[:200]
    form = {
        "card": card or "",
        "elder_id": elder_id or "",
        "reason": reason,
        "set_id": set_id or "",
        "payment": payment,
    }
    return card, elder_id, set_id, payment, reason, form


@post("/counter/{site_id:int}/preview", guards=GUARDS, include_in_schema=False, status_code=200)
async def preview(request: Req, site_id: SiteId, data: URLEncodedBody[ScanForm]) -> Template:
    """A scan (or a manual pick): what this elder would pay. Writes nothing."""
    actor = principal_of(request)
    lang = lang_of(request)
    card, elder_id, set_id, payment, reason, form = _scan_form(data)
    try:
        if card is None and elder_id is None:
            raise DomainError("invalid_card", {"reason": "empty"})
        if card is None and len(reason) < 2:
            raise DomainError("manual_reason_required")
        if card is not None and not looks_like_token(card):
            await count_typed_lookup(request)
        quote = await services.preview(
            actor,
            site_id=site_id,
            card=card,
            elder_id=elder_id,
            items=[set_id] if set_id else None,
            payment=payment,
            lang=lang,
        )
    except DomainError as err:
        return _refusal(request, site_id, err, form=form)
    if quote.already_served:
        # The queue sees a red panel with where and when; Enter sells a second meal at full price.
        served = DomainError("already_served", dict(quote.already_served))
        return _refusal(request, site_id, served, form=form, quote=quote)
    if quote.allergen_conflicts:
        # The set holds one of the elder's allergens: a red panel in words; F3 + a reason serves it.
        conflict = AllergenConflict(quote.allergen_conflicts, {"elder_id": quote.elder.id})
        return _refusal(request, site_id, conflict, form=form, quote=quote)
    # A balance that cannot cover the co-pay: the panel says how much is missing and Enter takes
    # cash instead (F2 back to the balance shows the same, F7 tops up first).
    short_fen = quote.copay_fen - quote.balance_fen if payment == "balance" else 0
    if short_fen > 0:
        form = {**form, "payment": "cash"}
    return _render(
        request,
        "cashier/_result.html",
        outcome="preview",
        site_id=site_id,
        quote=quote,
        form=form,
        key=_key(),
        short_fen=max(short_fen, 0),
    )


@post("/counter/{site_id:int}/confirm", guards=GUARDS, include_in_schema=False, status_code=200)
async def confirm(
    request: Req, site_id: SiteId, data: URLEncodedBody[ScanForm], idempotency_key: IdemKey = None
) -> Template:
    """Serve the elder of the confirm panel; a replay of the same key shows the first answer."""
    actor = principal_of(request)
    lang = lang_of(request)
    card, elder_id, set_id, payment, reason, form = _scan_form(data)
    try:
        if card is None and elder_id is None:
            raise DomainError("invalid_card", {"reason": "empty"})
        _, out = await services.check_in(
            actor,
            site_id=site_id,
            card=card,
            elder_id=elder_id,
            manual_reason=reason if card is None else None,
            items=[set_id] if set_id else None,
            payment=payment,
            full_price_ok=data.full_price_ok == "1",
            allergen_override_reason=None
            if data.allergen_override_reason is None
            else data.allergen_override_reason.strip()[:200],
            device=DEVICE,
            idempotency_key=require_key(idempotency_key),
            lang=lang,
        )
    except DomainError as err:
        return _refusal(request, site_id, err, form=form)
    return _render(request, "cashier/_result.html", outcome="ok", site_id=site_id, meal=out, form=form)


@get("/counter/{site_id:int}/walk-in", guards=GUARDS, include_in_schema=False)
async def walk_in_offer(request: Req, site_id: SiteId, set_id: FromQuery[str] = "") -> Template:
    """The confirm panel for a walk-in sale: the set, the full price, cash."""
    ctx = await _counter_context(principal_of(request), site_id, lang_of(request))
    sets = ctx["sets"]
    chosen = next((s for s in sets if str(s.id) == set_id), sets[0] if sets else None)
    if chosen is None:
        return _refusal(request, site_id, DomainError("no_menu", {"site_id": site_id}))
    return _render(
        request,
        "cashier/_result.html",
        outcome="walk_in_offer",
        site_id=site_id,
        chosen=chosen,
        key=_key(),
        form={"set_id": chosen.id},
    )


@post("/counter/{site_id:int}/walk-in", guards=GUARDS, include_in_schema=False, status_code=200)
async def walk_in(
    request: Req, site_id: SiteId, data: URLEncodedBody[WalkInForm], idempotency_key: IdemKey = None
) -> Template:
    set_id = _int(data.set_id)
    try:
        _, out = await services.sell_walk_in(
            principal_of(request),
            site_id=site_id,
            items=[set_id] if set_id else None,
            device=DEVICE,
            idempotency_key=require_key(idempotency_key),
            lang=lang_of(request),
        )
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(request, "cashier/_result.html", outcome="ok", site_id=site_id, meal=out, form={})


@get("/counter/{site_id:int}/lookup", guards=GUARDS, include_in_schema=False)
async def lookup(request: Req, site_id: SiteId, q: FromQuery[str] = "") -> Template:
    """The manual path: elders by name, the last 4 characters of the ID, or a card number."""
    text = q.strip()[:60]
    try:
        if text:
            await count_typed_lookup(request)
    except DomainError as err:
        return _refusal(request, site_id, err)
    found = await search_elders(principal_of(request), q=text, limit=10) if text else None
    return _render(
        request,
        "cashier/_lookup.html",
        site_id=site_id,
        q=text,
        items=found.items if found else [],
        searched=bool(text),
    )


@get("/counter/{site_id:int}/topup", guards=GUARDS, include_in_schema=False)
async def topup_form(request: Req, site_id: SiteId, elder_id: FromQuery[str] = "") -> Template:
    """The top-up form for the elder on screen, named (masked card, balance) by the server;
    without one it says so in words and offers the look-up instead of guessing."""
    chosen = _int(elder_id)
    try:
        who = await counter_elder(principal_of(request), site_id, chosen) if chosen else None
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(
        request, "cashier/_topup.html", site_id=site_id, who=who, amount="", error=None, key=_key()
    )


@post("/counter/{site_id:int}/topup", guards=GUARDS, include_in_schema=False, status_code=200)
async def topup(
    request: Req, site_id: SiteId, data: URLEncodedBody[TopUpForm], idempotency_key: IdemKey = None
) -> Template:
    """Cash into the elder's balance (amount typed in yuan, kept in fen)."""
    actor = principal_of(request)
    elder_id = _int(data.elder_id)
    amount_fen = yuan_to_fen(data.amount)
    try:
        # Read first: the panel names whose balance it was, and a stranger is refused before cash.
        who = await counter_elder(actor, site_id, elder_id) if elder_id else None
        if who is None or amount_fen is None or amount_fen <= 0:
            return _render(
                request,
                "cashier/_topup.html",
                status_code=422,
                site_id=site_id,
                who=who,
                amount=data.amount[:20],
                error=ADVICE["invalid_amount"] if who else None,
                key=_key(),
            )
        receipt = await top_up_cash(
            actor,
            site_id,
            who.elder_id,
            amount_fen,
            idempotency_key=require_key(idempotency_key),
            now=utcnow(),
        )
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(
        request, "cashier/_result.html", outcome="topup", site_id=site_id, receipt=receipt, who=who, form={}
    )


@get("/counter/{site_id:int}/void", guards=GUARDS, include_in_schema=False)
async def void_tool(request: Req, site_id: SiteId, meal_id: FromQuery[str] = "") -> Template:
    """The void tool: the site's last voidable meals, and the chosen one (the newest by default)
    with whose it is, when, which set and how much, before the cashier confirms."""
    actor = principal_of(request)
    typed = meal_id.strip().lstrip("#")
    try:
        recent = await recent_meals(actor, site_id)
        chosen = None
        error = None
        if typed:
            wanted = _int(typed)
            if wanted is None:
                error = N_("Type the meal number from the receipt.")
            else:
                try:
                    chosen = await counter_meal(actor, site_id, wanted)
                except DomainError as err:
                    if err.code != "not_found":
                        raise
                    error = N_("No meal with this number at this site. Check the receipt.")
        elif recent:
            chosen = recent[0]
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(
        request,
        "cashier/_void.html",
        site_id=site_id,
        recent=recent,
        meal=chosen,
        typed=typed[:12],
        error=error,
        why_not=VOID_WHY_NOT,
        window=(await site_info(site_id)).void_window_minutes,
    )


@post("/counter/{site_id:int}/void", guards=GUARDS, include_in_schema=False, status_code=200)
async def void(request: Req, site_id: SiteId, data: URLEncodedBody[VoidForm]) -> Template:
    """Void a meal (reason required): reverses the money and frees the subsidy."""
    meal_id = _int(data.meal_id.lstrip("#"))
    reason = data.reason.strip()[:200]
    if meal_id is None or len(reason) < 2:
        err = DomainError("validation_failed", {"field": "meal_id" if meal_id is None else "reason"})
        return _refusal(
            request,
            site_id,
            err,
            advice_override="Type the meal number from the receipt."
            if meal_id is None
            else "Type why the meal is voided (at least 2 characters).",
        )
    actor = principal_of(request)
    try:
        # The meal must be of this counter's site: its number alone could name another site's.
        whose = await counter_meal(actor, site_id, meal_id)
        out = await void_meal(actor, meal_id, reason)
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(
        request, "cashier/_result.html", outcome="void", site_id=site_id, voided=out, whose=whose, form={}
    )


@post("/counter/{site_id:int}/rate", guards=GUARDS, include_in_schema=False, status_code=200)
async def rate(request: Req, site_id: SiteId, data: URLEncodedBody[RateForm]) -> Template:
    """The elder taps one of three faces after a meal (the counter's keypad)."""
    meal_id, score = _int(data.meal_id), _int(data.score)
    if meal_id is None or score not in (1, 2, 3):
        return _refusal(request, site_id, DomainError("validation_failed", {"field": "score"}))
    try:
        await rate_meal(principal_of(request), meal_id, score, "counter")
    except DomainError as err:
        return _refusal(request, site_id, err)
    return _render(request, "cashier/_rated.html", score=score)


@get("/counter/{site_id:int}/tally", guards=GUARDS, include_in_schema=False)
async def tally_partial(request: Req, site_id: SiteId) -> Template:
    now = utcnow()
    return _render(
        request, "cashier/_tally.html", tally=await tally(principal_of(request), site_id, _today(now))
    )


@get("/counter/receipt/{meal_id:int}", guards=GUARDS, include_in_schema=False)
async def receipt(request: Req, meal_id: MealId, print: FromQuery[int] = 0) -> Template:
    """A 58 mm receipt: site, time, meal, price split, payment, balance after. Never categories."""
    info = await meal_receipt(principal_of(request), meal_id)
    return _render(request, "cashier/receipt.html", r=info, autoprint=bool(print))


PAGES = [
    choose_site,
    counter_page,
    preview,
    confirm,
    walk_in_offer,
    walk_in,
    lookup,
    topup_form,
    topup,
    void_tool,
    void,
    tally_partial,
    receipt,
    rate,
]
