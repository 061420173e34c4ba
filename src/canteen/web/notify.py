"""Officials' notification pages: the district's log (what was sent to whom, or only logged when
no gateway is configured), the district's notification settings, and the profile section."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Response, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import OFFICIAL
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.core.schemas import PathId
from canteen.notify import rules, services
from canteen.regions.services import list_districts
from canteen.web.pages import page

GUARDS = [roles(OFFICIAL)]
Req = Request[Any, Any, Any]


@get("/official/notifications", guards=GUARDS, include_in_schema=False)
async def notifications_choose(request: Req) -> Response[Any]:
    actor = principal_of(request)
    ids = sorted(actor.district_ids(OFFICIAL))
    if len(ids) == 1:
        return Redirect(path=f"/official/districts/{ids[0]}/notifications")
    districts = await list_districts(actor)
    return page(request, "notify/choose.html", districts=districts.items)


@get("/official/districts/{district_id:int}/notifications", guards=GUARDS, include_in_schema=False)
async def notifications_page(request: Req, district_id: PathId) -> Template:
    status = request.query_params.get("status") or None
    kind = request.query_params.get("kind") or None
    if status not in (None, *services.STATUSES):
        status = None
    if kind not in (None, *rules.ROUTING):
        kind = None
    data = await services.list_notifications(
        principal_of(request), district_id, status=status, kind=kind, limit=100
    )
    return page(
        request,
        "notify/log.html",
        district_id=district_id,
        items=data.items,
        status=status or "",
        kind=kind or "",
        statuses=services.STATUSES,
        kinds=list(rules.ROUTING),
        **services.words(lang_of(request)),
    )


def _form_values(view: services.NotifySettingsView) -> dict[str, str]:
    return {
        "webhook_url": view.webhook_url,
        "missed_meal_days": str(view.missed_meal_days),
        "low_balance_yuan": yuan(view.low_balance_fen),
        "quiet_start": view.quiet_start,
        "quiet_end": view.quiet_end,
    }


@get("/official/districts/{district_id:int}/notify-settings", guards=GUARDS, include_in_schema=False)
async def settings_page(request: Req, district_id: PathId) -> Template:
    view = await services.get_notify_settings(principal_of(request), district_id)
    saved = request.query_params.get("saved") == "1"
    return page(
        request,
        "notify/settings.html",
        district_id=district_id,
        values=_form_values(view),
        secret_set=view.webhook_secret_set,
        errors={},
        saved=saved,
    )


def _yuan_to_fen(text: str) -> int | None:
    try:
        whole, _, frac = text.strip().partition(".")
        if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
            return None
        return int(whole) * 100 + int((frac + "00")[:2])
    except ValueError:
        return None


@post("/official/districts/{district_id:int}/notify-settings", guards=GUARDS, include_in_schema=False)
async def settings_save(request: Req, district_id: PathId) -> Response[Any]:
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in _FIELDS}
    secret = str(form.get("webhook_secret", "")).strip()
    errors: dict[str, str] = {}
    days = int(values["missed_meal_days"]) if values["missed_meal_days"].isdigit() else None
    if days is None or not 1 <= days <= 30:
        errors["missed_meal_days"] = "Enter a whole number of days from 1 to 30."
    fen = _yuan_to_fen(values["low_balance_yuan"])
    if fen is None or fen > 1_000_000:
        errors["low_balance_yuan"] = "Enter an amount in yuan, e.g. 20 or 20.50."
    for name in ("quiet_start", "quiet_end"):
        try:
            rules.parse_hhmm(values[name])
        except ValueError:
            errors[name] = "Enter a time as hours and minutes, e.g. 21:00."
    if secret and len(secret) < 16:
        errors["webhook_secret"] = "The signing secret needs at least 16 characters."  # noqa: S105 - a msgid
    if not errors:
        try:
            await services.update_notify_settings(
                principal_of(request),
                district_id,
                webhook_url=values["webhook_url"],
                webhook_secret=secret or None,
                missed_meal_days=days or 2,
                low_balance_fen=fen or 0,
                quiet_start=values["quiet_start"],
                quiet_end=values["quiet_end"],
            )
            return Redirect(path=f"/official/districts/{district_id}/notify-settings?saved=1")
        except DomainError as err:
            if err.code not in ("notify_webhook_invalid", "validation_failed"):
                raise
            field = str((err.detail or {}).get("field", "webhook_url"))
            errors[field] = (
                "Enter a web address starting with https://, and a signing secret."
                if err.code == "notify_webhook_invalid"
                else "This value is not accepted."
            )
    view = await services.get_notify_settings(principal_of(request), district_id)
    return page(
        request,
        "notify/settings.html",
        status_code=422,
        district_id=district_id,
        values=values,
        secret_set=view.webhook_secret_set,
        errors=errors,
        saved=False,
    )


_FIELDS = ("webhook_url", "missed_meal_days", "low_balance_yuan", "quiet_start", "quiet_end")


async def profile_section(actor: Any, elder_id: int, lang: str) -> dict[str, Any] | None:
    """The elder profile's "Notifications" section (``care["notifications"]``); None when the
    reader may not see it."""
    try:
        items = await services.elder_notifications(actor, elder_id, limit=10)
    except DomainError as err:
        if err.code in ("forbidden", "not_found"):
            return None
        raise
    return {"items": items, **services.words(lang)}


PAGES = [notifications_choose, notifications_page, settings_page, settings_save]
