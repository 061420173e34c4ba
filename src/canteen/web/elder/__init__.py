"""The elders' ordering pages (/elder): sign in with card + PIN (or as family), order in three
taps from home, my orders, same as last time, weekly orders, larger text.

Elder and family sessions live in their own cookie (``canteen_elder``) and principal type
(:class:`canteen.orders.services.ElderPrincipal`), resolved here; the staff auth middleware is
untouched. Sessions last 30 days: nobody is logged out mid-order.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import msgspec
from babel.dates import format_skeleton, format_time
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from canteen import i18n
from canteen.accounts.context import client_ip, lang_of, limiter_of
from canteen.core.categories import allergen_labels
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.money import format_fen
from canteen.menus.services import meal_set_for, menu_for
from canteen.orders import services
from canteen.orders.schemas import StandingOrderIn
from canteen.orders.services import ElderPrincipal
from canteen.orders.tables import Order
from canteen.payments.ledger import balance_of
from canteen.regions.tables import Site
from canteen.registry.tables import Elder
from canteen.settings import get_settings
from canteen.web import delivery_words
from canteen.web.pages import page

ELDER_COOKIE = "canteen_elder"
TEXT_COOKIE = "canteen_text"
CODE_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
DONE_COOKIE = "canteen_elder_done"  # the order just cancelled, for the refund words on "my orders"
SLOT_NAMES = {"breakfast": "Breakfast", "lunch": "Lunch", "dinner": "Dinner"}
STATUS_NAMES = {
    "placed": "Placed",
    "confirmed": "Confirmed",
    "cooking": "Cooking",
    "out_for_delivery": "On the way",
    "delivered": "Delivered",
    "not_delivered": "Not delivered",
    "cancelled": "Cancelled",
}
PAY_NAMES = {"balance": "From my balance", "cash": "Cash on delivery", "card": "Bank card"}
WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# A refusal worded for the elder (the API's messages are for staff: "按原价收费" is the
# cashier's instruction). Codes not listed keep the catalog's own message.
ELDER_REFUSALS = {
    "already_served": "This meal is already ordered (or eaten at the canteen): no need to order it again.",
    "insufficient_balance": "Your balance is not enough for this meal. You can pay in cash when it arrives.",
    "not_eligible_for_delivery": "Meal delivery is not open for you yet. Please call your community worker.",
    "order_cutoff_passed": "It is too late to order or change this meal. Please choose another meal.",
    "sold_out": "This meal is sold out. Please choose another one.",
    "no_menu": "There is no menu for this meal. Please choose another day.",
    "not_found": "This page is not there any more. Please start again from the home page.",
    "order_not_cancellable": "This order is being cooked and cannot be cancelled. Call the meal point.",
    "site_not_open": "Your meal point is not taking orders now. Please call the community hotline.",
    "csrf_failed": "This page was open too long and has expired. Please sign in again and order once more.",
    "card_not_configured": "Paying by bank card is not available. Please choose another way to pay.",
    "payment_not_pending": "This order needs no card payment.",
    "service_paused": (
        "Meal delivery is paused on this day. To order, first end the pause on the page"
        ' "Pause my meals" (button "Resume now").'
    ),
}


def refusal_words(err: DomainError, lang: str) -> str:
    """An elder page's refusal in the elder's words (see ``ELDER_REFUSALS``)."""
    msgid = ELDER_REFUSALS.get(err.code)
    return i18n.gettext(lang, msgid) if msgid else err.message(lang)


def refund_words(order: Any, lang: str, *, done: bool = False) -> str:
    """What cancelling gives back, in words: to the balance, to the bank card, or nothing to
    pay; said before the cancel (``done=False``) and after it."""
    amount = format_fen(order.total_due_fen, lang)
    if order.total_due_fen == 0:
        msgid = "This meal is free: there is nothing to pay back."
    elif order.payment == "balance":
        msgid = "{amount} is back in your balance." if done else "{amount} will go back to your balance."
    elif order.payment == "card" and order.payment_status in ("paid", "refunded", "refund_pending"):
        msgid = "{amount} will go back to your bank card."
        if done:
            msgid = "{amount} goes back to your bank card."
    elif order.payment == "card":
        msgid = "Nothing was charged to your card."
    else:
        msgid = "You pay cash at the door, so there is nothing to pay back."
    words = i18n.gettext(lang, msgid, amount=amount)
    if done:
        sep = "" if i18n.normalise(lang) == "zh-CN" else " "
        return i18n.gettext(lang, "The order is cancelled.") + sep + words
    return words


def not_delivered_words(reason: str, lang: str) -> str:
    """ "not_home: 敲门无人" in words: the courier's outcome from the shared delivery words,
    then the courier's own note."""
    code, _, note = reason.partition(":")
    code = code.strip()
    if code in delivery_words.STOP_STATUS or CODE_SHAPE.fullmatch(code):
        # a known outcome, or one retired from the vocabulary (never shown as the code)
        word = i18n.gettext(lang, delivery_words.STOP_STATUS.get(code, delivery_words.STOP_STATUS["failed"]))
        note = note.strip()
    else:
        word, note = i18n.gettext(lang, delivery_words.STOP_STATUS["failed"]), reason.strip()
    if not note:
        return word
    return f"{word}（{note}）" if i18n.normalise(lang) == "zh-CN" else f"{word} ({note})"


