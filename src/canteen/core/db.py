"""Database engine, write transactions and the one place engine errors are translated.

Piccolo keeps the current transaction in a ContextVar, so a transaction must
be opened and closed inside one task: services open it (``write_transaction``),
never Litestar dependencies. SQLite writes take the lock up front (IMMEDIATE)
so concurrent writers queue on the busy timeout instead of failing to upgrade
a read lock; PostgreSQL relies on row locks and constraints.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from piccolo.columns.base import Column
from piccolo.columns.combination import WhereRaw
from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from canteen.core.errors import DomainError, register

# A statement that would bind more parameters than the PostgreSQL protocol allows (32,767):
# a list of ids passed as one parameter each. Our code binds id lists as one array
# (``any_of``); if one slips through, the caller gets this code, not "database unavailable".
register("too_many_ids", 413)

try:  # asyncpg is a hard dependency, but keep the import local to this module.
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None


def make_engine(database_url: str) -> Engine[Any]:
    """Build the Piccolo engine for a ``sqlite:///`` or ``postgresql://`` URL."""
    parsed = urlparse(database_url)
    if parsed.scheme == "sqlite":
        path = Path(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # 30 s busy timeout: a lunch rush queues writers, it must not fail them.
        return SQLiteEngine(path=str(path), timeout=30)
    config: dict[str, Any] = {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "database": parsed.path.lstrip("/"),
    }
    if parsed.password:
        config["password"] = unquote(parsed.password)
    # Fail fast instead of hanging when the server is away (a restart, a failover).
    config["timeout"] = 5
    config["command_timeout"] = 30
    return PostgresEngine(config=config, extensions=())


def engine() -> Engine[Any]:
    """The engine every table uses (from piccolo_conf, chosen by settings)."""
    found = engine_finder()
    assert found is not None, "piccolo_conf did not define DB"
    return found


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """Open (or join) a write transaction, translating integrity errors on the way out."""
    db = engine()
    try:
        if isinstance(db, SQLiteEngine):
            async with db.transaction(transaction_type=TransactionType.immediate):
                yield
        else:
            async with db.transaction():
                yield
    except Exception as exc:
        translated = translate_db_error(exc)
        if translated is None:
            raise
        raise translated from exc


@asynccontextmanager
async def read_snapshot() -> AsyncIterator[None]:
    """A read-only transaction so several queries see one snapshot."""
    async with engine().transaction():
        yield


class UniqueViolation(Exception):
    """A unique constraint refused a row; ``constraint`` names the index or columns."""

    def __init__(self, constraint: str):
        self.constraint = constraint
        super().__init__(constraint)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def unique_violation(exc: BaseException) -> UniqueViolation | None:
    """Recognise a duplicate-key error from either engine, or return None."""
    if isinstance(exc, UniqueViolation):
        return exc
    if asyncpg is not None and isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return UniqueViolation(getattr(exc, "constraint_name", None) or str(exc))
    if isinstance(exc, sqlite3.IntegrityError):
        m = _SQLITE_UNIQUE.search(str(exc))
        if m:
            return UniqueViolation(m.group(1))
    return None


def is_unavailable(exc: BaseException) -> bool:
    """True when the database cannot be reached right now (restart, failover, pool closed)."""
    if asyncpg is not None and isinstance(
        exc,
        asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.PostgresConnectionError  # SQLSTATE class 08: connection exceptions
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.CrashShutdownError
        | asyncpg.exceptions.InterfaceError
        # A server that goes away mid-query leaves the connection's protocol half-way
        # ("cannot switch to state 15; another operation is in progress"): seen by the
        # fault suite when PostgreSQL restarts under load. The pool drops that connection.
        | asyncpg.exceptions.InternalClientError
        | asyncpg.exceptions.TooManyConnectionsError,
    ):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno is not None and "connect" in str(exc).lower()


_TOO_MANY_ARGS = re.compile(r"number of query arguments cannot exceed|too many SQL variables")


def too_many_parameters(exc: BaseException) -> bool:
    """asyncpg's refusal of a statement with more than 32,767 bind parameters (an
    ``InterfaceError``, the class ``is_unavailable`` would otherwise read as an outage), or
    SQLite's "too many SQL variables"."""
    return bool(_TOO_MANY_ARGS.search(str(exc))) and (
        (asyncpg is not None and isinstance(exc, asyncpg.exceptions.InterfaceError))
        or isinstance(exc, sqlite3.OperationalError)
    )


def translate_db_error(exc: BaseException) -> BaseException | None:
    """Map engine errors to what callers handle: UniqueViolation, ``too_many_ids`` (413) or a
    503 DomainError."""
    if isinstance(exc, DomainError | UniqueViolation):
        return None
    uv = unique_violation(exc)
    if uv is not None:
        return uv
    if too_many_parameters(exc):
        return DomainError("too_many_ids", {"reason": "parameters"})
    if is_unavailable(exc):
        return DomainError("service_unavailable", {"reason": "database"})
    return None


def any_of(column: Column, values: Sequence[int | str]) -> WhereRaw:
    """``column IN values`` bound as ONE parameter, however long the list: ``= ANY($1::int[])``
    on PostgreSQL (whose protocol caps a statement at 32,767 parameters, which ``is_in`` binds
    one per value), ``IN (SELECT value FROM json_each(?))`` on SQLite. Values are all ints or
    all strings. An empty list matches nothing."""
    name = column._meta.get_full_name(with_alias=False)
    items = list(values)
    text = bool(items) and isinstance(items[0], str)
    if is_sqlite():
        return WhereRaw(f"{name} IN (SELECT value FROM json_each({{}}))", json.dumps(items))  # noqa: S608
    return WhereRaw(f"{name} = ANY({{}}::{'text' if text else 'bigint'}[])", items)


async def ping() -> None:
    """One round trip to the database."""
    await engine().run_ddl("SELECT 1")


async def configure_sqlite() -> None:
    """WAL lets readers carry on while one writer holds the lock; persistent per file."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        await db.run_ddl("PRAGMA journal_mode=WAL")


async def _keep_session(_connection: Any) -> None:
    """The pool's reset on release, without its round trip.

    asyncpg's default reset sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: one more round trip per request. Canteen sets no session
    state (no SET, LISTEN, advisory locks or held cursors outside a transaction), and asyncpg
    still rolls back a transaction left open before calling this, so there is nothing to reset.
    """


async def open_pool(min_size: int, max_size: int) -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.start_connection_pool(min_size=min_size, max_size=max_size, reset=_keep_session)


async def close_pool() -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.close_connection_pool()


def ddl_step(*statements: str) -> Any:
    """A migration step running raw DDL that both engines accept (see NOTES: composite
    unique and partial indexes must be raw on SQLite). Piccolo runs raw steps before
    the table changes of the same migration, so put them in a migration of their own."""

    async def run() -> None:
        db = engine()
        for sql in statements:
            await db.run_ddl(sql)

    return run
