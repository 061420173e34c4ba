"""Pages every audience shares: sign in and out, the home page per role, the language switch."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import msgspec
from babel.dates import format_date, format_skeleton, format_time
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from canteen import i18n
from canteen.accounts import services as accounts
from canteen.accounts.context import LANG_COOKIE, SESSION_COOKIE, lang_of, principal_of, sign_in
from canteen.accounts.guards import login_required
from canteen.accounts.roles import (
    ADMIN,
    CASHIER,
    CITY_OFFICIAL,
    COMMUNITY_WORKER,
    COURIER,
    KITCHEN,
    OFFICIAL,
    OPERATOR,
    VOLUNTEER,
    role_label,
    roles_of,
)
from canteen.core.errors import DomainError
from canteen.settings import get_settings


def lang_from_ctx(ctx: Any) -> str:
    request = ctx.get("request")
    return lang_of(request) if request is not None else i18n.DEFAULT_LANG


# Date and time shapes for people; one filter so no page prints ISO text or UTC.
_TIME_SHAPES = {"date": "yMMMEd", "day": "MMMEd", "datetime": "yMMMd"}


def local_time(ctx: Any, value: dt.datetime | dt.date | str | None, shape: str = "datetime") -> str:
    """Jinja filter ``localtime``: a timestamp in the service zone, in the reader's language.

    ``shape`` is ``time`` (15:47), ``datetime`` (2026年12月2日 15:47), ``date``
    (2026年12月2日周三) or ``day`` (12月2日周三). A plain date is never shifted.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # a date or timestamp that reached the page as ISO text
        value = (
            dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
        )
    locale = "en" if i18n.normalise(ctx.get("lang") or lang_from_ctx(ctx)) == "en" else "zh_CN"
    request = ctx.get("request")
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    zone = ZoneInfo((settings or get_settings()).timezone)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # our timestamps are UTC; a naive one came from SQLite
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(zone)
        clock = format_time(value, "HH:mm", locale=locale)
        if shape == "time":
            return clock
        day = format_skeleton(_TIME_SHAPES.get(shape, "yMMMd"), value, locale=locale)
        return day if shape in ("date", "day") else f"{day} {clock}"
    if shape in ("date", "day"):
        return format_skeleton(_TIME_SHAPES[shape], value, locale=locale)
    return format_date(value, "long", locale=locale)


def page(request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any) -> Template:
    """Render a page with what every template needs: language, the user, their roles."""
    lang = lang_of(request)
    user = request.scope.get("user")
    return Template(
        template_name=template,
        context={
            "lang": lang,
            "user": user,
            "user_roles": roles_of(user.grants) if user else [],
            "role_label": lambda r: role_label(r, lang),
            **context,
        },
        status_code=status_code,
    )


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing tool."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class LoginForm(msgspec.Struct):
    username: str = ""
    password: str = ""
    next: FromQuery[str] = ""


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: FromQuery[str] = "") -> Template:
    return page(request, "auth/login.html", next=_safe_next(next), error=None, username="")


@post("/login", include_in_schema=False)
async def login_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[LoginForm],
) -> Response[Any]:
    s = request.app.state.settings
    try:
        if not data.username or not data.password or len(data.username) > 64 or len(data.password) > 200:
            raise DomainError("invalid_credentials")
        token, _ = await sign_in(request, data.username, data.password)
    except DomainError as err:
        if err.status >= 500:
            raise
        lang = lang_of(request)
        return page(
            request,
            "auth/login.html",
            status_code=err.status,
            next=_safe_next(data.next),
            error=err.message(lang),
            username=data.username[:64],
        )
    response: Response[Any] = Redirect(path=_safe_next(data.next))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=s.session_ttl_seconds,
        httponly=True,
        secure=s.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@post("/logout", include_in_schema=False)
async def logout_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await accounts.logout(request.app.state.kv, token)
    response: Response[Any] = Redirect(path="/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/lang/{code:str}", include_in_schema=False)
async def switch_language(
    request: Request[Any, Any, Any], code: FromPath[str], next: FromQuery[str] = "/"
) -> Response[Any]:
    response: Response[Any] = Redirect(path=_safe_next(next))
    if code in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=False, samesite="lax", path="/")
    return response


# What each role does, in the order a person would look for it. Later issues add links.
ROLE_LINKS: dict[str, list[tuple[str, str]]] = {
    ADMIN: [
        ("/admin/sites", "Sites"),
        ("/admin/users", "Users"),
        ("/admin/tokens", "Device tokens"),
        ("/admin/audit", "Audit log"),
        ("/elders", "Elders"),
        ("/elders/import", "Import elders"),
        ("/policies", "Subsidy policies"),
        ("/cards/print", "Print member cards"),
    ],
    OFFICIAL: [
        ("/official/today", "Meals today"),
        ("/official/alerts", "Alerts"),
        ("/care/civil", "Civil-affairs list"),  # care:civil
        ("/care/refund-tasks", "Refund tasks"),  # care:civil
        ("/care/expiring", "Evidence expiring soon"),  # care:civil
        ("/care/coverage", "Visit coverage"),
        ("/official/dashboard", "District dashboard"),
        ("/accounting/viability", "Viability"),
        ("/quality/complaints", "Complaints"),
        ("/accounting/settlements", "Settlements"),
        ("/admin/sites", "Sites"),
        ("/elders", "Elders"),
        ("/elders/import", "Import elders"),
        ("/policies", "Subsidy policies"),
        ("/cards/print", "Print member cards"),
    ],
    CITY_OFFICIAL: [
        ("/official/city", "City overview of my city"),
        ("/accounting/settlements", "Settlements"),
    ],
    OPERATOR: [
        ("/admin/sites", "Sites"),
        ("/counter", "Counter"),
        ("/accounting/costs", "Monthly costs"),
        ("/quality/complaints", "Complaints"),
        ("/accounting/settlements", "Settlements"),
    ],
    CASHIER: [("/counter", "Counter")],
    KITCHEN: [("/kitchen", "Production plan")],
    COURIER: [("/courier", "My rounds")],
    # The community's elders (their registry pages); visits and pauses add their pages here.
    COMMUNITY_WORKER: [
        ("/elders", "Elders"),
        ("/elders/new", "Register an elder"),
        ("/care/plan", "Visit plan"),
        ("/care/expiring", "Evidence expiring soon"),  # care:civil
    ],
    VOLUNTEER: [("/care/plan", "Visit plan"), ("/care/hours", "My visit hours")],
}


@get("/", guards=[login_required], include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Template:
    principal = principal_of(request)
    sections = [(r, ROLE_LINKS.get(r, [])) for r in roles_of(principal.grants)]
    return page(request, "home.html", sections=sections)


PAGES = [login_page, login_submit, logout_submit, switch_language, home]
