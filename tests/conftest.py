"""Test lanes and fixtures.

Lane: SQLite by default (a temp file per xdist worker); PostgreSQL + Redis when
CANTEEN_TEST_DATABASE_URL / CANTEEN_TEST_REDIS_URL are set (each worker gets its
own database and Redis db number). The schema is built from the migrations once
per session; every test starts from empty tables.

The app runs on the test client's portal thread with its own event loop, and an
asyncpg pool belongs to one loop: while a client is open, run database code
through ``run`` (the client's portal), never with a bare ``await`` in the test.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse, urlunparse

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_N = int(WORKER[2:]) if WORKER[2:].isdigit() else 0
PG_URL = os.environ.get("CANTEEN_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("CANTEEN_TEST_REDIS_URL") or None
LANE = "postgres" if PG_URL else "sqlite"

if PG_URL:
    parsed = urlparse(PG_URL)
    DB_NAME = f"{parsed.path.lstrip('/') or 'test'}_canteen_{WORKER}"
    DATABASE_URL = urlunparse(parsed._replace(path="/" + DB_NAME))
else:
    _tmp = Path(tempfile.mkdtemp(prefix=f"canteen-test-{WORKER}-"))
    DATABASE_URL = f"sqlite:///{_tmp / 'test.sqlite3'}"

# The engine is chosen when piccolo_conf is first imported: set the lane before any canteen import.
os.environ["CANTEEN_DATABASE_URL"] = DATABASE_URL
os.environ["CANTEEN_ENV"] = "test"
os.environ.setdefault("CANTEEN_LOG_LEVEL", "WARNING")
# Every test app runs the queue's worker (on PostgreSQL too), so queued work ends within the test;
# tests/integration/jobs/test_worker_process.py runs `canteen worker` as a process of its own.
os.environ["CANTEEN_JOBS_WORKER"] = "in-process"
os.environ["CANTEEN_JOBS_SCHEDULE"] = "false"  # no cron by the wall clock inside a test
if REDIS_URL:
    ru = urlparse(REDIS_URL)
    os.environ["CANTEEN_REDIS_URL"] = urlunparse(ru._replace(path=f"/{1 + WORKER_N % 15}"))
else:
    os.environ.pop("CANTEEN_REDIS_URL", None)

T = TypeVar("T")


def _create_pg_database() -> None:
    import asyncpg

    async def go() -> None:
        assert PG_URL is not None
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            await conn.close()

    asyncio.run(go())


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"canteen lane: {LANE} ({'redis' if REDIS_URL else 'memory stores'})"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="PostgreSQL lane only (set CANTEEN_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords and not PG_URL:
            item.add_marker(skip_pg)


@pytest.fixture(scope="session", autouse=True)
def schema() -> Iterator[None]:
    if PG_URL:
        _create_pg_database()
    from canteen.core.migrate import migrate

    asyncio.run(migrate())
    yield


def _table_names() -> list[str]:
    from piccolo.conf.apps import Finder

    return [t._meta.tablename for t in Finder().get_table_classes()]


async def _truncate() -> None:
    from canteen.core.db import engine

    db = engine()
    names = _table_names()
    if PG_URL:
        await db.run_ddl("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
        # The queue's own tables (procrastinate): no test's jobs reach the next test's worker.
        await db.run_ddl(
            "DO $$ BEGIN IF to_regclass('procrastinate_jobs') IS NOT NULL THEN "
            "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers, procrastinate_workers CASCADE; "
            "END IF; END $$"
        )
    else:
        await db.run_ddl("PRAGMA foreign_keys = OFF")
        for n in names:
            await db.run_ddl(f'DELETE FROM "{n}"')  # noqa: S608 - our own table names


async def _flush_redis() -> None:
    url = os.environ.get("CANTEEN_REDIS_URL")
    if not url:
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(autouse=True)
def clean_state(schema: None) -> Iterator[None]:
    asyncio.run(_truncate())
    asyncio.run(_flush_redis())
    # Per-process caches of database rows must not outlive the rows.
    from canteen.core.cache import clear_all

    clear_all()
    yield


@pytest.fixture
def settings() -> Any:
    from canteen.settings import Settings

    return Settings.from_env()


@pytest.fixture
def app(settings: Any) -> Any:
    from canteen.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from litestar.testing import TestClient

    with TestClient(app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def run(client: Any) -> Callable[[Callable[[], Awaitable[T]]], T]:
    """Run database code on the app's event loop: ``run(lambda: service(...))``."""

    def call(fn: Callable[[], Awaitable[T]]) -> T:
        async def wrapper() -> T:
            return await fn()

        return client.blocking_portal.call(wrapper)

    return call


@pytest.fixture
def world(run: Callable[..., Any]) -> Any:
    """Two districts, their sites and one user per role and scope (see tests/factories.py)."""
    from tests.factories import make_world

    return run(make_world)


@pytest.fixture
def login(client: Any) -> Callable[[str], dict[str, str]]:
    """Sign a user in through the API and return bearer headers."""
    from tests.factories import PASSWORD

    def do(username: str, password: str = PASSWORD) -> dict[str, str]:
        r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return do


@pytest.fixture
def finish_job(client: Any) -> Callable[..., dict[str, Any]]:
    """Follow a 202 (queued work) to its end: ``finish_job(response, headers)`` polls
    ``GET /api/v1/jobs/{id}`` until the run is done or failed and returns its JSON."""
    import time

    def do(response: Any, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = client.get(f"/api/v1/jobs/{run_id}", headers=headers).json()
            if body.get("status") in ("done", "failed"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {run_id} did not finish in {timeout} s: {body}")

    return do
