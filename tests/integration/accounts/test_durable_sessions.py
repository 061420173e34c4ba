"""Staff sessions live in the database; Redis only caches them. A Redis restart (an empty
store) or an outage (an unreachable one) signs nobody out, and a cashier keeps checking in.

The outage is real: the app's store is pointed at a Redis port where nothing listens, so
every command meets a refused connection, the way a stopped Redis answers."""

from __future__ import annotations

import socket
import uuid
from typing import Any

from tests.factories import PASSWORD
from tests.integration.checkin.test_counter import _counter

from canteen.accounts.tables import StaffSession
from canteen.core.kv import MemoryKV, RedisKV


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def _me(client: Any, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/auth/me", headers=headers)


def test_a_session_is_stored_in_the_database_hashed(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("cashier_a")
    token = h["Authorization"].removeprefix("Bearer ")
    rows = run(lambda: StaffSession.select(StaffSession.token_hash, StaffSession.user))
    assert [r["user"] for r in rows] == [world.users["cashier_a"]]
    assert token not in str(rows) and len(rows[0]["token_hash"]) == 64


def test_sessions_survive_a_restarted_empty_store(client: Any, app: Any, world: Any, login: Any) -> None:
    h = login("cashier_a")
    old = app.state.kv
    app.state.kv = MemoryKV()  # what a restarted Redis without persistence holds: nothing
    try:
        me = _me(client, h)
        assert me.status_code == 200 and me.json()["username"] == "cashier_a"
    finally:
        app.state.kv = old


def test_signed_in_cashiers_keep_checking_in_while_redis_is_down(
    client: Any, app: Any, world: Any, login: Any, run: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=2))
    h = login("cashier_all")
    old = app.state.kv
    down = RedisKV(f"redis://127.0.0.1:{_closed_port()}/0")
    app.state.kv = down
    try:
        me = _me(client, h)
        assert me.status_code == 200, me.text
        for elder in c.elders:
            r = client.post(
                "/api/v1/checkins",
                json={"site_id": c.sites[0], "card": c.cards[elder], "payment": "balance"},
                headers={**h, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert r.status_code == 201, r.text
        # Signing out while Redis is away still ends the session: the database row goes.
        assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
        assert _me(client, h).status_code == 401
    finally:
        app.state.kv = old
        run(down.close)


def test_a_cached_session_still_ends_when_the_password_changes(client: Any, world: Any, login: Any) -> None:
    old = login("cashier_b")
    assert _me(client, old).status_code == 200  # now cached
    admin = login("admin")
    r = client.post(
        f"/api/v1/users/{world.users['cashier_b']}/password",
        headers=admin,
        json={"password": "Another-pass-2027"},
    )
    assert r.status_code == 204
    assert _me(client, old).status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"username": "cashier_b", "password": PASSWORD}).status_code
        == 401
    )


def test_a_revoked_device_token_is_told_so(client: Any, world: Any, login: Any) -> None:
    admin = login("admin")
    r = client.post(
        "/api/v1/tokens", headers=admin, json={"user_id": world.users["cashier_a"], "name": "2号收银台扫码枪"}
    )
    token, token_id = r.json()["token"], r.json()["id"]
    device = {"Authorization": f"Bearer {token}"}
    assert _me(client, device).status_code == 200
    assert client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin).status_code == 204
    refused = _me(client, device)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert refused.headers.get("x-request-id")
    # An unknown token is still plain "not signed in".
    unknown = _me(client, {"Authorization": "Bearer cnt_" + "x" * 40})
    assert unknown.status_code == 401 and unknown.json()["code"] == "not_authenticated"
