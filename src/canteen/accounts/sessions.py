"""Staff sessions: stored in the database (``staff_session``), cached in Redis.

A Redis restart used to sign every cashier out (sessions lived only there), and while
Redis was down every session request was a 503, the counter page included. Now the
database row is the truth and Redis a read-through cache: a cache miss, a cold Redis
or an unreachable one falls back to the row, so nobody is signed out and the counter
keeps working while Redis is away.

The cached copy lives at most ``CACHE_TTL`` seconds. Every request still loads the user
and their grants from the database (``load_principal``), so disabling a user or changing
their password or grants ends their sessions at once. Only a sign-out made while Redis
is unreachable can leave a cached copy behind, and only for ``CACHE_TTL`` after Redis
returns (if it returns with its data; a restarted Redis is empty).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import msgspec

from canteen.accounts.roles import Principal
from canteen.accounts.tables import StaffSession
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.kv import KV, cache_delete, cache_get, cache_set

SESSION_PREFIX = "session:"
CACHE_TTL = 60


class _Cached(msgspec.Struct):
    user_id: int
    auth_version: int
    expires_at: float  # POSIX seconds


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(kv: KV, principal: Principal, *, ttl: int, now: dt.datetime | None = None) -> str:
    """A new session token for ``principal``, valid ``ttl`` seconds; stored hashed."""
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=ttl)
    async with write_transaction():
        # Housekeeping on sign-in (rare, and already a write): expired sessions go.
        await StaffSession.delete().where(StaffSession.expires_at < now)
        await StaffSession.insert(
            StaffSession(
                token_hash=digest,
                user=principal.user_id,
                auth_version=principal.auth_version,
                created_at=now,
                expires_at=expires,
            )
        )
    cached = _Cached(principal.user_id, principal.auth_version, expires.timestamp())
    await cache_set(kv, SESSION_PREFIX + digest, msgspec.json.encode(cached), min(CACHE_TTL, ttl))
    return token


async def _end(kv: KV, digest: str) -> None:
    await StaffSession.delete().where(StaffSession.token_hash == digest)
    await cache_delete(kv, SESSION_PREFIX + digest)


async def resolve_session(kv: KV, token: str, *, now: dt.datetime | None = None) -> Principal | None:
    """The principal behind a session token, or None (unknown, expired, or stale because the
    user's password or grants changed, or the user was disabled: such a session ends)."""
    # Imported here: services imports this module for its session functions.
    from canteen.accounts.services import load_principal

    digest = _digest(token)
    stamp = (now or utcnow()).timestamp()
    raw = await cache_get(kv, SESSION_PREFIX + digest)
    cached = msgspec.json.decode(raw, type=_Cached) if raw is not None else None
    if cached is None:
        row = (
            await StaffSession.select(StaffSession.user, StaffSession.auth_version, StaffSession.expires_at)
            .where(StaffSession.token_hash == digest)
            .first()
        )
        if row is None:
            return None
        cached = _Cached(int(row["user"]), int(row["auth_version"]), row["expires_at"].timestamp())
        remaining = int(cached.expires_at - stamp)
        if remaining > 0:
            await cache_set(
                kv, SESSION_PREFIX + digest, msgspec.json.encode(cached), min(CACHE_TTL, remaining)
            )
    if cached.expires_at <= stamp:
        return None  # the row goes at the next sign-in's housekeeping
    principal = await load_principal(cached.user_id)
    if principal is None or principal.auth_version != cached.auth_version:
        await _end(kv, digest)
        return None
    return principal


async def logout(kv: KV, token: str) -> None:
    """End a session: the row first (the truth), then the cached copy."""
    await _end(kv, _digest(token))
