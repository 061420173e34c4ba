"""The one place errors become responses: JSON ``{code, message, detail}`` for the API,
a page (or a redirect to sign in) for people. Never a bare 500 for bad input."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, wants_json
from canteen.core.context import request_id_var
from canteen.core.db import UniqueViolation, is_unavailable, translate_db_error
from canteen.core.errors import DomainError
from canteen.core.kv import redis_unavailable
from canteen.i18n import DEFAULT_LANG, gettext
from canteen.web.elder import elder_error_page
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


# The library's (msgspec's) English wording of a validation failure, and what it means in
# words: (pattern, catalog msgid of the reason). Checked in order; the first match wins.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"unknown field `(?P<field>[^`]*)`", "validation.reason.unknown_field"),
        (r"missing required field `(?P<field>[^`]*)`", "validation.reason.missing"),
        (r"Expected `str` of length >= (?P<limit>\d+)", "validation.reason.min_length"),
        (r"Expected `str` of length <= (?P<limit>\d+)", "validation.reason.max_length"),
        (r"Expected `(?:array|object)` of length >= (?P<limit>\d+)", "validation.reason.min_items"),
        (r"Expected `(?:array|object)` of length <= (?P<limit>\d+)", "validation.reason.max_items"),
        (r"Expected `[^`]*` >= (?P<limit>-?[\d.]+)", "validation.reason.min"),
        (r"Expected `[^`]*` <= (?P<limit>-?[\d.]+)", "validation.reason.max"),
        (r"Expected `[^`]*` > (?P<limit>-?[\d.]+)", "validation.reason.above"),
        (r"Expected `[^`]*` < (?P<limit>-?[\d.]+)", "validation.reason.below"),
        (
            r"matching regex|Invalid (?:RFC ?3339|ISO ?8601|date|time|datetime|uuid)",
            "validation.reason.format",
        ),
        (r"Invalid enum value", "validation.reason.choice"),
        (r"Expected `(?P<kind>[a-z]+)", "validation.reason.type"),
    )
)
_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)|\[(?P<index>\d+)\]")


def _field_words(path: str, lang: str) -> str:
    """``slots[0].start`` in words: each name from the catalog (``field.<name>``), positions from 1."""
    words: list[str] = []
    for m in _SEGMENT.finditer(path):
        if m.group("index") is not None and words:
            words[-1] = gettext(lang, "validation.item", field=words[-1], n=int(m.group("index")) + 1)
        elif m.group("name"):
            name = m.group("name").strip()
            label = gettext(lang, f"field.{name}")
            words.append(name if label == f"field.{name}" else label)
    return gettext(lang, "validation.path_sep").join(words) or path


def _reason(text: str, lang: str) -> tuple[str, str | None]:
    """(the problem in words, the field it names when the library names one in its text)."""
    for pattern, msgid in _REASONS:
        m = pattern.search(text)
        if m is None:
            continue
        groups = m.groupdict()
        if msgid == "validation.reason.type":
            kind = gettext(lang, f"validation.kind.{groups['kind']}")
            if kind.startswith("validation.kind."):
                break
            return gettext(lang, msgid, kind=kind), None
        return gettext(lang, msgid, limit=groups.get("limit", "")), groups.get("field")
    return gettext(lang, "validation.reason.other"), None


def reason_words(library_text: str, lang: str) -> str:
    """What is wrong, in ``lang``, from the library's English wording of one failure."""
    return _reason(library_text, lang)[0]


def validation_message(errors: Any, lang: str) -> tuple[str | None, str | None]:
    """The caller's-language message for a validation failure, naming the (first) field;
    (None, None) when the library gave nothing to go on. Also returns the field path."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    first = errors[0]
    key = str(first.get("key") or "")
    reason, named = _reason(str(first.get("message") or ""), lang)
    path = named or key
    if not path or path == "data":
        return gettext(lang, "validation.body_invalid", reason=reason), None
    if named and key and key != "data":
        path = f"{key}.{named}"
    return gettext(lang, "validation.field_invalid", field=_field_words(path, lang), reason=reason), path


_REASON_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def error_message(err: DomainError, lang: str) -> str:
    """The words of a refusal in ``lang``. A ``validation_failed`` raised by our own code with a
    ``field`` in its detail names that field and, when its ``reason`` is a catalog key
    (``validation.reason.<reason>``, which may name an ``other`` field), what is wrong — the
    same sentence as a validation failure the library found."""
    detail = err.detail
    field = detail.get("field")
    if err.code != "validation_failed" or err.has_message or not isinstance(field, str) or not field:
        return err.message(lang)
    reason_key = detail.get("reason")
    reason = gettext(lang, "validation.reason.other")
    if isinstance(reason_key, str) and _REASON_KEY.match(reason_key):
        msgid = f"validation.reason.{reason_key}"
        other = detail.get("other")
        worded = gettext(lang, msgid, other=_field_words(other, lang) if isinstance(other, str) else "")
        if worded != msgid:
            reason = worded
    return gettext(lang, "validation.field_invalid", field=_field_words(field, lang), reason=reason)


def _from_http(exc: HTTPException, lang: str = DEFAULT_LANG) -> DomainError:
    detail: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        text = str(exc.detail or "")
        if exc.extra:
            detail["errors"] = exc.extra
        if "malformed" in text.lower() or ("json" in text.lower() and not exc.extra):
            return DomainError("invalid_body", detail)
        message, field = validation_message(exc.extra, lang)
        if field:
            detail["field"] = field
        return DomainError("validation_failed", detail, message=message)
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
        body = {"code": err.code, "message": error_message(err, lang), "detail": err.detail}
        return Response(body, status_code=err.status, media_type=MediaType.JSON, headers=headers)
    if request.url.path == "/elder" or request.url.path.startswith("/elder/"):
        # The elder's pages keep their own words and way back (the elder sign-in, never the
        # staff login; no codes): an expired form, an unknown id, anything refused there.
        shown = elder_error_page(request, err)
        shown.headers.update(headers)
        return shown
    if err.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/login?next={quote(target)}", headers=headers)
    return Template(
        template_name="error.html",
        context={"error": err, "message": error_message(err, lang), "request_id": request_id_var.get()},
        status_code=err.status,
        headers=headers,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _render(request, exc)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _render(request, _from_http(exc, lang_of(request)))


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
