"""Staff accounts: users, grants, login with rate limits, sessions and device tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from canteen.accounts import sessions
from canteen.accounts.passwords import (
    check_policy,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from canteen.accounts.roles import (
    ADMIN,
    CITY_OFFICIAL,
    COMMUNITY_ROLES,
    OFFICIAL,
    ROLES,
    SITE_ROLES,
    Grant,
    Principal,
)
from canteen.accounts.tables import ApiToken, RoleGrant, StaffUser
from canteen.core import audit
from canteen.core.audit import Actor
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.kv import KV
from canteen.core.ratelimit import Attempt, Limit, Limiter, progressive
from canteen.regions.tables import City, Community, District, Site

register("invalid_credentials", 401)
register("account_disabled", 403)
register("unknown_role", 422)
register("grant_scope_invalid", 422)
register("username_taken", 409)
register("token_revoked", 401)

TOKEN_PREFIX = "cnt_"  # noqa: S105 - a public prefix that marks device tokens, not a secret


class UserView(msgspec.Struct):
    id: int
    username: str
    display_name: str
    active: bool
    roles: list[str]
    grants: list[dict[str, int | str | None]]


class TokenView(msgspec.Struct):
    id: int
    name: str
    prefix: str
    user_id: int
    username: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# One round trip per request: the user, their grants, each granted site's and community's district.
# "user" is a reserved word in PostgreSQL, hence the quotes (SQLite accepts them too).
_PRINCIPAL_SQL = (
    "SELECT u.id AS id, u.username AS username, u.display_name AS display_name, u.active AS active, "
    "u.auth_version AS auth_version, g.role AS role, g.district AS district, g.site AS site, "
    "s.district AS site_district, g.city AS city, cd.id AS city_district, "
    "g.community AS community, cm.district AS community_district{extra} "
    'FROM {source} LEFT JOIN role_grant g ON g."user" = u.id LEFT JOIN site s ON s.id = g.site '
    "LEFT JOIN district cd ON cd.city_id = g.city LEFT JOIN community cm ON cm.id = g.community "
    "WHERE {where}"
)
_BY_USER = _PRINCIPAL_SQL.format(extra="", source="staff_user u", where="u.id = {}")
_BY_TOKEN = _PRINCIPAL_SQL.format(
    extra=", t.id AS token_id, t.revoked_at IS NULL AS live",
    source='api_token t JOIN staff_user u ON u.id = t."user"',
    where="t.token_hash = {}",
)


def _principal(rows: list[dict[str, Any]], *, via_token: bool) -> Principal | None:
    if not rows or not rows[0]["active"]:
        return None
    user = rows[0]
    # A city grant comes once per district of the city (the join): one Grant, the districts apart.
    grants = tuple(
        dict.fromkeys(
            Grant(r["role"], r["district"], r["site"], r["city"], r["community"])
            for r in rows
            if r["role"] is not None
        )
    )
    city_districts: dict[int, set[int]] = {}
    for r in rows:
        if r["city"] is not None:
            districts = city_districts.setdefault(int(r["city"]), set())
            if r["city_district"] is not None:
                districts.add(int(r["city_district"]))
    return Principal(
        user_id=int(user["id"]),
        username=user["username"],
        display_name=user["display_name"] or user["username"],
        grants=grants,
        auth_version=int(user["auth_version"]),
        via_token=via_token,
        site_districts={int(r["site"]): int(r["site_district"]) for r in rows if r["site"] is not None},
        city_districts={c: frozenset(d) for c, d in city_districts.items()},
        community_districts={
            int(r["community"]): int(r["community_district"])
            for r in rows
            if r["community"] is not None and r["community_district"] is not None
        },
    )


async def load_principal(user_id: int, *, via_token: bool = False) -> Principal | None:
    """The user with their grants, or None if missing or disabled."""
    return _principal(await StaffUser.raw(_BY_USER, user_id), via_token=via_token)


@dataclass(frozen=True, slots=True)
class SignInLimits:
    """A sign-in's limits: a progressive lockout per account, one limit per client address."""

    per_account: tuple[Limit, ...]
    per_address: Limit

    @classmethod
    def of(cls, name: str, *, max_per_account: int, max_per_address: int, window: int) -> SignInLimits:
        return cls(
            progressive(f"{name}:account", max_per_account, window),
            Limit(f"{name}:address", max_per_address, window),
        )

    async def attempt(self, limiter: Limiter, account: str, address: str) -> Attempt:
        """Count one attempt (before the secret is checked); a success gives it back."""
        # The address first: attempts its limit refuses do not count against the account, so one
        # abusive client cannot lock an account out for the day.
        accounts = [(limit, account) for limit in self.per_account]
        return await limiter.attempt([(self.per_address, address), *accounts], clear_on_success=accounts)

    async def unlock(self, limiter: Limiter, account: str) -> bool:
        """Forget the account's failures; True if it was locked."""
        was = await limiter.locked(self.per_account, account)
        for limit in self.per_account:
            await limiter.clear(limit, account)
        return was


