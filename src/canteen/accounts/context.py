"""Request helpers shared by page and API handlers: language, client address, the principal, sign-in.

They live in accounts, not in web/, so a domain's api.py, web/ and api/ can all use them without
importing each other (see the layers in .importlinter)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from canteen import i18n
from canteen.accounts import services as accounts
from canteen.accounts.roles import Principal
from canteen.core.errors import DomainError

LANG_COOKIE = "canteen_lang"
SESSION_COOKIE = "canteen_session"


def lang_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return i18n.pick(connection.headers.get("accept-language"), connection.cookies.get(LANG_COOKIE))


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    # Behind a reverse proxy, run uvicorn with --forwarded-allow-ips so client.host is the real address.
    return connection.client.host if connection.client else "-"


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise DomainError("not_authenticated")
    return user


def wants_json(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    path = connection.url.path
    if path.startswith(("/api/", "/healthz", "/readyz", "/schema")):
        return True
    accept = connection.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def sign_in(
    connection: ASGIConnection[Any, Any, Any, Any], username: str, password: str
) -> tuple[str, Principal]:
    """Check a staff password with this deployment's limits; a new session token and the principal."""
    s = connection.app.state.settings
    return await accounts.login(
        connection.app.state.kv,
        username,
        password,
        ip=client_ip(connection),
        ttl=s.session_ttl_seconds,
        max_per_user=s.login_max_failures_per_user,
        max_per_ip=s.login_max_failures_per_ip,
        window=s.login_window_seconds,
    )
