"""ASGI middleware: request id + access log + security headers, and authentication.

Authentication resolves, once per request, a session cookie (pages) or a
bearer token (API: a session token from /api/v1/auth/login or a device token)
into a Principal in ``scope["user"]`` (None when anonymous). Guards decide.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from canteen.accounts import services as accounts
from canteen.accounts.context import SESSION_COOKIE
from canteen.core.context import client_ip_var, request_id_var

access_log = logging.getLogger("canteen.access")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields come from ``extra``. Never log bodies or query strings."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key in ("method", "path", "status", "ms", "user_id", "code"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else secrets.token_hex(8)
        t_rid = request_id_var.set(rid)
        client = scope.get("client")
        t_ip = client_ip_var.set(client[0] if client else "-")
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                mh = MutableScopeHeaders.from_message(message)
                mh["x-request-id"] = rid
                for key, value in SECURITY_HEADERS:
                    name = key.decode()
                    if name not in mh:
                        mh[name] = value.decode()
                if scope.get("path", "").startswith("/schema"):
                    # Swagger UI's page boots with an inline script; only the API docs get this.
                    mh["content-security-policy"] = CSP.replace(
                        "script-src 'self'", "script-src 'self' 'unsafe-inline'"
                    ).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            user = scope.get("user")
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status[0],
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": getattr(user, "user_id", None),
                },
            )
            request_id_var.reset(t_rid)
            client_ip_var.reset(t_ip)

    return middleware


def wrap_outermost(app: Litestar) -> Litestar:
    """Put the request context (request id, security headers, access log) around the whole
    app, outside Litestar's outermost exception handler.

    As route middleware it sat inside that handler: a response made from an error raised in
    middleware (a CSRF 403, a 503 from authentication) or before routing (404, 405) was sent
    past it, so the access log said 500 and the response had no ``x-request-id``.
    """
    app.asgi_handler = request_context_middleware(app.asgi_handler)
    return app


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    for part in raw.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def auth_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        scope["user"] = None
        scope["auth"] = None
        path = scope.get("path", "")
        if path.startswith(("/static/", "/healthz")):
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        kv = scope["app"].state.kv
        authz = headers.get(b"authorization", b"").decode("latin-1")
        principal = None
        if authz.lower().startswith("bearer "):
            token = authz[7:].strip()
            if token.startswith(accounts.TOKEN_PREFIX):
                principal = await accounts.resolve_api_token(token)
            elif token:
                principal = await accounts.resolve_session(kv, token)
            scope["auth"] = ("bearer", token)
        else:
            token = _cookie(headers, SESSION_COOKIE) or ""
            if token:
                principal = await accounts.resolve_session(kv, token)
                scope["auth"] = ("cookie", token)
                # Pages have Litestar's CSRF middleware; the JSON API is excluded from it, so a
                # cookie-authenticated API write must carry the double-submit header itself.
                if principal and path.startswith("/api/") and scope.get("method") in UNSAFE:
                    header = headers.get(b"x-csrftoken", b"").decode("latin-1")
                    cookie = _cookie(headers, "csrftoken") or ""
                    if not header or not secrets.compare_digest(header, cookie):
                        principal = None
                        scope["auth"] = ("cookie-no-csrf", token)
        scope["user"] = principal
        await app(scope, receive, send)

    return middleware