def _large(request: Request[Any, Any, Any]) -> bool:
    return request.cookies.get(TEXT_COOKIE) == "large"


def _page(request: Request[Any, Any, Any], template: str, status_code: int = 200, **ctx: Any) -> Template:
    return page(
        request,
        template,
        status_code=status_code,
        large=_large(request),
        yuan=format_fen,
        slot_name=lambda s: SLOT_NAMES.get(s, s),
        status_name=lambda s: STATUS_NAMES.get(s, s),
        pay_name=lambda s: PAY_NAMES.get(s, s),
        day_words=lambda d: _day_words(d, lang_of(request)),
        hotline=get_settings().hotline,
        **ctx,
    )


def _day_words(day: dt.date, lang: str) -> str:
    """ "今天 12月2日" / "明天 12月3日" / "12月4日 周五": the service zone's today."""
    locale = i18n.FOLDERS[i18n.normalise(lang)]
    today = services.local_today(utcnow())
    date = format_skeleton("MMMd", day, locale=locale)
    if day == today:
        return f"{i18n.gettext(lang, 'Today')} {date}"
    if day == today + dt.timedelta(days=1):
        return f"{i18n.gettext(lang, 'Tomorrow')} {date}"
    return f"{date} {format_skeleton('EEE', day, locale=locale)}"


async def _who_name(who: ElderPrincipal) -> str:
    """The signed-in person's own name: a family member is greeted as themselves."""
    if who.kind == "family":
        return await services.family_name(who.account_id)
    return str((await _elder_info(who.account_id))["name"])


def elder_error_page(request: Request[Any, Any, Any], err: DomainError) -> Template:
    """An error on an elder page (an expired form, an unknown id) in the elder's words, with
    the way back to the elder's own pages, never the staff login. Used by ``web.errors``."""
    lang = lang_of(request)
    return _page(
        request,
        "elder/problem.html",
        status_code=err.status,
        elder=None,
        error=refusal_words(err, lang),
        expired=err.code == "csrf_failed",
    )


async def _who(request: Request[Any, Any, Any]) -> ElderPrincipal | None:
    token = request.cookies.get(ELDER_COOKIE)
    if not token:
        return None
    return await services.resolve_elder_session(request.app.state.kv, token)


async def _elder_for(request: Request[Any, Any, Any], who: ElderPrincipal, elder: int | None) -> int | None:
    if elder is not None and elder in who.elder_ids:
        return elder
    return who.elder_ids[0] if len(who.elder_ids) == 1 else None


async def _elder_info(elder_id: int) -> dict[str, Any]:
    row = (
        await Elder.select(
            Elder.id, Elder.name, Elder.diet, Elder.district, Elder.allergens, Elder.texture_level
        )
        .where(Elder.id == elder_id)
        .first()
        .output(load_json=True)
    )
    assert row is not None
    return row


async def _site_orderable(site_id: int) -> bool:
    """Whether elders may order from this site now: an open meal point (as place_order requires)."""
    return await Site.exists().where(
        (Site.id == site_id) & (Site.kind == "meal_point") & (Site.status == "open")
    )


