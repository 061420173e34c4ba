"""OpenAPI helpers: every route lists every error code it can give.

In core so every domain's api.py can declare its errors without importing canteen.api."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from canteen.core.errors import ERRORS


class ErrorBody(msgspec.Struct):
    """Every 4xx/5xx body: a stable machine-readable code, a message in the caller's language."""

    code: str
    message: str
    detail: dict[str, Any]


# Codes any authenticated JSON route can give: the framework's own refusals.
COMMON = (
    "not_authenticated",
    "forbidden",
    "csrf_failed",
    "invalid_body",
    "validation_failed",
    "body_too_large",
    "service_unavailable",
)


def errors(*codes: str, common: bool = True) -> dict[int, ResponseSpec]:
    """Responses for these codes, grouped by HTTP status, each listed in the description."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, *(COMMON if common else ())):
        spec = ERRORS[code]
        if code not in by_status.setdefault(spec.status, []):
            by_status[spec.status].append(code)
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description="; ".join(f"`{c}`: {ERRORS[c].message('en')}" for c in codes_),
            examples=None,
        )
        for status, codes_ in sorted(by_status.items())
    }
