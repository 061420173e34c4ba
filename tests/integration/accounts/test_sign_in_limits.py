"""Sign-in that cannot be guessed: the one rate limiter and the elder PIN lockout, over real HTTP.

Bursts are real concurrent requests (a thread pool on the test client, as in
tests/integration/checkin/test_counter.py): the counters are incremented before the secret is
checked, so only the configured number of guesses is ever evaluated. The client address is
the direct peer unless that peer is a trusted proxy (``CANTEEN_TRUSTED_PROXIES``); the tests
set the peer address on the test client's transport, which is what a socket would give.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Request
from tests.factories import PASSWORD, World
from tests.integration.cards.elders import add_elder

from canteen.accounts.context import client_ip
from canteen.accounts.passwords import hash_password
from canteen.accounts.services import load_principal, staff_login_limits
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.ratelimit import Limiter
from canteen.core.tables import AuditEntry
from canteen.orders.services import create_family_account, elder_sign_in
from canteen.registry.card_services import issue_card
from canteen.registry.pin_lockout import LOCK_DURATIONS, PIN_MAX_FAILURES
from canteen.registry.tables import Card, Elder
from canteen.settings import Settings, SettingsError

PIN = "2580"
WRONG = "1111"
PROXY = "10.9.0.2"  # the reverse proxy the app trusts in these tests
STRANGER = "203.0.113.7"  # a direct peer that is not a proxy
FAMILY_PHONE = "13912345678"
FAMILY_PASSWORD = "Family-pass-2026"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_ADDRESSES = count(1)


@pytest.fixture
def app(settings: Settings) -> Any:
    from canteen.app import create_app

    # A small per-address limit keeps the address tests short (each attempt is an argon2 check).
    return create_app(
        dataclasses.replace(settings, trusted_proxies=f"{PROXY}, 10.9.1.0/24", login_max_failures_per_ip=6)
    )


@pytest.fixture
def peer(client: Any) -> Iterator[Callable[[str], None]]:
    """Set the address the app sees as the direct peer of the test client's requests."""
    transport = client._transport
    original = transport.parse_request
    current = {"host": "testclient"}

    def parse(request: Any) -> dict[str, Any]:
        scope = original(request)
        scope["client"] = (current["host"], 50000)
        return scope

    transport.parse_request = parse

    def set_peer(host: str) -> None:
        current["host"] = host

    yield set_peer
    transport.parse_request = original


def _xff() -> dict[str, str]:
    """A fresh client address behind the trusted proxy (so only per-account limits apply)."""
    n = next(_ADDRESSES)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


async def _elder(w: World, name: str = "王秀英") -> tuple[int, str]:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    elder = await add_elder(district=w.district_x, community=w.community_x, name=name)
    await Elder.update({Elder.pin_hash: hash_password(PIN)}).where(Elder.id == elder)
    await issue_card(admin, elder, reason="new")
    card = await Card.select(Card.number).where(Card.elder == elder).first()
    assert card is not None
    return elder, str(card["number"])


def _pin(client: Any, number: str, pin: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/elder/sign-in",
        data={"card_number": number, "pin": pin, "_csrf_token": client.cookies.get("csrftoken")},
        headers=headers or {},
        follow_redirects=False,
    )


def _staff(client: Any, username: str, password: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers or {}
    )


def _family(client: Any, phone: str, password: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/elder/family-sign-in",
        data={"phone": phone, "password": password, "_csrf_token": client.cookies.get("csrftoken")},
        headers=headers or {},
        follow_redirects=False,
    )


def _burst(fn: Callable[[int], Any], n: int = 50) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def _pin_row(run: Any, elder: int) -> dict[str, Any]:
    row = run(
        lambda: (
            Elder.select(Elder.pin_failures, Elder.pin_locked_until, Elder.pin_lockouts)
            .where(Elder.id == elder)
            .first()
        )
    )
    assert row is not None
    return dict(row)