def staff_login_limits(*, max_per_user: int, max_per_ip: int, window: int) -> SignInLimits:
    return SignInLimits.of("login", max_per_account=max_per_user, max_per_address=max_per_ip, window=window)


async def login(
    kv: KV,
    limiter: Limiter,
    username: str,
    password: str,
    *,
    ip: str,
    ttl: int,
    limits: SignInLimits,
) -> tuple[str, Principal]:
    """Check the password and open a server-side session.

    The attempt is counted per username and per client address before the password is
    checked (atomic increment-then-check), so a burst of guesses cannot all be evaluated;
    a success gives the attempt back and clears the username's failures."""
    attempt = await limits.attempt(limiter, username.lower(), ip)
    row = (
        await StaffUser.select(StaffUser.id, StaffUser.password_hash, StaffUser.active)
        .where(StaffUser.username == username)
        .first()
    )
    if not await verify_password_async(row["password_hash"] if row else None, password):
        raise DomainError("invalid_credentials")
    assert row is not None
    if not row["active"]:
        raise DomainError("account_disabled")
    if needs_rehash(row["password_hash"]):
        await StaffUser.update({StaffUser.password_hash: await hash_password_async(password)}).where(
            StaffUser.id == row["id"]
        )
    await attempt.succeeded()
    principal = await load_principal(row["id"])
    assert principal is not None
    token = await open_session(kv, principal, ttl=ttl)
    return token, principal


async def unlock_user(
    actor: Actor, limiter: Limiter, user_id: int, limits: SignInLimits, *, now: dt.datetime | None = None
) -> bool:
    """An admin lifts a staff account's sign-in lockout (audited); True if it was locked."""
    row = await StaffUser.select(StaffUser.username).where(StaffUser.id == user_id).first()
    if row is None:
        raise DomainError("not_found", {"user_id": user_id})
    was_locked = await limits.unlock(limiter, str(row["username"]).lower())
    async with write_transaction():
        await audit.record(
            actor, "user.unlock", "staff_user", user_id, after={"was_locked": was_locked}, now=now
        )
    return was_locked


async def open_session(kv: KV, principal: Principal, *, ttl: int) -> str:
    """A new session for ``principal``: stored in the database, cached in Redis (accounts.sessions)."""
    return await sessions.open_session(kv, principal, ttl=ttl)


async def resolve_session(kv: KV, token: str) -> Principal | None:
    """The principal behind a session token; stale sessions (password or grants changed) end.
    Works while Redis is away: the database holds the session."""
    return await sessions.resolve_session(kv, token)


async def logout(kv: KV, token: str) -> None:
    await sessions.logout(kv, token)


# When each device token was last recorded as used, per process: a scanner's every request
# must not write (on SQLite a write takes the database lock), so use is recorded once a minute.
_LAST_USE_WRITTEN: dict[int, float] = {}


async def resolve_api_token(token: str, *, now: dt.datetime | None = None) -> Principal | None:
    """The principal a device token acts as (one round trip), or None if unknown.
    A revoked token is refused with ``token_revoked`` (401), so the device can say why."""
    rows = await ApiToken.raw(_BY_TOKEN, _digest(token))
    if not rows:
        return None
    if not rows[0]["live"]:
        raise DomainError("token_revoked")
    token_id = int(rows[0]["token_id"])
    clock = time.monotonic()
    if clock - _LAST_USE_WRITTEN.get(token_id, -1e9) > 60:
        _LAST_USE_WRITTEN[token_id] = clock
        await ApiToken.update({ApiToken.last_used_at: now or utcnow()}).where(ApiToken.id == token_id)
    return _principal(rows, via_token=True)


