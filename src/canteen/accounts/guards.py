"""Route guards: who may reach a handler at all. Object scope (which site, which district)
is checked again in the service, where the object is known.

The guards are ``async def`` although they do no I/O: Litestar runs a plain ``def`` guard in
a worker thread (``anyio.to_thread``) on every request, a thread hop that cost the counter more
than the check itself; a coroutine runs inline on the event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from canteen.accounts.roles import Principal
from canteen.core.errors import DomainError

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def _refuse_anonymous(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    auth = connection.scope.get("auth")
    if isinstance(auth, tuple) and auth[0] == "cookie-no-csrf":
        raise DomainError("csrf_failed")
    raise DomainError("not_authenticated")


async def login_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not isinstance(connection.scope.get("user"), Principal):
        _refuse_anonymous(connection)


def roles(*allowed: str) -> Guard:
    """Allow principals holding any of ``allowed`` (admin always passes)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal):
            _refuse_anonymous(connection)
            return
        if not user.has_role(*allowed):
            raise DomainError("forbidden", {"needs_role": list(allowed)})

    guard.__name__ = "roles_" + "_".join(allowed)
    return guard