def _audit(run: Any, action: str) -> list[dict[str, Any]]:
    return list(run(lambda: AuditEntry.select().where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --- the elder PIN ------------------------------------------------------------------------


def test_fifty_concurrent_wrong_pins_lock_after_the_configured_count(
    client: Any, world: World, run: Any, peer: Any
) -> None:
    elder, number = run(lambda: _elder(world))
    client.get("/elder/sign-in")
    peer(PROXY)  # every guess from another address: only the per-elder lockout can stop them
    started = utcnow()
    responses = _burst(lambda i: _pin(client, number, WRONG, _xff()))
    codes = Counter(r.status_code for r in responses)
    print(f"\n50 concurrent wrong PINs: {dict(codes)}")
    # Only PIN_MAX_FAILURES guesses were ever checked: the first ones say how many tries are
    # left, the one that used the last try locked the PIN, every other was refused unchecked.
    assert codes[401] == PIN_MAX_FAILURES - 1, codes
    assert codes[429] == 50 - (PIN_MAX_FAILURES - 1), codes
    left = sorted(int(m.group(1)) for r in responses if (m := re.search(r"还可以再试(\d+)次", r.text)))
    assert left == list(range(1, PIN_MAX_FAILURES)), left
    row = _pin_row(run, elder)
    assert row["pin_lockouts"] == 1 and row["pin_failures"] == 0
    assert started + LOCK_DURATIONS[0] <= row["pin_locked_until"] <= utcnow() + LOCK_DURATIONS[0]
    # The right PIN during the lockout is refused, and the page says until when, in words.
    right = _pin(client, number, PIN, _xff())
    assert right.status_code == 429 and "canteen_elder" not in right.headers.get("set-cookie", "")
    until = row["pin_locked_until"].astimezone(SHANGHAI)
    assert f"请在 {until:%H:%M} 后再试" in right.text
    assert "+08:00" not in right.text and until.isoformat() not in right.text
    assert _pin_row(run, elder)["pin_lockouts"] == 1  # a refused try is not a new lockout


def test_tries_left_count_down_in_words_then_the_lock_names_a_time(
    client: Any, world: World, run: Any
) -> None:
    _, number = run(lambda: _elder(world))
    client.get("/elder/sign-in")
    for left in range(PIN_MAX_FAILURES - 1, 0, -1):
        r = _pin(client, number, WRONG)
        assert r.status_code == 401 and f"还可以再试{left}次" in r.text
    r = _pin(client, number, WRONG)
    assert r.status_code == 429 and re.search(r"请在 \d\d:\d\d 后再试", r.text), r.text
    assert "还可以再试" not in r.text
    en = _pin(client, number, WRONG, {"Accept-Language": "en"})
    assert en.status_code == 429 and re.search(r"Please try again after \d{1,2}:\d\d", en.text)


def test_an_unknown_card_number_is_answered_like_a_real_one(client: Any, world: World, run: Any) -> None:
    _, number = run(lambda: _elder(world))
    other = number[:-1] + ("A" if number[-1] != "A" else "B")  # a typo: unknown or malformed
    client.get("/elder/sign-in")
    r = _pin(client, other, WRONG)
    assert r.status_code == 401 and f"还可以再试{PIN_MAX_FAILURES - 1}次" in r.text


def test_lockouts_grow_then_a_right_pin_starts_again(world: World, run: Any) -> None:
    elder, number = run(lambda: _elder(world))
    now = utcnow()

    def wrong_until_locked(at: dt.datetime) -> dt.datetime:
        for _ in range(PIN_MAX_FAILURES - 1):
            with pytest.raises(DomainError) as e:
                run(lambda: elder_sign_in(number, WRONG, now=at))
            assert e.value.code == "pin_wrong"
        with pytest.raises(DomainError) as e:
            run(lambda: elder_sign_in(number, WRONG, now=at))
        assert e.value.code == "pin_locked"
        return dt.datetime.fromisoformat(e.value.detail["until"])

    first = wrong_until_locked(now)
    assert first - now == LOCK_DURATIONS[0] and first.utcoffset() == dt.timedelta(hours=8)
    second = wrong_until_locked(first)
    assert second - first == LOCK_DURATIONS[1]
    third = wrong_until_locked(second)
    assert third - second == LOCK_DURATIONS[2]
    with pytest.raises(DomainError) as e:  # the right PIN while locked
        run(lambda: elder_sign_in(number, PIN, now=third - dt.timedelta(minutes=1)))
    assert e.value.code == "pin_locked"
    assert run(lambda: elder_sign_in(number, PIN, now=third)).elder_ids == (elder,)
    assert _pin_row(run, elder) == {"pin_failures": 0, "pin_locked_until": None, "pin_lockouts": 0}
    # A day after the last lockout ended, the next lockout is short again.
    later = third + dt.timedelta(days=3)
    fourth = wrong_until_locked(later)
    assert fourth - later == LOCK_DURATIONS[0]
    after = fourth + dt.timedelta(days=2)
    assert wrong_until_locked(after) - after == LOCK_DURATIONS[0]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([0, 0, 0, 1, 14, 16, 61])),
        min_size=1,
        max_size=8,
    )
)
def test_a_success_never_happens_while_locked(world: World, run: Any, steps: list[tuple[bool, int]]) -> None:
    """Any sequence of right and wrong PINs, minutes apart: the lockout model holds exactly."""
    if id(world) not in _ELDERS:  # one elder for every example of this test
        _ELDERS[id(world)] = run(lambda: _elder(world))
    elder, number = _ELDERS[id(world)]
    run(
        lambda: Elder.update(
            {Elder.pin_failures: 0, Elder.pin_locked_until: None, Elder.pin_lockouts: 0}
        ).where(Elder.id == elder)
    )
    at = utcnow()
    failures, locked_until, lockouts, last_end = 0, None, 0, None
    for right, minutes in steps:
        at += dt.timedelta(minutes=minutes)
        locked = locked_until is not None and at < locked_until
        try:
            who = run(lambda pin=PIN if right else WRONG, at=at: elder_sign_in(number, pin, now=at))
        except DomainError as e:
            assert not (right and not locked), f"right PIN refused while not locked: {e.code}"
            if locked:
                assert e.code == "pin_locked"
                continue
            failures += 1
            if failures < PIN_MAX_FAILURES:
                assert e.code == "pin_wrong"
                assert e.detail["tries_left"] == PIN_MAX_FAILURES - failures
                continue
            assert e.code == "pin_locked"
            recent = last_end is not None and last_end >= at - dt.timedelta(hours=24)
            lockouts = lockouts + 1 if recent else 1
            locked_until = at + LOCK_DURATIONS[min(lockouts, 3) - 1]
            last_end = locked_until
            failures = 0
            assert dt.datetime.fromisoformat(e.detail["until"]) == locked_until
        else:
            assert not locked, "signed in while locked"
            assert right and who.elder_ids == (elder,)
            failures, locked_until, lockouts, last_end = 0, None, 0, None


