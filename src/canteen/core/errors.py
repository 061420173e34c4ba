"""Domain errors with stable machine-readable codes.

Every refusal the service can give is registered here once, with its HTTP
status and a message in zh-CN and en. Handlers never invent codes: they raise
``DomainError("code", detail=...)`` and the one exception handler in
``canteen.web.errors`` renders it as ``{code, message, detail}`` JSON or a page.
The registry is also what the OpenAPI schema lists for each route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int
    zh: str
    en: str


ERRORS: dict[str, ErrorSpec] = {}


def register(code: str, status: int, zh: str, en: str) -> ErrorSpec:
    """Register a stable error code; registering the same code twice must agree."""
    spec = ErrorSpec(code, status, zh, en)
    existing = ERRORS.get(code)
    if existing is not None and existing != spec:
        raise ValueError(f"error code {code!r} registered twice with different texts")
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

    def message(self, lang: str = "zh-CN") -> str:
        if self._message:
            return self._message
        return self.spec.en if lang.startswith("en") else self.spec.zh


# Generic codes used by the framework layer and every domain.
register("invalid_body", 400, "请求内容格式不正确。", "The request body is malformed.")
register(
    "validation_failed",
    422,
    "填写的内容有误，请检查后重试。",
    "Some fields are invalid; please check and retry.",
)
register("not_authenticated", 401, "请先登录。", "Please sign in first.")
register("forbidden", 403, "您没有权限进行此操作。", "You are not allowed to do this.")
register("csrf_failed", 403, "页面已过期，请刷新后重试。", "The form has expired; reload the page and retry.")
register("not_found", 404, "找不到该记录。", "Not found.")
register("method_not_allowed", 405, "不支持该操作方式。", "Method not allowed.")
register("conflict", 409, "记录已被修改，请刷新后重试。", "The record changed meanwhile; reload and retry.")
register("duplicate", 409, "该记录已存在。", "This record already exists.")
register(
    "idempotency_key_reused",
    422,
    "同一请求编号被用于不同的内容。",
    "This Idempotency-Key was already used for a different request.",
)
register(
    "idempotency_key_missing",
    400,
    "缺少请求编号（Idempotency-Key），无法保证只扣一次款。",
    "An Idempotency-Key header is required so this payment happens exactly once.",
)
register(
    "idempotency_key_invalid",
    400,
    "请求编号（Idempotency-Key）格式不正确。",
    "The Idempotency-Key header is malformed.",
)
register("body_too_large", 413, "上传的内容太大。", "The request body is too large.")
register("unsupported_media_type", 415, "不支持该内容类型。", "Unsupported content type.")
register("too_many_attempts", 429, "尝试次数过多，请稍后再试。", "Too many attempts; please wait and retry.")
register(
    "service_unavailable",
    503,
    "服务暂时不可用，请稍后重试。",
    "The service is briefly unavailable; retry shortly.",
)
register(
    "internal_error",
    500,
    "系统出错了，请联系管理员。",
    "Something went wrong; please contact the administrator.",
)
