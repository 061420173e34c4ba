"""Browser fixtures: a real server (uvicorn on a loopback port, in a thread) and headless Chromium.

The server runs ``create_app()`` against the test database the root conftest prepared. It is
started per test, after the root ``clean_state`` emptied the tables, and stopped before the
next one: its lifespan opens the connection pool on the server thread's event loop, and on
PostgreSQL an asyncpg pool belongs to that one loop. Database work a test needs while the
server runs goes through ``live_server.run(...)``, which executes on the server's loop.
The browser is started once per module (the expensive part); each test gets a fresh context.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    loop: asyncio.AbstractEventLoop

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run database code on the server's event loop (its pool lives there)."""

        async def wrapper() -> T:
            return await fn()

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return future.result(timeout=60)


def _in_thread(fn: Callable[[], Awaitable[Any]]) -> None:
    """``asyncio.run`` on a thread of its own: Playwright's sync API keeps a loop running here."""
    failure: list[BaseException] = []

    def go() -> None:
        try:
            asyncio.run(fn())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    t = threading.Thread(target=go)
    t.start()
    t.join()
    if failure:
        raise failure[0]


@pytest.fixture(autouse=True)
def clean_state(schema: None) -> Iterator[None]:
    """The root fixture, but off the main thread (see ``_in_thread``)."""
    from canteen.core.cache import clear_all
    from tests.conftest import _flush_redis, _truncate

    _in_thread(_truncate)
    _in_thread(_flush_redis)
    clear_all()
    yield


@pytest.fixture
def live_server(clean_state: None) -> Iterator[LiveServer]:
    with serving() as server:
        yield server


@contextmanager
def serving() -> Iterator[LiveServer]:
    """``create_app()`` under uvicorn on a free loopback port, in a thread, until the block ends.

    ``live_server`` runs one per test; a module that loads heavy data once (the crawler) holds
    one for the whole module.
    """
    import uvicorn

    from canteen.app import create_app
    from canteen.settings import Settings

    app = create_app(Settings.from_env())
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, name="canteen-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", loop=loop)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if not thread.is_alive():
            loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A 1024×768 tablet page on the live server (Chinese by default, like the counters)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1024, "height": 768}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()


def axe_violations(page: Any, context: str = "document") -> list[dict[str, Any]]:
    """Run axe-core on the page (or a CSS selector) and return its violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Served by the app from node_modules (/static/vendor), so the page's CSP (script-src
        # 'self') stays on: an inline copy would need bypass_csp and hide our own violations.
        page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    target = "document" if context == "document" else f"document.querySelector({context!r})"
    result: list[dict[str, Any]] = page.evaluate(
        f"async () => (await axe.run({target}, {{resultTypes: ['violations']}})).violations"
    )
    return result


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [n.get("target") for n in v.get("nodes", [])][:5]
        lines.append(f"  [{v.get('impact')}] {v.get('id')}: {v.get('help')} → {targets}")
    return "\n".join(lines) or "  (none)"
