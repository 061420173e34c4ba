"""The one place errors become responses: JSON ``{code, message, detail}`` for the API,
a page (or a redirect to sign in) for people. Never a bare 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from canteen.core.context import request_id_var
from canteen.core.db import UniqueViolation, is_unavailable, translate_db_error
from canteen.core.errors import DomainError
from canteen.core.kv import redis_unavailable
from canteen.web.context import lang_of, wants_json
from canteen.web.middleware import SECURITY_HEADERS

log = logging.getLogger("canteen.errors")

try:
    from asyncpg.exceptions import DataError as _PG_DATA_ERROR
except ImportError:  # pragma: no cover - asyncpg is a dependency
    _PG_DATA_ERROR = None

_BY_STATUS = {
    400: "invalid_body",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_attempts",
    503: "service_unavailable",
}


def _from_http(exc: HTTPException) -> DomainError:
    detail: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        text = str(exc.detail or "")
        if exc.extra:
            detail["errors"] = exc.extra
        code = (
            "invalid_body"
            if "malformed" in text.lower() or ("json" in text.lower() and not exc.extra)
            else ("validation_failed")
        )
        return DomainError(code, detail)
    if exc.status_code == 403 and "csrf" in str(exc.detail).lower():
        return DomainError("csrf_failed")
    code = _BY_STATUS.get(exc.status_code, "invalid_body" if exc.status_code < 500 else "internal_error")
    return DomainError(code, detail)


def _render(request: Request[Any, Any, Any], err: DomainError) -> Response[Any]:
    lang = lang_of(request)
    # Refusals raised before any route matched (unknown path, wrong method) skip the route
    # middleware: carry the security headers here too (the middleware never sets one twice).
    headers: dict[str, str] = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
    if err.status in (429, 503):
        headers["Retry-After"] = str(err.detail.get("retry_after_seconds", 5 if err.status == 503 else 60))
    if wants_json(request):
        body = {"code": err.code, "message": err.message(lang), "detail": err.detail}
        return Response(body, status_code=err.status, media_type=MediaType.JSON, headers=headers)
    if err.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/login?next={quote(target)}", headers=headers)
    return Template(
        template_name="error.html",
        context={"error": err, "message": err.message(lang), "request_id": request_id_var.get()},
        status_code=err.status,
        headers=headers,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _render(request, exc)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _render(request, _from_http(exc))


def fallback_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    translated = translate_db_error(exc)
    if isinstance(translated, DomainError):
        return _render(request, translated)
    if isinstance(translated, UniqueViolation) or isinstance(exc, UniqueViolation):
        # A service that did not name its own conflict: still a clear 409, never a 500.
        return _render(request, DomainError("duplicate"))
    if is_unavailable(exc):
        return _render(request, DomainError("service_unavailable"))
    if redis_unavailable(exc):  # e.g. a live-events subscription while Redis is away
        return _render(request, DomainError("service_unavailable", {"reason": "redis"}))
    # Hostile input past a route's bounds (found by fuzzing): an id beyond the database's integer
    # range, or text with lone surrogates that neither the database nor a header can encode.
    if isinstance(exc, OverflowError):
        return _render(request, DomainError("validation_failed", {"reason": "number out of range"}))
    if _PG_DATA_ERROR is not None and isinstance(exc, _PG_DATA_ERROR):
        # PostgreSQL refused a value (an int beyond int4, a NUL byte in text): bad input, not a fault.
        return _render(request, DomainError("validation_failed", {"reason": "value not storable"}))
    if isinstance(exc, UnicodeEncodeError):
        return _render(request, DomainError("invalid_body", {"reason": "text cannot be encoded"}))
    log.exception("unhandled error", extra={"request_id": request_id_var.get()})
    return _render(request, DomainError("internal_error", {"request_id": request_id_var.get()}))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: fallback_handler,
}
