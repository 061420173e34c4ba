"""Request helpers shared by page and API handlers: language, client address, the principal, sign-in.

They live in accounts, not in web/, so a domain's api.py, web/ and api/ can all use them without
importing each other (see the layers in .importlinter)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from litestar.connection import ASGIConnection

from canteen import i18n
from canteen.accounts import services as accounts
from canteen.accounts.roles import Principal
from canteen.core import ratelimit
from canteen.core.errors import DomainError
from canteen.core.ratelimit import Limit, Limiter
from canteen.settings import IPNetwork

log = logging.getLogger("canteen.ratelimit")

LANG_COOKIE = "canteen_lang"
SESSION_COOKIE = "canteen_session"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def lang_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return i18n.pick(connection.headers.get("accept-language"), connection.cookies.get(LANG_COOKIE))


def _address(text: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    return mapped or addr


def _trusted(addr: IPAddress | None, proxies: tuple[IPNetwork, ...]) -> bool:
    return addr is not None and any(addr.version == net.version and addr in net for net in proxies)


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address: the direct peer, unless that peer is one of
    ``CANTEEN_TRUSTED_PROXIES``; then the right-most ``X-Forwarded-For`` hop that is not a
    trusted proxy (each proxy appends the address it was reached from, so hops to the left of
    the first untrusted one are whatever the client wrote). Headers from any other peer,
    loopback included, are ignored: they would let one client count as many."""
    peer = connection.client.host if connection.client else "-"
    settings = getattr(connection.app.state, "settings", None)
    proxies = settings.trusted_proxy_networks if settings is not None else ()
    addr = _address(peer)
    if not _trusted(addr, proxies):
        return str(addr) if addr is not None else peer
    hops = [h.strip() for v in connection.headers.getall("x-forwarded-for", []) for h in v.split(",")]
    client = str(addr)
    for hop in reversed([h for h in hops if h]):
        hop_addr = _address(hop)
        if hop_addr is None:  # not an address: keep the last one a trusted proxy vouched for
            break
        client = str(hop_addr)
        if not _trusted(hop_addr, proxies):
            break
    return client


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise DomainError("not_authenticated")
    return user


def wants_json(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    path = connection.url.path
    if path.startswith(("/api/", "/healthz", "/readyz", "/schema")):
        return True
    accept = connection.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def staff_limits(connection: ASGIConnection[Any, Any, Any, Any]) -> accounts.SignInLimits:
    """This deployment's staff sign-in limits (CANTEEN_LOGIN_*)."""
    s = connection.app.state.settings
    return accounts.staff_login_limits(
        max_per_user=s.login_max_failures_per_user,
        max_per_ip=s.login_max_failures_per_ip,
        window=s.login_window_seconds,
    )


def limiter_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Limiter:
    """The app's one rate limiter (canteen.core.ratelimit)."""
    limiter = connection.app.state.limiter
    assert isinstance(limiter, Limiter)
    return limiter


async def sign_in(
    connection: ASGIConnection[Any, Any, Any, Any], username: str, password: str
) -> tuple[str, Principal]:
    """Check a staff password with this deployment's limits; a new session token and the principal."""
    return await accounts.login(
        connection.app.state.kv,
        limiter_of(connection),
        username,
        password,
        ip=client_ip(connection),
        ttl=connection.app.state.settings.session_ttl_seconds,
        limits=staff_limits(connection),
    )


async def count_request(
    connection: ASGIConnection[Any, Any, Any, Any],
    per_account: Limit,
    per_address: Limit,
    *,
    fail_open: bool = False,
) -> None:
    """Count this request against a volume limit per signed-in account and per client address
    (``too_many_attempts`` when either is spent).

    When the limiter's store is away the answer is 503 — unless ``fail_open``: the counter's
    card-number look-ups are made by a signed-in cashier in a lunch queue, and the database stays
    the referee of every subsidy, so there a Redis outage must not stop service; the request
    passes uncounted and the outage is logged (sign-in limits always fail closed)."""
    user = connection.scope.get("user")
    account = f"user:{user.user_id}" if isinstance(user, Principal) else "anonymous"
    hits = [(per_account, account), (per_address, client_ip(connection))]
    try:
        await limiter_of(connection).attempt(hits)
    except DomainError as err:
        if not (fail_open and err.code == "service_unavailable"):
            raise
        log.warning(
            "rate limiter store unreachable: %s passed uncounted",
            per_account.name.split(":")[0],
            extra={"code": "ratelimit_fail_open"},
        )


async def count_typed_lookup(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """A typed card number or a name search at the counter names an elder without the card in
    hand: counted per account and per address against the ``card_lookup`` limits (a scanned,
    signed token is not). Fails open while the limiter's store is away, so a Redis outage never
    stops a lunch queue (see ``count_request``)."""
    await count_request(
        connection, ratelimit.CARD_LOOKUP_PER_ACCOUNT, ratelimit.CARD_LOOKUP_PER_ADDRESS, fail_open=True
    )
