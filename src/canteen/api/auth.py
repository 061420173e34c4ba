"""Sign in and out over JSON; staff users and device tokens (admin)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import JSONBody

from canteen.accounts import services as accounts
from canteen.accounts.context import limiter_of, principal_of, sign_in, staff_limits
from canteen.accounts.guards import login_required, roles
from canteen.accounts.roles import ADMIN, OFFICIAL, Grant, roles_of
from canteen.core.apidocs import errors
from canteen.core.schemas import Id, Input, Name, Password, PathId, Username
from canteen.registry import pin_lockout


class LoginIn(Input):
    username: Username
    password: Password


class UserBrief(msgspec.Struct):
    username: str
    roles: list[str]


class LoginOut(msgspec.Struct):
    token: str
    user: UserBrief


class GrantIn(Input):
    """One role in one scope: ``admin`` (none), ``official`` (``district_id``), ``city_official``
    (``city_id``), site roles (``site_id``), ``community_worker`` and ``volunteer``
    (``community_id``)."""

    role: Annotated[str, msgspec.Meta(max_length=16)]
    district_id: Id | None = None
    site_id: Id | None = None
    city_id: Id | None = None
    community_id: Id | None = None


class UserCreate(Input):
    username: Username
    password: Password
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    grants: Annotated[list[GrantIn], msgspec.Meta(max_length=20)] = []


class PasswordIn(Input):
    password: Password


class GrantsIn(Input):
    grants: Annotated[list[GrantIn], msgspec.Meta(max_length=20)]


class TokenCreate(Input):
    user_id: Id
    name: Name


class TokenCreated(msgspec.Struct):
    id: int
    token: str
    note: str = "Shown once; store it in the device now."


class Unlocked(msgspec.Struct):
    was_locked: bool


class Me(msgspec.Struct):
    id: int
    username: str
    display_name: str
    roles: list[str]
    via_token: bool


def _grants(items: list[GrantIn]) -> list[Grant]:
    return [Grant(g.role, g.district_id, g.site_id, g.city_id, g.community_id) for g in items]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/login",
        summary="Sign in; returns a bearer session token",
        responses=errors(
            "invalid_credentials",
            "account_disabled",
            "too_many_attempts",
            "service_unavailable",
            common=False,
        )
        | errors("invalid_body", "validation_failed", common=False),
    )
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginIn]) -> LoginOut:
        token, principal = await sign_in(request, data.username, data.password)
        return LoginOut(token, UserBrief(principal.username, roles_of(principal.grants)))

    @post(
        "/logout",
        status_code=204,
        guards=[login_required],
        summary="End this session server-side",
        responses=errors(),
    )
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        auth = request.scope.get("auth")
        if isinstance(auth, tuple) and not str(auth[1]).startswith(accounts.TOKEN_PREFIX):
            await accounts.logout(request.app.state.kv, auth[1])

    @get("/me", guards=[login_required], summary="Who am I", responses=errors())
    async def me(self, request: Request[Any, Any, Any]) -> Me:
        p = principal_of(request)
        return Me(p.user_id, p.username, p.display_name, roles_of(p.grants), p.via_token)


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["admin"]
    guards = [roles(ADMIN)]

    @get("/", summary="List staff users", responses=errors())
    async def list_users(self) -> list[accounts.UserView]:
        return await accounts.list_users()

    @post(
        "/",
        summary="Create a staff user with grants",
        responses=errors(
            "username_taken", "password_too_weak", "unknown_role", "grant_scope_invalid", "not_found"
        ),
    )
    async def create_user(
        self, request: Request[Any, Any, Any], data: JSONBody[UserCreate]
    ) -> dict[str, int]:
        uid = await accounts.create_user(
            principal_of(request),
            username=data.username,
            password=data.password,
            display_name=data.display_name[:100],
            grants=_grants(data.grants),
        )
        return {"id": uid}

    @post(
        "/{user_id:int}/password",
        status_code=204,
        summary="Reset a password (ends the user's sessions)",
        responses=errors("not_found", "password_too_weak"),
    )
    async def reset_password(
        self, request: Request[Any, Any, Any], user_id: PathId, data: JSONBody[PasswordIn]
    ) -> None:
        await accounts.set_password(principal_of(request), user_id, data.password)

    @put(
        "/{user_id:int}/grants",
        status_code=204,
        summary="Replace a user's role grants",
        responses=errors("not_found", "unknown_role", "grant_scope_invalid"),
    )
    async def set_grants(
        self, request: Request[Any, Any, Any], user_id: PathId, data: JSONBody[GrantsIn]
    ) -> None:
        await accounts.set_grants(principal_of(request), user_id, _grants(data.grants))

    @post(
        "/{user_id:int}/unlock",
        status_code=200,
        summary="Lift a staff account's sign-in lockout (audited)",
        responses=errors("not_found"),
    )
    async def unlock(self, request: Request[Any, Any, Any], user_id: PathId) -> Unlocked:
        was_locked = await accounts.unlock_user(
            principal_of(request), limiter_of(request), user_id, staff_limits(request)
        )
        return Unlocked(was_locked)


class ElderPinController(Controller):
    """Lifting an elder's PIN lockout: the lockout lives in the registry (canteen.registry.pin_lockout);
    the route sits with the other sign-in routes."""

    path = "/api/v1/elders"
    tags = ["admin"]
    guards = [roles(ADMIN, OFFICIAL)]

    @post(
        "/{elder_id:int}/pin/unlock",
        status_code=200,
        summary="Lift an elder's PIN lockout (an admin, or an official of the elder's district; audited)",
        responses=errors("not_found"),
    )
    async def unlock_pin(self, request: Request[Any, Any, Any], elder_id: PathId) -> Unlocked:
        return Unlocked(await pin_lockout.unlock(principal_of(request), elder_id))


class TokensController(Controller):
    path = "/api/v1/tokens"
    tags = ["admin"]
    guards = [roles(ADMIN)]

    @get("/", summary="List device API tokens (never the secrets)", responses=errors())
    async def list_tokens(self) -> list[accounts.TokenView]:
        return await accounts.list_api_tokens()

    @post(
        "/",
        summary="Create a device token acting as a user; the secret is shown once",
        responses=errors("not_found"),
    )
    async def create_token(
        self, request: Request[Any, Any, Any], data: JSONBody[TokenCreate]
    ) -> TokenCreated:
        token, token_id = await accounts.create_api_token(
            principal_of(request), user_id=data.user_id, name=data.name
        )
        return TokenCreated(token_id, token)

    @post(
        "/{token_id:int}/revoke",
        status_code=204,
        summary="Revoke a device token",
        responses=errors("not_found"),
    )
    async def revoke(self, request: Request[Any, Any, Any], token_id: PathId) -> None:
        await accounts.revoke_api_token(principal_of(request), token_id)