def _check_grant(grant: Grant) -> None:
    if grant.role not in ROLES:
        raise DomainError("unknown_role", {"role": grant.role})
    city = grant.city_id is not None
    # A community grant names its community only: its district follows from the community.
    community = grant.community_id is not None
    ok = not community and (
        (grant.role == ADMIN and grant.district_id is None and grant.site_id is None and not city)
        or (grant.role == OFFICIAL and grant.district_id is not None and grant.site_id is None and not city)
        or (grant.role == CITY_OFFICIAL and city and grant.district_id is None and grant.site_id is None)
        or (grant.role in SITE_ROLES and grant.site_id is not None and grant.district_id is None and not city)
    )
    ok = ok or (
        grant.role in COMMUNITY_ROLES
        and community
        and grant.district_id is None
        and grant.site_id is None
        and not city
    )
    if not ok:
        raise DomainError("grant_scope_invalid", {"role": grant.role})


async def _check_grant_targets(grant: Grant) -> None:
    if grant.district_id is not None and not await District.exists().where(District.id == grant.district_id):
        raise DomainError("not_found", {"district_id": grant.district_id})
    if grant.site_id is not None and not await Site.exists().where(Site.id == grant.site_id):
        raise DomainError("not_found", {"site_id": grant.site_id})
    if grant.city_id is not None and not await City.exists().where(City.id == grant.city_id):
        raise DomainError("not_found", {"city_id": grant.city_id})
    if grant.community_id is not None and not await Community.exists().where(
        Community.id == grant.community_id
    ):
        raise DomainError("not_found", {"community_id": grant.community_id})


async def create_user(
    actor: Actor,
    *,
    username: str,
    password: str,
    display_name: str = "",
    grants: list[Grant],
    enforce_policy: bool = True,
    now: dt.datetime | None = None,
) -> int:
    """Create a staff user with grants. The demo loader passes enforce_policy=False for 'demo'."""
    if enforce_policy:
        check_policy(password, username)
    for g in grants:
        _check_grant(g)
        await _check_grant_targets(g)
    now = now or utcnow()
    password_hash = await hash_password_async(password)  # slow on purpose: off the loop, outside the lock
    try:
        async with write_transaction():
            rows = await StaffUser.insert(
                StaffUser(
                    username=username,
                    display_name=display_name,
                    password_hash=password_hash,
                    created_at=now,
                    password_changed_at=now,
                )
            ).returning(StaffUser.id)
            user_id = rows[0]["id"]
            for g in grants:
                await RoleGrant.insert(_row(user_id, g))
            await audit.record(
                actor,
                "user.create",
                "staff_user",
                user_id,
                after={"username": username, "grants": [msgspec.to_builtins(_g(g)) for g in grants]},
                now=now,
            )
    except UniqueViolation as exc:
        raise DomainError("username_taken", {"username": username}) from exc
    return user_id


class _GrantStruct(msgspec.Struct, omit_defaults=True):
    role: str
    district_id: int | None
    site_id: int | None
    city_id: int | None = None
    community_id: int | None = None


def _g(g: Grant) -> _GrantStruct:
    return _GrantStruct(g.role, g.district_id, g.site_id, g.city_id, g.community_id)


def _row(user_id: int, g: Grant) -> RoleGrant:
    return RoleGrant(
        user=user_id,
        role=g.role,
        district=g.district_id,
        site=g.site_id,
        city=g.city_id,
        community=g.community_id,
    )


async def user_id_by_name(username: str) -> int:
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
    if row is None:
        raise DomainError("not_found", {"username": username})
    return int(row["id"])


async def set_password(
    actor: Actor, user_id: int, password: str, *, enforce_policy: bool = True, now: dt.datetime | None = None
) -> None:
    """Reset a password; every open session of that user ends (auth_version bump)."""
    row = await StaffUser.select(StaffUser.username).where(StaffUser.id == user_id).first()
    if row is None:
        raise DomainError("not_found", {"user_id": user_id})
    if enforce_policy:
        check_policy(password, row["username"])
    now = now or utcnow()
    password_hash = await hash_password_async(password)  # slow on purpose: off the loop, outside the lock
    async with write_transaction():
        await StaffUser.update(
            {
                StaffUser.password_hash: password_hash,
                StaffUser.password_changed_at: now,
                StaffUser.auth_version: StaffUser.auth_version + 1,
            }
        ).where(StaffUser.id == user_id)
        await audit.record(actor, "user.password_reset", "staff_user", user_id, now=now)


