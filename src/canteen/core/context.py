"""Per-request context (request id, client address) carried by ContextVars for logs and audit."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("canteen_request_id", default="-")
client_ip_var: ContextVar[str] = ContextVar("canteen_client_ip", default="-")