_ELDERS: dict[int, tuple[int, str]] = {}


# --- staff and family ---------------------------------------------------------------------


def staff_limits_of(app: Any) -> Any:
    s = app.state.settings
    return staff_login_limits(
        max_per_user=s.login_max_failures_per_user,
        max_per_ip=s.login_max_failures_per_ip,
        window=s.login_window_seconds,
    )


def test_fifty_concurrent_wrong_passwords_are_five_checks_and_admin_unlock_is_audited(
    client: Any, app: Any, world: World, run: Any, login: Any, peer: Any
) -> None:
    peer(PROXY)
    responses = _burst(lambda i: _staff(client, "cashier_a", "wrong-password-1", _xff()))
    codes = Counter((r.status_code, r.json()["code"]) for r in responses)
    print(f"\n50 concurrent wrong passwords: {dict(codes)}")
    assert codes == {(401, "invalid_credentials"): 5, (429, "too_many_attempts"): 45}
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)
    # Progressive: the burst spent the first window (5 per 15 minutes), not the hour's or the day's.
    levels = staff_limits_of(app).per_account
    left = [run(lambda limit=limit: app.state.limiter.remaining(limit, "cashier_a")) for limit in levels]
    assert left == [0, 5, 15], left
    assert _staff(client, "cashier_a", PASSWORD, _xff()).status_code == 429  # right password, locked
    assert _staff(client, "cashier_b", PASSWORD, _xff()).status_code == 201  # others unaffected
    h = login("admin")
    uid = world.users["cashier_a"]
    r = client.post(f"/api/v1/users/{uid}/unlock", headers={**h, **_xff()})
    assert r.status_code == 200 and r.json() == {"was_locked": True}
    entries = _audit(run, "user.unlock")
    assert len(entries) == 1 and entries[0]["target_id"] == str(uid)
    assert entries[0]["actor_id"] == world.users["admin"]
    assert _staff(client, "cashier_a", PASSWORD, _xff()).status_code == 201
    cashier = login("cashier_b")
    assert client.post(f"/api/v1/users/{uid}/unlock", headers=cashier).status_code == 403


