"""Truthful logs: the access log records the status actually sent, and every response carries
``x-request-id`` — errors raised in middleware (a CSRF 403, a 503) and before routing included.
Also: the CSRF exclusion of the JSON API matches only paths that start with /api/."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from canteen.core.errors import DomainError
from canteen.web.errors import EXCEPTION_HANDLERS
from canteen.web.middleware import JsonFormatter, wrap_outermost
from tests.integration.accounts.test_auth import _page_login


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access() -> Iterator[_Lines]:
    """The JSON access-log lines, as the deployment writes them (canteen.* does not propagate)."""
    handler = _Lines()
    logger = logging.getLogger("canteen.access")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _logged(access: _Lines, path: str) -> dict[str, Any]:
    found = [line for line in access.lines if line.get("path") == path]
    assert found, access.lines
    return found[-1]


def test_a_csrf_refusal_in_middleware_is_logged_as_403_with_a_request_id(
    client: Any, world: Any, access: _Lines
) -> None:
    client.get("/login")
    r = client.post(
        "/login", data={"username": "admin", "password": "x"}, headers={"x-request-id": "rid-csrf-0001"}
    )
    assert r.status_code == 403 and "csrf_failed" in r.text
    assert r.headers["x-request-id"] == "rid-csrf-0001"
    line = _logged(access, "/login")
    assert line["status"] == 403 and line["request_id"] == "rid-csrf-0001" and line["method"] == "POST"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_refusal_before_routing_carries_a_request_id(client: Any, access: _Lines) -> None:
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.headers.get("x-request-id")
    line = _logged(access, "/api/v1/no-such-thing")
    assert line["status"] == 404 and line["request_id"] == r.headers["x-request-id"]


def test_a_503_raised_in_middleware_is_logged_as_503_with_a_request_id(access: _Lines) -> None:
    """The app's own wiring (wrap_outermost + the error handlers) around a middleware that finds
    a dependency away, the way authentication does when the database cannot be reached."""

    def unavailable(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            raise DomainError("service_unavailable", {"reason": "database"})

        return middleware

    @get("/api/v1/probe", sync_to_thread=False)
    def probe() -> dict[str, str]:
        return {"ok": "yes"}

    app = wrap_outermost(
        Litestar([probe], middleware=[unavailable], exception_handlers=EXCEPTION_HANDLERS, debug=False)
    )
    with TestClient(app) as c:
        r = c.get("/api/v1/probe")
    assert r.status_code == 503 and r.json()["code"] == "service_unavailable"
    assert r.headers.get("retry-after") and r.headers.get("x-request-id")
    line = _logged(access, "/api/v1/probe")
    assert line["status"] == 503 and line["request_id"] == r.headers["x-request-id"]


def test_the_csrf_exclusion_matches_only_paths_starting_with_api(client: Any, world: Any) -> None:
    """'/api/' inside a page's path (here a path parameter) must not switch CSRF off."""
    _page_login(client, "admin")
    r = client.post("/elders/import/api/check", data={"mapping": "{}"}, follow_redirects=False)
    assert r.status_code == 403 and "csrf_failed" in r.text
    # The JSON API itself is still excluded (it has its own double-submit check for cookies).
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password-1"})
    assert r.status_code == 401
