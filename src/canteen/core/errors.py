"""Domain errors with stable machine-readable codes.

Every refusal the service can give is registered once, with its HTTP status,
by the domain that raises it. Its words live in the gettext catalogs under the
msgid ``error.<code>`` (src/canteen/locales/*/LC_MESSAGES/messages.po), so
translators edit one place per language. Handlers never invent codes: they raise
``DomainError("code", detail=...)`` and the one exception handler in
``canteen.web.errors`` renders it as ``{code, message, detail}`` JSON or a page.
The registry is also what the OpenAPI schema lists for each route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canteen.i18n import gettext


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int

    @property
    def msgid(self) -> str:
        """The catalog key of this code's message."""
        return error_msgid(self.code)

    def message(self, lang: str = "zh-CN") -> str:
        """This code's message in ``lang``, from the gettext catalog."""
        return gettext(lang, self.msgid)


ERRORS: dict[str, ErrorSpec] = {}


def error_msgid(code: str) -> str:
    return f"error.{code}"


def register(code: str, status: int) -> ErrorSpec:
    """Register a stable error code; registering the same code twice must agree.

    The message is not given here: add ``msgid "error.<code>"`` to both catalogs.
    """
    spec = ErrorSpec(code, status)
    existing = ERRORS.get(code)
    if existing is not None and existing != spec:
        raise ValueError(f"error code {code!r} registered twice with different statuses")
    ERRORS[code] = spec
    return spec


class DomainError(Exception):
    """A refusal with a stable code. ``detail`` is JSON-safe context for the caller."""

    def __init__(self, code: str, detail: dict[str, Any] | None = None, *, message: str | None = None):
        if code not in ERRORS:
            raise KeyError(f"unregistered error code {code!r}")
        self.code = code
        self.detail = detail or {}
        self._message = message
        super().__init__(code)

    @property
    def spec(self) -> ErrorSpec:
        return ERRORS[self.code]

    @property
    def status(self) -> int:
        return self.spec.status

    @property
    def has_message(self) -> bool:
        """Whether the raiser worded this refusal itself (``message=``)."""
        return bool(self._message)

    def message(self, lang: str = "zh-CN") -> str:
        if self._message:
            return self._message
        return self.spec.message(lang)


# Generic codes used by the framework layer and every domain.
register("invalid_body", 400)
register("validation_failed", 422)
register("not_authenticated", 401)
register("forbidden", 403)
register("csrf_failed", 403)
register("not_found", 404)
register("method_not_allowed", 405)
register("conflict", 409)
register("duplicate", 409)
register("idempotency_key_reused", 422)
register("idempotency_key_missing", 400)
register("idempotency_key_invalid", 400)
register("body_too_large", 413)
register("unsupported_media_type", 415)
register("too_many_attempts", 429)
register("service_unavailable", 503)
register("internal_error", 500)