async def set_grants(
    actor: Actor, user_id: int, grants: list[Grant], *, now: dt.datetime | None = None
) -> None:
    """Replace a user's grants; their sessions end so the new scope applies at once."""
    for g in grants:
        _check_grant(g)
        await _check_grant_targets(g)
    before = await RoleGrant.select(
        RoleGrant.role, RoleGrant.district, RoleGrant.site, RoleGrant.city, RoleGrant.community
    ).where(RoleGrant.user == user_id)
    async with write_transaction():
        if not await StaffUser.exists().where(StaffUser.id == user_id):
            raise DomainError("not_found", {"user_id": user_id})
        await RoleGrant.delete().where(RoleGrant.user == user_id)
        for g in grants:
            await RoleGrant.insert(_row(user_id, g))
        await StaffUser.update({StaffUser.auth_version: StaffUser.auth_version + 1}).where(
            StaffUser.id == user_id
        )
        await audit.record(
            actor,
            "user.grants",
            "staff_user",
            user_id,
            before=before,
            after=[msgspec.to_builtins(_g(g)) for g in grants],
            now=now,
        )


async def set_active(actor: Actor, user_id: int, active: bool, *, now: dt.datetime | None = None) -> None:
    async with write_transaction():
        n = (
            await StaffUser.update(
                {StaffUser.active: active, StaffUser.auth_version: StaffUser.auth_version + 1}
            )
            .where(StaffUser.id == user_id)
            .returning(StaffUser.id)
        )
        if not n:
            raise DomainError("not_found", {"user_id": user_id})
        await audit.record(actor, "user.active", "staff_user", user_id, after={"active": active}, now=now)


async def list_users() -> list[UserView]:
    users = await StaffUser.select(
        StaffUser.id, StaffUser.username, StaffUser.display_name, StaffUser.active
    ).order_by(StaffUser.username)
    grants = await RoleGrant.select(
        RoleGrant.user,
        RoleGrant.role,
        RoleGrant.district,
        RoleGrant.site,
        RoleGrant.city,
        RoleGrant.community,
    )
    by_user: dict[int, list[dict[str, int | str | None]]] = {}
    for g in grants:
        scope: dict[str, int | str | None] = {
            "role": g["role"],
            "district_id": g["district"],
            "site_id": g["site"],
        }
        if g["city"] is not None:
            scope["city_id"] = g["city"]
        if g["community"] is not None:
            scope["community_id"] = g["community"]
        by_user.setdefault(g["user"], []).append(scope)
    order = list(ROLES)
    return [
        UserView(
            id=u["id"],
            username=u["username"],
            display_name=u["display_name"],
            active=u["active"],
            roles=sorted({str(g["role"]) for g in by_user.get(u["id"], [])}, key=order.index),
            grants=by_user.get(u["id"], []),
        )
        for u in users
    ]


async def create_api_token(
    actor: Actor, *, user_id: int, name: str, now: dt.datetime | None = None
) -> tuple[str, int]:
    """Issue a device token for a user (the token acts with that user's grants). Shown once."""
    if not await StaffUser.exists().where(StaffUser.id == user_id):
        raise DomainError("not_found", {"user_id": user_id})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = now or utcnow()
    async with write_transaction():
        rows = await ApiToken.insert(
            ApiToken(
                user=user_id,
                name=name,
                prefix=token[:10],
                token_hash=_digest(token),
                created_at=now,
                created_by=actor.user_id,
            )
        ).returning(ApiToken.id)
        token_id = int(rows[0]["id"])
        await audit.record(
            actor, "token.create", "api_token", token_id, after={"name": name, "user_id": user_id}
        )
    return token, token_id


async def revoke_api_token(actor: Actor, token_id: int, *, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    async with write_transaction():
        row = await ApiToken.select(ApiToken.revoked_at).where(ApiToken.id == token_id).first()
        if row is None:
            raise DomainError("not_found", {"token_id": token_id})
        if row["revoked_at"] is None:
            await ApiToken.update({ApiToken.revoked_at: now}).where(ApiToken.id == token_id)
            await audit.record(actor, "token.revoke", "api_token", token_id, now=now)


async def list_api_tokens() -> list[TokenView]:
    rows = await ApiToken.select(
        ApiToken.id,
        ApiToken.name,
        ApiToken.prefix,
        ApiToken.user,
        ApiToken.user.username.as_alias("username"),
        ApiToken.created_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
    ).order_by(ApiToken.id, ascending=False)
    return [
        TokenView(
            id=r["id"],
            name=r["name"],
            prefix=r["prefix"],
            user_id=r["user"],
            username=r["username"],
            created_at=r["created_at"],
            revoked_at=r["revoked_at"],
            last_used_at=r["last_used_at"],
        )
        for r in rows
    ]
