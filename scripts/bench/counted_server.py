"""Serve Canteen or the floor in ONE uvicorn process with every database and Redis round trip counted.

Used by ``checkin.py`` for "round trips per check-in" because pg_stat_statements needs
``shared_preload_libraries`` (a PostgreSQL restart) on the shared server. The count is taken at
asyncpg's and redis-py's client level, where each call below is one round trip:

* ``Connection.execute(sql)`` without arguments: a simple query (BEGIN, COMMIT, the pool's reset
  on release, ...);
* ``Connection._execute`` / ``_executemany``: one Bind/Execute of a prepared statement (behind
  ``fetch``, ``fetchrow``, ``fetchval``, ``execute(sql, *args)``, Piccolo's queries);
* a Parse/Describe when ``_get_statement`` had to prepare a statement it had not cached;
* ``Redis.execute_command`` (one command) and ``Pipeline.execute`` (one pipeline).

The wrapper also answers ``GET /__bench__/counts`` (JSON: the counters, the answered requests by
status and the statements by text) and ``POST /__bench__/reset``, and never reaches the app for
those two paths. It is not used for the timed rounds: the counting costs a little per call.

    python scripts/bench/counted_server.py canteen|floor PORT
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

counts: Counter[str] = Counter()
statements: Counter[str] = Counter()
statuses: Counter[str] = Counter()
refusals: list[str] = []  # the first few non-2xx answers, for the report


def _label(sql: str) -> str:
    """A statement's text on one line, literals as they come (Piccolo inlines few), cut short."""
    text = re.sub(r"\s+", " ", sql).strip()
    return text if len(text) <= 160 else text[:157] + "..."


def _kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    if "pg_advisory_unlock_all" in sql or "RESET ALL" in sql:
        return "pool reset"
    return head


def patch_asyncpg() -> None:
    from asyncpg.connection import Connection

    execute, _execute, _executemany = Connection.execute, Connection._execute, Connection._executemany
    _get_statement = Connection._get_statement

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # the simple-query protocol: one round trip, no prepare
            counts["pg round trips"] += 1
            counts[f"pg {_kind(query)}"] += 1
            statements[_label(query)] += 1
        return await execute(self, query, *args, **kw)

    async def counted__execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        counts["pg round trips"] += 1
        counts[f"pg {_kind(query)}"] += 1
        statements[_label(query)] += 1
        return await _execute(self, query, *args, **kw)

    async def counted__executemany(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        counts["pg round trips"] += 1
        counts[f"pg {_kind(query)} (many)"] += 1
        statements[_label(query)] += 1
        return await _executemany(self, query, *args, **kw)

    async def counted__get_statement(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        record_class = kw.get("record_class") or self._protocol.get_record_class()
        key = (query, record_class, kw.get("ignore_custom_codec", False))
        if not (kw.get("use_cache", True) and self._stmt_cache.get(key) is not None):
            counts["pg round trips"] += 1
            counts["pg prepare (statement not cached)"] += 1
        return await _get_statement(self, query, *args, **kw)

    Connection.execute = counted_execute
    Connection._execute = counted__execute
    Connection._executemany = counted__executemany
    Connection._get_statement = counted__get_statement


def patch_redis() -> None:
    try:
        from redis.asyncio.client import Pipeline, Redis
    except ImportError:  # the floor's venv always has it; keep the floor runnable without
        return

    command, pipeline = Redis.execute_command, Pipeline.execute

    async def counted_command(self: Any, *args: Any, **kw: Any) -> Any:
        counts["redis round trips"] += 1
        counts[f"redis {str(args[0]).upper() if args else '?'}"] += 1
        return await command(self, *args, **kw)

    async def counted_pipeline(self: Any, *args: Any, **kw: Any) -> Any:
        counts["redis round trips"] += 1
        counts[f"redis pipeline of {len(self.command_stack)}"] += 1
        return await pipeline(self, *args, **kw)

    Redis.execute_command = counted_command  # type: ignore[method-assign]
    Pipeline.execute = counted_pipeline  # type: ignore[method-assign]


def wrap(app: App) -> App:
    async def bench_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/__bench__/"):
            if scope["path"] == "/__bench__/reset":
                counts.clear()
                statements.clear()
                statuses.clear()
                refusals.clear()
            body = json.dumps(
                {
                    "counts": counts,
                    "statuses": statuses,
                    "refusals": refusals,
                    "statements": statements.most_common(40),
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http" or scope["path"] == "/readyz":
            await app(scope, receive, send)
            return

        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                statuses[str(status)] += 1
            elif message["type"] == "http.response.body" and not 200 <= status < 300 and len(refusals) < 5:
                refusals.append(f"{status} {message.get('body', b'')[:160].decode(errors='replace')}")
            await send(message)

        await app(scope, receive, send_counted)

    return bench_app


def canteen() -> App:
    from canteen.app import create_app

    return wrap(create_app())


def floor() -> App:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import baseline_app

    return wrap(baseline_app.app)


def main() -> None:
    import uvicorn

    target, port = sys.argv[1], int(sys.argv[2])
    patch_asyncpg()
    patch_redis()
    # The app object itself, not an import string: this module is __main__, and importing it
    # again by name would give the wrapper a second, empty set of counters.
    app = canteen() if target == "canteen" else floor()
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