def test_family_sign_in_is_limited_like_staff(client: Any, world: World, run: Any, peer: Any) -> None:
    async def family() -> None:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        await create_family_account(admin, phone=FAMILY_PHONE, password=FAMILY_PASSWORD, name="长者女儿")

    run(family)
    client.get("/elder/family-sign-in")
    peer(PROXY)
    responses = _burst(lambda i: _family(client, FAMILY_PHONE, "not-the-password", _xff()))
    codes = Counter(r.status_code for r in responses)
    print(f"\n50 concurrent wrong family passwords: {dict(codes)}")
    assert codes == {401: 5, 429: 45}
    r = _family(client, FAMILY_PHONE, FAMILY_PASSWORD, _xff())
    assert r.status_code == 429 and re.search(r"请在 (\d+月\d+日 )?\d\d:\d\d 后再试", r.text)


def test_the_per_address_limit_ignores_x_forwarded_for_from_an_untrusted_peer(
    client: Any, app: Any, world: World, peer: Any
) -> None:
    limit = app.state.settings.login_max_failures_per_ip
    peer(STRANGER)  # a direct client that claims to be many
    codes = [
        _staff(client, f"nobody{i}", "wrong-password-1", {"X-Forwarded-For": f"192.0.2.{i}"}).status_code
        for i in range(limit + 1)
    ]
    assert codes == [401] * limit + [429], codes
    # The same claims through the trusted proxy are separate clients: none is limited.
    peer(PROXY)
    codes = [
        _staff(client, f"somebody{i}", "wrong-password-1", {"X-Forwarded-For": f"192.0.2.{i}"}).status_code
        for i in range(limit + 1)
    ]
    assert codes == [401] * (limit + 1), codes
    # ... but each of those addresses is counted: the proxy does not launder a single client.
    peer("10.9.1.77")  # another trusted proxy (a CIDR), the client appended by the first one
    codes = [
        _staff(client, f"again{i}", "wrong-password-1", {"X-Forwarded-For": f"1.2.3.4, {PROXY}"}).status_code
        for i in range(limit + 1)
    ]
    assert codes[-1] == 429, codes


def _request(app: Any, peer: str, xff: list[str]) -> Request[Any, Any, Any]:
    headers = [(b"x-forwarded-for", v.encode()) for v in xff]
    scope = {"type": "http", "litestar_app": app, "client": (peer, 1), "headers": headers, "path": "/"}
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "xff", "seen"),
    [
        ("203.0.113.7", ["9.9.9.9"], "203.0.113.7"),  # untrusted peer: its header is ignored
        ("127.0.0.1", ["9.9.9.9"], "127.0.0.1"),  # loopback is not trusted unless listed
        (PROXY, ["9.9.9.9"], "9.9.9.9"),
        (PROXY, ["6.6.6.6, 9.9.9.9"], "9.9.9.9"),  # the client wrote 6.6.6.6 itself
        (PROXY, ["6.6.6.6", "9.9.9.9, 10.9.1.5"], "9.9.9.9"),  # two proxies, two header lines
        (PROXY, ["10.9.1.5, 10.9.1.6"], "10.9.1.5"),  # all trusted: the left-most
        (PROXY, ["garbage, 9.9.9.9"], "9.9.9.9"),
        (PROXY, ["9.9.9.9, garbage"], PROXY),  # a broken chain: the last address vouched for
        (PROXY, [], PROXY),
        ("::ffff:10.9.0.2", ["9.9.9.9"], "9.9.9.9"),  # IPv4-mapped IPv6 peer
    ],
)
def test_client_ip_takes_the_right_most_untrusted_hop(app: Any, peer: str, xff: list[str], seen: str) -> None:
    assert client_ip(_request(app, peer, xff)) == seen


