"""Idempotency for money-moving writes: a retry with the same key returns the first answer.

The record is written in the same transaction as the effect it stands for, and
(scope, key) is unique in the database, so two racing retries cannot both
write: the loser's transaction rolls back and it returns the winner's answer.
Refusals (DomainError) are not stored; a retry is judged afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError
from canteen.core.tables import IdempotencyRecord

_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY.match(key):
        raise DomainError("idempotency_key_invalid", {"hint": "8–128 characters of A–Z a–z 0–9 . _ : -"})
    return key


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(payload, order="sorted")).hexdigest()


class Outcome(msgspec.Struct):
    status_code: int
    body: Any
    replayed: bool = False


async def _stored(scope: str, key: str, fp: str) -> Outcome | None:
    row = (
        await IdempotencyRecord.select(
            IdempotencyRecord.fingerprint, IdempotencyRecord.status_code, IdempotencyRecord.response
        )
        .where((IdempotencyRecord.scope == scope) & (IdempotencyRecord.key == key))
        .first()
        .output(load_json=True)
    )
    if row is None:
        return None
    if row["fingerprint"] != fp:
        raise DomainError("idempotency_key_reused")
    return Outcome(row["status_code"], row["response"], replayed=True)


async def run_once(
    scope: str,
    key: str | None,
    request: Any,
    effect: Callable[[], Awaitable[tuple[int, Any]]],
    *,
    now: dt.datetime | None = None,
) -> Outcome:
    """Run ``effect`` once per (scope, key); ``request`` is fingerprinted to catch key reuse."""
    fp = fingerprint(request)
    if key is None:
        async with write_transaction():
            status, body = await effect()
        return Outcome(status, body)
    try:
        async with write_transaction():
            # Checked inside the transaction only: on SQLite the IMMEDIATE transaction serialises
            # writers, and on PostgreSQL the unique (scope, key) index stops a racing twin.
            found = await _stored(scope, key, fp)
            if found is not None:
                return found
            status, body = await effect()
            await IdempotencyRecord.insert(
                IdempotencyRecord(
                    scope=scope,
                    key=key,
                    fingerprint=fp,
                    status_code=status,
                    response=msgspec.to_builtins(body),
                    created_at=now or utcnow(),
                )
            )
    except UniqueViolation:
        found = await _stored(scope, key, fp)
        if found is None:
            raise
        return found
    return Outcome(status, body)


def require_key(key: str | None) -> str:
    """Money-moving routes require the header: a retry must never charge twice."""
    if key is None or not key.strip():
        raise DomainError("idempotency_key_missing")
    checked = check_key(key.strip())
    assert checked is not None
    return checked