async def _home_site(elder_id: int) -> int | None:
    """The delivering meal point: the last order's while it is open (and in the elder's own
    district: the only sites an elder may order from, see ``orders.services.check_order_site``),
    else the community's (or district's) first open one."""
    elder = await Elder.select(Elder.community, Elder.district).where(Elder.id == elder_id).first()
    assert elder is not None
    last = (
        await Order.select(Order.site)
        .where((Order.elder == elder_id) & (Order.district == elder["district"]))
        .order_by(Order.id, ascending=False)
        .first()
    )
    if last and await _site_orderable(int(last["site"])):
        return int(last["site"])
    site = (
        await Site.select(Site.id)
        .where((Site.community == elder["community"]) & (Site.kind == "meal_point") & (Site.status == "open"))
        .order_by(Site.id)
        .first()
    )
    if site is None:
        site = (
            await Site.select(Site.id)
            .where(
                (Site.district == elder["district"]) & (Site.kind == "meal_point") & (Site.status == "open")
            )
            .order_by(Site.id)
            .first()
        )
    return int(site["id"]) if site else None


async def _choices(site_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Day + slot buttons: today's menus still before cut-off, then tomorrow's."""
    today = services.local_today(now)
    out = []
    for offset in (0, 1):
        day = today + dt.timedelta(days=offset)
        for slot in ("breakfast", "lunch", "dinner"):
            menu = await menu_for(site_id, day, slot)
            if menu is None or not menu.sets or now >= menu.cutoff_at:
                continue
            out.append({"day": day, "slot": slot, "today": offset == 0})
    return out


async def _repeat_offer(
    who: ElderPrincipal, elder_id: int, now: dt.datetime, skip: frozenset[tuple[dt.date, str]] = frozenset()
) -> dict[str, Any] | None:
    """The "same as last time" offer (day, slot, set), or None when it cannot be ordered.

    Offered only while the last order's site is still the elder's open home site, and only for
    the next offered day (before its cut-off) whose menu in the last order's slot has the same
    set (by id, else by name: each day's menu has its own sets) with portions left. Never a
    closed site, never a set that is no longer on the menu, never a meal already ordered
    (``skip``: the (day, slot) pairs ordered), so it never ends in a refusal.
    """
    last = await services.last_order(who, elder_id)
    if last is None or await _home_site(elder_id) != last.site_id:
        return None
    for c in await _choices(last.site_id, now):
        if c["slot"] != last.slot or (c["day"], c["slot"]) in skip:
            continue
        menu = await menu_for(last.site_id, c["day"], c["slot"])
        sets = [
            s
            for s in (menu.sets if menu else [])
            if s.portions_available is None or s.portions_sold < s.portions_available
        ]
        match = next((s for s in sets if s.id == last.meal_set_id), None) or next(
            (s for s in sets if s.name == last.meal_set_name), None
        )
        if match is not None:
            return {"day": c["day"], "slot": c["slot"], "set_id": match.id, "name": match.name}
    return None


def _signin_redirect() -> Redirect:
    return Redirect(path="/elder/sign-in")


# --- sign in ---------------------------------------------------------------------------------


class SignInForm(msgspec.Struct):
    card_number: str = ""
    pin: str = ""


class FamilyForm(msgspec.Struct):
    phone: str = ""
    password: str = ""


@get("/elder/sign-in", include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, "elder/sign_in.html", error=None, card_number="")


def _with_session(target: str, token: str) -> Response[Any]:
    response: Response[Any] = Redirect(path=target)
    response.set_cookie(
        ELDER_COOKIE,
        token,
        max_age=services.ELDER_SESSION_TTL,
        httponly=True,
        secure=get_settings().cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


def _when(moment: dt.datetime, lang: str) -> str:
    """A time for people, in the service zone: "15:42", or "11月25日 15:42" on another day."""
    tz = get_settings().tz
    local = moment.astimezone(tz)
    locale = i18n.FOLDERS[i18n.normalise(lang)]
    clock = format_time(local, "short", tzinfo=tz, locale=locale)
    if local.date() == utcnow().astimezone(tz).date():
        return clock
    return f"{format_skeleton('MMMd', local, tzinfo=tz, locale=locale)} {clock}"


def sign_in_refusal(err: DomainError, lang: str) -> str:
    """A sign-in refusal in words: what went wrong, how many tries are left, when to try again."""
    parts = [err.message(lang)]
    detail = err.detail
    if err.code == "pin_wrong" and isinstance(detail.get("tries_left"), int):
        parts.append(i18n.gettext(lang, "elder.sign_in.tries_left", n=detail["tries_left"]))
    until: dt.datetime | None = None
    if err.code == "pin_locked" and isinstance(detail.get("until"), str):
        until = dt.datetime.fromisoformat(detail["until"])
    elif err.code == "too_many_attempts" and isinstance(detail.get("retry_after_seconds"), int):
        until = utcnow() + dt.timedelta(seconds=detail["retry_after_seconds"])
    if until is not None:
        parts.append(i18n.gettext(lang, "elder.sign_in.try_after", time=_when(until, lang)))
    if err.code == "pin_locked":
        parts.append(i18n.gettext(lang, "elder.sign_in.call_hotline", hotline=get_settings().hotline))
    return ("" if i18n.normalise(lang) == "zh-CN" else " ").join(parts)


@post("/elder/sign-in", include_in_schema=False)
async def sign_in_submit(request: Request[Any, Any, Any], data: URLEncodedBody[SignInForm]) -> Response[Any]:
    lang = lang_of(request)
    try:
        if not data.card_number.strip() or not data.pin.isdigit() or not 4 <= len(data.pin) <= 6:
            raise DomainError("pin_wrong", {})
        who = await services.elder_sign_in(
            data.card_number[:40],
            data.pin,
            limiter=limiter_of(request),
            ip=client_ip(request),
            now=utcnow(),
        )
    except DomainError as err:
        if err.status >= 500:
            raise
        return _page(
            request,
            "elder/sign_in.html",
            status_code=err.status,
            error=sign_in_refusal(err, lang),
            card_number=data.card_number[:40],
        )
    token = await services.open_elder_session(request.app.state.kv, who)
    return _with_session("/elder", token)


@get("/elder/family-sign-in", include_in_schema=False)
async def family_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, "elder/family_sign_in.html", error=None, phone="")


@post("/elder/family-sign-in", include_in_schema=False)
async def family_submit(request: Request[Any, Any, Any], data: URLEncodedBody[FamilyForm]) -> Response[Any]:
    try:
        who = await services.family_sign_in(
            data.phone[:30],
            data.password[:200],
            limiter=limiter_of(request),
            ip=client_ip(request),
            limits=services.family_limits(request.app.state.settings),
        )
    except DomainError as err:
        if err.status >= 500:
            raise
        return _page(
            request,
            "elder/family_sign_in.html",
            status_code=err.status,
            error=sign_in_refusal(err, lang_of(request)),
            phone=data.phone[:30],
        )
    token = await services.open_elder_session(request.app.state.kv, who)
    return _with_session("/elder", token)


@post("/elder/sign-out", include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    token = request.cookies.get(ELDER_COOKIE)
    if token:
        await services.close_elder_session(request.app.state.kv, token)
    response: Response[Any] = Redirect(path="/elder/sign-in")
    response.delete_cookie(ELDER_COOKIE, path="/")
    return response


@get("/elder/text-size", include_in_schema=False)
async def text_size(request: Request[Any, Any, Any], next: FromQuery[str] = "/elder") -> Response[Any]:
    target = next if next.startswith("/elder") and not next.startswith("//") else "/elder"
    response: Response[Any] = Redirect(path=target)
    response.set_cookie(
        TEXT_COOKIE, "normal" if _large(request) else "large", max_age=365 * 86400, samesite="lax", path="/"
    )
    return response


# --- home, order in three taps ---------------------------------------------------------------


async def _overview(who: ElderPrincipal, elder_id: int, site_id: int | None) -> Any:
    return await services.elder_overview(who, elder_id, site_id, now=utcnow())


def _taken(overview: Any) -> frozenset[tuple[dt.date, str]]:
    """The (day, slot) pairs that cannot be ordered again: ordered, or eaten at a counter."""
    return frozenset(
        [(o.service_date, o.slot) for o in overview.upcoming] + [(e.day, e.slot) for e in overview.eaten]
    )


@get("/elder", include_in_schema=False)
async def home(request: Request[Any, Any, Any], elder: FromQuery[int | None] = None) -> Response[Any]:
    """Home: what is already ordered (when it comes, what it costs), the balance, whether
    delivery is open to this elder at all, and only the meals that can still be ordered."""
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    elder_id = await _elder_for(request, who, elder)
    greeting = await _who_name(who)
    if elder_id is None:
        people = [await _elder_info(e) for e in who.elder_ids]
        return _page(request, "elder/choose.html", people=people, greeting=greeting)
    info = await _elder_info(elder_id)
    site_id = await _home_site(elder_id)
    now = utcnow()
    overview = await _overview(who, elder_id, site_id)
    ordered = _taken(overview)
    choices: list[dict[str, Any]] = []
    repeat_offer = None
    if overview.delivery_eligible and site_id:
        choices = [c for c in await _choices(site_id, now) if (c["day"], c["slot"]) not in ordered]
        repeat_offer = await _repeat_offer(who, elder_id, now, skip=ordered)
    return _page(
        request,
        "elder/home.html",
        elder=info,
        site_id=site_id,
        choices=choices,
        repeat=repeat_offer,
        who=who,
        greeting=greeting,
        overview=overview,
        pauses=await pause_home(who, elder_id, lang_of(request)),  # 报停 (web.pauses)
    )


async def pause_home(who: ElderPrincipal, elder_id: int, lang: str) -> list[str]:
    from canteen.web.pauses import home_pauses  # web.pauses builds on this module's helpers

    return await home_pauses(who, elder_id, lang)


def _problem(request: Request[Any, Any, Any], elder: dict[str, Any] | None, err: DomainError) -> Template:
    return _page(
        request,
        "elder/problem.html",
        status_code=err.status,
        elder=elder,
        error=refusal_words(err, lang_of(request)),
        expired=False,
    )


@get("/elder/{elder_id:int}/order/{day:date}/{slot:str}", include_in_schema=False)
async def choose_set(
    request: Request[Any, Any, Any], elder_id: FromPath[int], day: FromPath[dt.date], slot: FromPath[str]
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    info = await _elder_info(elder_id)
    site_id = await _home_site(elder_id)
    overview = await _overview(who, elder_id, site_id)
    if not overview.delivery_eligible:
        return _problem(request, info, DomainError("not_eligible_for_delivery", {"elder_id": elder_id}))
    if (day, slot) in _taken(overview):
        return _problem(request, info, DomainError("already_served", {"date": day.isoformat()}))
    menu = await menu_for(site_id, day, slot) if site_id and slot in SLOT_NAMES else None
    if menu is None:
        return _problem(request, info, DomainError("no_menu", {"date": day.isoformat(), "slot": slot}))
    # Fitting sets first; a set holding one of the elder's allergens last, shown but not
    # orderable here (staff may order it with a reason): canteen.orders.services.rank_sets_for_elder.
    ranked = services.rank_sets_for_elder(
        list(menu.sets), list(info["diet"] or []), list(info["allergens"] or []), info["texture_level"]
    )
    lang = lang_of(request)
    return _page(
        request,
        "elder/choose_set.html",
        elder=info,
        day=day,
        slot=slot,
        sets=[(r.meal_set, r.suits_diet) for r in ranked],
        ranked=ranked,
        allergen_words=lambda codes: allergen_labels(codes, lang),
        has_diet=bool(info["diet"]),
        diet_text=delivery_words.words(lang_of(request))["diet_words"](info["diet"] or []),
    )


async def _confirm(
    request: Request[Any, Any, Any],
    who: ElderPrincipal,
    elder_id: int,
    day: dt.date,
    slot: str,
    set_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response[Any]:
    """The confirm page: the price split, and only the ways to pay that work (the balance
    disabled, with why, when it does not cover the meal; cash at the door always)."""
    site_id = await _home_site(elder_id)
    info = await _elder_info(elder_id)
    if site_id is None:
        return _problem(request, info, DomainError("no_menu", {}))
    refusal = None
    quote = None
    try:
        quote = await services.quote_order(
            who, elder_id=elder_id, site_id=site_id, day=day, slot=slot, meal_set_id=set_id
        )
    except DomainError as err:
        if err.status >= 500:
            raise
        refusal = err
    if refusal is not None:
        return _problem(request, info, refusal)
    assert quote is not None
    meal_set = await meal_set_for(site_id, day, slot, set_id)
    balance = await balance_of(elder_id)
    balance_covers = balance >= quote.total_due_fen
    return _page(
        request,
        "elder/confirm.html",
        status_code=status_code,
        elder=info,
        day=day,
        slot=slot,
        meal_set=meal_set,
        quote=quote,
        balance=balance,
        balance_covers=balance_covers,
        default_pay="balance" if balance_covers and error is None else "cash",
        site_id=site_id,
        error=error,
        key=uuid.uuid4().hex,
        card_enabled=bool(get_settings().stripe_api_key),
    )


@get("/elder/{elder_id:int}/order/{day:date}/{slot:str}/{set_id:int}", include_in_schema=False)
async def confirm_page(
    request: Request[Any, Any, Any],
    elder_id: FromPath[int],
    day: FromPath[dt.date],
    slot: FromPath[str],
    set_id: FromPath[int],
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    return await _confirm(request, who, elder_id, day, slot, set_id)


class PlaceForm(msgspec.Struct):
    # Only compared with the elder's own site (the confirm page's hidden field); 0: not given.
    site_id: int = 0
    payment: str = "balance"
    key: str = ""


@post("/elder/{elder_id:int}/order/{day:date}/{slot:str}/{set_id:int}", include_in_schema=False)
async def place(
    request: Request[Any, Any, Any],
    elder_id: FromPath[int],
    day: FromPath[dt.date],
    slot: FromPath[str],
    set_id: FromPath[int],
    data: URLEncodedBody[PlaceForm],
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    payment = data.payment if data.payment in PAY_NAMES else "balance"
    try:
        # The site is the elder's own delivering point, never the form's: a posted site_id that
        # is not it (a forged form, or a page left open while the point changed) is refused.
        site_id = await _home_site(elder_id)
        if site_id is None:
            raise DomainError("no_menu", {"date": day.isoformat(), "slot": slot})
        if data.site_id and data.site_id != site_id:
            raise DomainError("order_site_not_assigned", {"site_id": data.site_id})
        _, order = await services.place_order(
            who,
            elder_id=elder_id,
            site_id=site_id,
            day=day,
            slot=slot,
            meal_set_id=set_id,
            payment=payment,
            now=utcnow(),
            idempotency_key=data.key[:128] or None,
        )
    except DomainError as err:
        if err.status >= 500:
            raise
        if err.code == "insufficient_balance":
            # The order is kept on screen, cash at the door chosen: one more tap places it.
            return await _confirm(
                request,
                who,
                elder_id,
                day,
                slot,
                set_id,
                error=refusal_words(err, lang_of(request)),
                status_code=err.status,
            )
        return _problem(request, await _elder_info(elder_id), err)
    return Redirect(path=f"/elder/orders/{order.id}/placed")


@get("/elder/orders/{order_id:int}/placed", include_in_schema=False)
async def placed(request: Request[Any, Any, Any], order_id: FromPath[int]) -> Response[Any]:
    """Placed: when it comes, what it cost and the balance after, and whom to call."""
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    order = await services.get_order(who, order_id)
    overview = await _overview(who, order.elder_id, order.site_id)
    return _page(
        request,
        "elder/placed.html",
        order=order,
        elder=await _elder_info(order.elder_id),
        overview=overview,
        window=overview.windows.get(str(order.id)),
    )


@post("/elder/{elder_id:int}/repeat", include_in_schema=False)
async def repeat(request: Request[Any, Any, Any], elder_id: FromPath[int]) -> Response[Any]:
    """Same as last time → its confirm page, only when it can be ordered (see :func:`_repeat_offer`)."""
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    overview = await _overview(who, elder_id, await _home_site(elder_id))
    ordered = _taken(overview)
    offer = await _repeat_offer(who, elder_id, utcnow(), skip=ordered) if overview.delivery_eligible else None
    if offer is None:
        return Redirect(path="/elder")
    return Redirect(
        path=f"/elder/{elder_id}/order/{offer['day'].isoformat()}/{offer['slot']}/{offer['set_id']}"
    )


# --- my orders, cancel, card ------------------------------------------------------------------


@get("/elder/{elder_id:int}/orders", include_in_schema=False)
async def my_orders(request: Request[Any, Any, Any], elder_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    lang = lang_of(request)
    orders = await services.list_orders(who, elder_id)
    cancelled = request.cookies.get(DONE_COOKIE, "")
    done = next((o for o in orders if str(o.id) == cancelled and o.status == "cancelled"), None)
    shown = _page(
        request,
        "elder/orders.html",
        elder=await _elder_info(elder_id),
        orders=orders,
        cancelled_words=refund_words(done, lang, done=True) if done else None,
        not_delivered=lambda reason: not_delivered_words(reason, lang),
    )
    if cancelled:
        shown.delete_cookie(DONE_COOKIE, path="/elder")
    return shown


@get("/elder/orders/{order_id:int}/cancel", include_in_schema=False)
async def cancel_page(request: Request[Any, Any, Any], order_id: FromPath[int]) -> Response[Any]:
    """Cancel, step one: which meal, and what comes back, in words; then one big confirm."""
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    order = await services.get_order(who, order_id)
    info = await _elder_info(order.elder_id)
    if order.status != "placed":
        return _problem(request, info, DomainError("order_not_cancellable", {"status": order.status}))
    return _page(
        request, "elder/cancel.html", elder=info, order=order, refund=refund_words(order, lang_of(request))
    )


@post("/elder/orders/{order_id:int}/cancel", include_in_schema=False)
async def cancel(request: Request[Any, Any, Any], order_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    order = await services.get_order(who, order_id)
    try:
        await services.cancel_order(who, order_id, reason="cancelled on the ordering page", now=utcnow())
    except DomainError as err:
        if err.status >= 500:
            raise
        return _problem(request, await _elder_info(order.elder_id), err)
    # What came back is said once on "my orders" (a one-minute cookie, read and dropped there).
    response: Response[Any] = Redirect(path=f"/elder/{order.elder_id}/orders")
    response.set_cookie(DONE_COOKIE, str(order_id), max_age=60, httponly=True, samesite="lax", path="/elder")
    return response


@post("/elder/orders/{order_id:int}/pay-card", include_in_schema=False)
async def pay_card(request: Request[Any, Any, Any], order_id: FromPath[int]) -> Response[Any]:
    """Create the card payment server-side; the provider's webhook marks the order paid."""
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    order = await services.get_order(who, order_id)
    info = await _elder_info(order.elder_id)
    try:
        intent = await services.start_card_payment(who, order_id, now=utcnow())
    except DomainError as err:
        if err.status >= 500 and err.code != "card_not_configured":
            raise
        return _problem(request, info, err)
    return _page(request, "elder/pay_card.html", elder=info, order=order, intent=intent)


# --- weekly standing orders ----------------------------------------------------------------


class StandingForm(msgspec.Struct):
    slot: str = "lunch"
    weekdays: list[int] = msgspec.field(default_factory=list)
    meal_set_name: str = ""
    payment: str = "balance"


@get("/elder/{elder_id:int}/weekly", include_in_schema=False)
async def weekly(request: Request[Any, Any, Any], elder_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    items = await services.list_standing_orders(who, elder_id)
    return _page(
        request,
        "elder/weekly.html",
        elder=await _elder_info(elder_id),
        items=items,
        weekday_names=WEEKDAY_NAMES,
        error=None,
    )


@post("/elder/{elder_id:int}/weekly", include_in_schema=False)
async def weekly_submit(
    request: Request[Any, Any, Any], elder_id: FromPath[int], data: URLEncodedBody[StandingForm]
) -> Response[Any]:
    who = await _who(request)
    if who is None or elder_id not in who.elder_ids:
        return _signin_redirect()
    site_id = await _home_site(elder_id)
    error = None
    try:
        if site_id is None or not data.weekdays:
            raise DomainError("validation_failed", {"field": "weekdays"})
        await services.create_standing_order(
            who,
            StandingOrderIn(
                elder_id=elder_id,
                site_id=site_id,
                slot="lunch" if data.slot not in SLOT_NAMES else data.slot,  # type: ignore[arg-type]
                weekdays=sorted({d for d in data.weekdays if 0 <= d <= 6}),
                meal_set_name=data.meal_set_name[:50],
                payment="cash" if data.payment == "cash" else "balance",
            ),
            now=utcnow(),
        )
    except DomainError as err:
        if err.status >= 500:
            raise
        error = refusal_words(err, lang_of(request))
    if error is None:
        return Redirect(path=f"/elder/{elder_id}/weekly")
    items = await services.list_standing_orders(who, elder_id)
    return _page(
        request,
        "elder/weekly.html",
        status_code=422,
        elder=await _elder_info(elder_id),
        items=items,
        weekday_names=WEEKDAY_NAMES,
        error=error,
    )


@post("/elder/weekly/{standing_id:int}/stop", include_in_schema=False)
async def weekly_stop(request: Request[Any, Any, Any], standing_id: FromPath[int]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signin_redirect()
    await services.stop_standing_order(who, standing_id, now=utcnow())
    return Redirect(path="/elder")


PAGES = [
    sign_in_page,
    sign_in_submit,
    family_page,
    family_submit,
    sign_out,
    text_size,
    home,
    choose_set,
    confirm_page,
    place,
    placed,
    repeat,
    my_orders,
    cancel_page,
    cancel,
    pay_card,
    weekly,
    weekly_submit,
    weekly_stop,
]