def test_trusted_proxies_setting_is_validated() -> None:
    ok = Settings.from_env({"CANTEEN_TRUSTED_PROXIES": "10.0.0.11, 10.0.1.0/24, ::1"})
    assert [str(n) for n in ok.trusted_proxy_networks] == ["10.0.0.11/32", "10.0.1.0/24", "::1/128"]
    assert Settings.from_env({}).trusted_proxy_networks == ()
    with pytest.raises(SettingsError, match="CANTEEN_TRUSTED_PROXIES"):
        Settings.from_env({"CANTEEN_TRUSTED_PROXIES": "10.0.0.11, proxy.internal"})


# --- admin unlock of an elder, the store down ------------------------------------------------


def test_admin_unlocks_an_elder_pin_with_an_audit_row(
    client: Any, world: World, run: Any, login: Any
) -> None:
    elder, number = run(lambda: _elder(world))
    client.get("/elder/sign-in")
    for _ in range(PIN_MAX_FAILURES):
        _pin(client, number, WRONG)
    assert _pin(client, number, PIN).status_code == 429
    # Officials of another district, cashiers: as if the elder did not exist / not allowed.
    assert client.post(f"/api/v1/elders/{elder}/pin/unlock", headers=login("official_y")).status_code == 404
    assert client.post(f"/api/v1/elders/{elder}/pin/unlock", headers=login("cashier_a")).status_code == 403
    r = client.post(f"/api/v1/elders/{elder}/pin/unlock", headers=login("admin"))
    assert r.status_code == 200 and r.json() == {"was_locked": True}
    entries = _audit(run, "elder.pin_unlock")
    assert len(entries) == 1 and entries[0]["target_id"] == str(elder)
    assert entries[0]["district_id"] == world.district_x
    assert _pin(client, number, PIN).status_code in (302, 303)
    again = client.post(f"/api/v1/elders/{elder}/pin/unlock", headers=login("official_x"))
    assert again.status_code == 200 and again.json() == {"was_locked": False}


def test_sign_in_fails_closed_when_the_limiter_store_is_down(
    client: Any, app: Any, world: World, run: Any
) -> None:
    _, number = run(lambda: _elder(world))
    working = app.state.limiter
    app.state.limiter = Limiter("redis://127.0.0.1:9/0")  # nothing listens there
    try:
        r = _staff(client, "cashier_a", PASSWORD)
        assert r.status_code == 503 and r.json()["code"] == "service_unavailable"
        assert int(r.headers["retry-after"]) > 0
        client.get("/elder/sign-in")
        r = _pin(client, number, PIN)
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
        assert "canteen_elder" not in r.headers.get("set-cookie", "")
        r = _family(client, FAMILY_PHONE, FAMILY_PASSWORD)
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
    finally:
        run(app.state.limiter.close)
        app.state.limiter = working
    assert _staff(client, "cashier_a", PASSWORD).status_code == 201


def test_the_registry_page_has_an_unlock_button(client: Any, world: World, run: Any) -> None:
    elder, number = run(lambda: _elder(world))
    client.get("/elder/sign-in")
    for _ in range(PIN_MAX_FAILURES):
        _pin(client, number, WRONG)
    client.get("/login")
    signed = client.post(
        "/login",
        data={"username": "official_x", "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert signed.status_code in (302, 303), signed.text
    profile = client.get(f"/elders/{elder}")
    assert f'action="/elders/{elder}/pin-unlock"' in profile.text and "解除密码锁定" in profile.text
    r = client.post(
        f"/elders/{elder}/pin-unlock",
        data={"_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("saved=pin_unlock")
    assert len(_audit(run, "elder.pin_unlock")) == 1
    assert _pin_row(run, elder)["pin_locked_until"] is None
