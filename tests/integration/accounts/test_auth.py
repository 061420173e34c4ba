"""Sign-in, sessions, device tokens, CSRF and the audit rows of account changes."""

from __future__ import annotations

from typing import Any

from tests.factories import PASSWORD

from canteen.core.tables import AuditEntry

NEW_PASSWORD = "Another-pass-2027"


def _page_login(client: Any, username: str, password: str = PASSWORD) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text


def _actions(run: Any) -> list[str]:
    return [a["action"] for a in run(lambda: AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id))]


def test_login_gives_a_token(client: Any, world: Any) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "cashier_a", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert body["user"] == {"username": "cashier_a", "roles": ["cashier"]}
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "cashier_a"


def test_wrong_password_then_rate_limit(client: Any, world: Any) -> None:
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "cashier_a", "password": "wrong-password-1"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = client.post("/api/v1/auth/login", json={"username": "cashier_a", "password": "wrong-password-1"})
    assert r.status_code == 429 and r.json()["code"] == "too_many_attempts"
    assert r.headers["retry-after"]
    # Even the right password waits out the window; other users are not affected.
    r = client.post("/api/v1/auth/login", json={"username": "cashier_a", "password": PASSWORD})
    assert r.status_code == 429
    assert (
        client.post("/api/v1/auth/login", json={"username": "cashier_b", "password": PASSWORD}).status_code
        == 201
    )


def test_logout_ends_the_session_server_side(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    r = client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_device_token_lifecycle(client: Any, world: Any, login: Any, run: Any) -> None:
    h = login("admin")
    r = client.post(
        "/api/v1/tokens", headers=h, json={"user_id": world.users["cashier_a"], "name": "1号收银台扫码枪"}
    )
    assert r.status_code == 201, r.text
    token, token_id = r.json()["token"], r.json()["id"]
    device = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/auth/me", headers=device)
    assert me.status_code == 200 and me.json()["via_token"] is True and me.json()["username"] == "cashier_a"
    listed = client.get("/api/v1/tokens", headers=h).json()
    assert token not in str(listed) and listed[0]["prefix"] == token[:10]
    assert client.post(f"/api/v1/tokens/{token_id}/revoke", headers=h).status_code == 204
    assert client.get("/api/v1/auth/me", headers=device).status_code == 401
    assert _actions(run)[-2:] == ["token.create", "token.revoke"]


def test_page_form_without_csrf_is_refused(client: Any, world: Any) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert "csrf_failed" in r.text


def test_cookie_api_write_needs_csrf_header(client: Any, world: Any) -> None:
    _page_login(client, "official_x")
    # Reads with the cookie work; a write without the double-submit header does not.
    assert client.get("/api/v1/auth/me").status_code == 200
    r = client.patch(f"/api/v1/sites/{world.site_a}", json={"seats": 99})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.patch(
        f"/api/v1/sites/{world.site_a}",
        json={"seats": 99},
        headers={"x-csrftoken": client.cookies.get("csrftoken")},
    )
    assert r.status_code == 200 and r.json()["seats"] == 99


def test_password_change_ends_sessions(client: Any, world: Any, login: Any, run: Any) -> None:
    old = login("cashier_b")
    admin = login("admin")
    r = client.post(
        f"/api/v1/users/{world.users['cashier_b']}/password", headers=admin, json={"password": NEW_PASSWORD}
    )
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me", headers=old).status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"username": "cashier_b", "password": PASSWORD}).status_code
        == 401
    )
    assert client.get("/api/v1/auth/me", headers=login("cashier_b", NEW_PASSWORD)).status_code == 200
    assert "user.password_reset" in _actions(run)


def test_user_create_and_grants_are_audited(client: Any, world: Any, login: Any, run: Any) -> None:
    admin = login("admin")
    r = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "cashier_a2",
            "password": NEW_PASSWORD,
            "display_name": "李梅",
            "grants": [{"role": "cashier", "site_id": world.site_a}],
        },
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    session = login("cashier_a2", NEW_PASSWORD)
    r = client.put(
        f"/api/v1/users/{uid}/grants",
        headers=admin,
        json={"grants": [{"role": "cashier", "site_id": world.site_b}]},
    )
    assert r.status_code == 204
    # New grants apply at once: the old session ends.
    assert client.get("/api/v1/auth/me", headers=session).status_code == 401
    rows = run(
        lambda: (
            AuditEntry.select()
            .where(AuditEntry.target_id == str(uid))
            .order_by(AuditEntry.id)
            .output(load_json=True)
        )
    )
    assert [r["action"] for r in rows] == ["user.create", "user.grants"]
    assert rows[0]["after"]["username"] == "cashier_a2"
    assert rows[1]["after"] == [{"role": "cashier", "district_id": None, "site_id": world.site_b}]
    r = client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "cashier_a2", "password": NEW_PASSWORD, "grants": []},
    )
    assert r.status_code == 409 and r.json()["code"] == "username_taken"


def test_non_admin_cannot_manage_users_or_tokens(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    assert client.get("/api/v1/users", headers=h).status_code == 403
    r = client.post("/api/v1/tokens", headers=h, json={"user_id": world.users["cashier_a"], "name": "x"})
    assert r.status_code == 403
