"""Security basics, checked: cookie flags, CSRF on every form, security headers, password and PIN
policies, secrets only from settings, personal data masked, audited and never logged.

Login lockout is covered by tests/integration/accounts (429 `too_many_attempts`); the elder PIN
lockout arrives with the elder sign-in (delivery work): see test_pin_lockout_hook.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from canteen.accounts.passwords import check_policy
from canteen.core.errors import DomainError
from canteen.core.tables import AuditEntry
from canteen.registry.national_id import make_national_id
from tests.factories import PASSWORD, World

SRC = Path(__file__).resolve().parents[2] / "src" / "canteen"
NATIONAL_ID = re.compile(r"\d{17}[\dX]")
PHONE = re.compile(r"1[3-9]\d{9}")
REQUEST_ID = re.compile(r'"request_id": "[0-9a-f]*"')
CSRF_FIELD = re.compile(r'name="_csrf_token"\s+value="([^"]+)"')


def _csrf(client: Any, path: str = "/login") -> str:
    r = client.get(path)
    m = CSRF_FIELD.search(r.text)
    assert m, "the login form has no CSRF field"
    return m.group(1)


def _web_login(client: Any, username: str) -> Any:
    token = _csrf(client)
    return client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "_csrf_token": token},
        follow_redirects=False,
    )


def _session_cookie_header(response: Any) -> str:
    from canteen.accounts.context import SESSION_COOKIE

    cookies = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    mine = [c for c in cookies if c.startswith(f"{SESSION_COOKIE}=")]
    assert mine, cookies
    return mine[0]


def test_session_cookie_is_httponly_and_samesite_lax(client: Any, world: World) -> None:
    r = _web_login(client, "cashier_a")
    assert r.status_code in (302, 303), r.text
    cookie = _session_cookie_header(r).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie


def test_session_cookie_is_secure_when_cookie_secure(settings: Any) -> None:
    from canteen.app import create_app
    from tests.factories import make_world

    # Its own app (and database pool): no `client`/`world` fixture, whose pool lives on another loop.
    app = create_app(dataclasses.replace(settings, cookie_secure=True))
    with TestClient(app, base_url="https://testserver.local") as secure_client:
        secure_client.blocking_portal.call(make_world)
        r = _web_login(secure_client, "cashier_a")
        assert r.status_code in (302, 303), r.text
        assert "secure" in [p.strip().lower() for p in _session_cookie_header(r).split(";")]


_DUMMY = {"int": "1", "date": "2026-11-23"}


def _form_routes(app: Any) -> list[str]:
    """Every non-API POST route of the app (the forms), path params filled with a dummy."""
    out = []
    for route in app.routes:
        path = route.path
        if path.startswith(("/api/", "/static", "/schema")):
            continue
        if "POST" not in getattr(route, "methods", set()):
            continue
        out.append(re.sub(r"\{[^}:]+(?::(\w+))?\}", lambda m: _DUMMY.get(m.group(1) or "", "x"), path))
    return sorted(set(out))


def test_every_form_refuses_a_post_without_the_csrf_token(client: Any, app: Any, world: World) -> None:
    forms = _form_routes(app)
    assert "/login" in forms and len(forms) > 5, forms
    bad = []
    for path in forms:
        r = client.post(path, data={"x": "1"}, headers={"Accept": "application/json"})
        if r.status_code != 403 or r.json().get("code") != "csrf_failed":
            bad.append(f"{path}: {r.status_code} {r.text[:80]}")
    print(f"CSRF: {len(forms)} form routes refuse a POST without the token")
    assert not bad, "\n".join(bad)


def _check_headers(r: Any, where: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    script_src = next((d for d in csp.split(";") if d.strip().startswith("script-src")), "")
    assert script_src and "'unsafe-inline'" not in script_src, (where, csp)
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("referrer-policy") in (
        "same-origin",
        "no-referrer",
        "strict-origin-when-cross-origin",
    )


def test_security_headers_on_pages_and_api(client: Any, world: World, login: Any) -> None:
    for path in ("/login", "/healthz", "/api/v1/auth/me", "/api/v1/no-such-route"):
        _check_headers(client.get(path), path)
    _check_headers(client.get("/api/v1/auth/me", headers=login("cashier_a")), "me signed in")
    _web_login(client, "cashier_a")
    _check_headers(client.get("/"), "home page")


def test_password_policy() -> None:
    for weak in ("short1", "onlyletters", "1234567890", "cashier_a99"[:5], "x" * 201 + "1"):
        with pytest.raises(DomainError) as e:
            check_policy(weak)
        assert e.value.code == "password_too_weak"
    with pytest.raises(DomainError):
        check_policy("cashier0001", username="cashier0001")
    check_policy("Canteen-test-2026")


def _register(client: Any, headers: dict[str, str], w: World, number: str, phone: str) -> int:
    r = client.post(
        "/api/v1/elders",
        json={
            "name": "陈桂兰",
            "national_id": number,
            "community_id": w.community_x,
            "phone": phone,
            "address": "杭州市拱墅区卖鱼桥小区5幢1单元302室",
            "emergency_phone": "13600001111",
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_pin_policy_refuses_trivial_pins(client: Any, world: World, login: Any) -> None:
    admin = login("admin")
    elder = _register(
        client, admin, world, make_national_id("330105", dt.date(1941, 2, 3), 88), "13912340001"
    )
    for pin in ("1234", "0000", "111111"):
        r = client.post(f"/api/v1/elders/{elder}/pin", json={"pin": pin}, headers=admin)
        assert r.status_code in (400, 422) and r.json()["code"] in ("pin_too_weak", "validation_failed"), (
            r.text
        )
    assert (
        client.post(f"/api/v1/elders/{elder}/pin", json={"pin": "739251"}, headers=admin).status_code == 204
    )


# PIN lockout (five wrong PINs lock for 15 minutes, even against the right PIN) is proven in
# tests/integration/orders/test_sign_in.py::test_five_wrong_pins_lock_for_fifteen_minutes.


def test_secrets_and_environment_only_through_settings() -> None:
    allowed = {SRC / "settings.py", SRC / "__init__.py"}
    offenders = [
        f"{p.relative_to(SRC.parent)}:{i}"
        for p in sorted(SRC.rglob("*.py"))
        if p not in allowed
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(", line)
    ]
    assert not offenders, "read configuration through canteen.settings only:\n" + "\n".join(offenders)


def test_personal_data_masked_for_cashier_and_full_view_audited(
    client: Any, world: World, login: Any, run: Any
) -> None:
    number = make_national_id("330105", dt.date(1940, 6, 1), 77)
    elder = _register(client, login("admin"), world, number, "13987654321")
    view = client.get(f"/api/v1/elders/{elder}", headers=login("cashier_a"))
    assert view.status_code == 200, view.text
    body = view.json()
    assert body.get("phone") in (None, "") and body.get("address") in (None, "")
    assert number not in view.text and "13987654321" not in view.text
    assert body["masked_id"] != number and body["masked_id"].endswith(number[-4:])
    official = login("official_x")
    full = client.get(f"/api/v1/elders/{elder}/national-id", headers=official)
    assert full.status_code == 200 and number in full.text
    rows = run(lambda: AuditEntry.select().where(AuditEntry.action == "elder.id_viewed"))
    assert [r["target_id"] for r in rows] == [str(elder)]


def test_no_personal_data_in_logs(client: Any, world: World, login: Any) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from canteen.web.middleware import JsonFormatter

    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger("canteen")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        number = make_national_id("330105", dt.date(1939, 9, 9), 66)
        phone = "13811112222"
        admin = login("admin")
        elder = _register(client, admin, world, number, phone)
        assert client.get("/api/v1/elders", params={"q": phone}, headers=admin).status_code == 200
        assert client.get("/api/v1/elders", params={"q": number}, headers=admin).status_code == 200
        assert client.get(f"/api/v1/elders/{elder}", headers=admin).status_code == 200
        assert client.get(f"/api/v1/elders/{elder}/national-id", headers=admin).status_code == 200
        # A refused registration echoes nothing personal either.
        client.post("/api/v1/elders", json={"national_id": number, "phone": phone}, headers=admin)
        r = client.post(
            "/login", data={"username": phone, "password": number}, headers={"Accept": "application/json"}
        )
        assert r.status_code == 403
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    assert text.strip(), "nothing was logged: the handler is not attached to the app's loggers"
    # Request ids are random hex: a run of eleven digits inside one is not a phone number.
    text = REQUEST_ID.sub('"request_id": ""', text)
    found = [
        text[max(0, m.start() - 80) : m.end() + 20]
        for pattern in (NATIONAL_ID, PHONE)
        for m in pattern.finditer(text)
        if not _is_number_field(text, m)
    ]
    assert not found, "personal data in logs:\n" + "\n".join(found[:5])


def _is_number_field(text: str, m: re.Match[str]) -> bool:
    """A match inside a longer run of digits or a decimal (a timestamp), not a phone or ID."""
    before = text[m.start() - 1] if m.start() else ""
    after = text[m.end()] if m.end() < len(text) else ""
    return before.isdigit() or before == "." or after.isdigit() or after == "."
