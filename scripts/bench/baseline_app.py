"""The baseline for ``scripts/bench/checkin.py``: a raw ASGI app (no framework) with one
route that does what a check-in must at the least: one asyncpg transaction with a SELECT
of a row and an INSERT of a row.

``POST /checkin`` with ``{"account": <id>}`` → 201 ``{"meal_id": …, "balance_fen": …}``
(404 for an unknown account); ``GET /readyz`` → 200 once the pool is open.
Served by uvicorn (the same server and loop as ``canteen serve``):

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_checkin_floor \\
        python -m uvicorn --app-dir scripts/bench baseline_app:app --workers 2 --port 8766

The tables ``bench_account`` and ``bench_meal`` are created by ``checkin.py`` in a database of
their own, so that ``pg_stat_database`` tells the two servers' work apart. Like Canteen's, its pool
is asyncpg's, which resets a connection on release (one more round trip per request).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_pool: asyncpg.Pool | None = None


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    global _pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/readyz":
        await _respond(send, 200 if _pool is not None else 503, {"ok": _pool is not None})
        return
    if scope["path"] != "/checkin" or scope["method"] != "POST":
        await _respond(send, 404, {"code": "not_found"})
        return
    account = int(json.loads(await _body(receive))["account"])
    assert _pool is not None
    async with _pool.acquire() as conn, conn.transaction():
        balance = await conn.fetchval("SELECT balance_fen FROM bench_account WHERE id = $1", account)
        if balance is None:
            await _respond(send, 404, {"code": "not_found"})
            return
        meal_id = await conn.fetchval(
            "INSERT INTO bench_meal (account, amount_fen) VALUES ($1, $2) RETURNING id", account, 300
        )
    await _respond(send, 201, {"meal_id": meal_id, "balance_fen": balance})
