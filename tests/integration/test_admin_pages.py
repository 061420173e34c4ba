"""Admin pages: who may open them, the site form with errors in words, users, tokens, audit."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canteen.core.tables import AuditEntry
from canteen.regions.tables import Site
from tests.factories import PASSWORD

PAGES = ["/admin/sites", "/admin/sites/new", "/admin/users", "/admin/tokens", "/admin/audit"]
NEW_PASSWORD = "Another-pass-2027"


def page_login(client: Any, username: str) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text


def post_form(client: Any, path: str, data: dict[str, str]) -> Any:
    return client.post(
        path, data={**data, "_csrf_token": client.cookies.get("csrftoken")}, follow_redirects=False
    )


def site_form(world: Any, **extra: str) -> dict[str, str]:
    return {
        "district_id": str(world.district_x),
        "name": "大关幸福食堂",
        "kind": "meal_point",
        "point_type": "canteen",
        "operator_id": str(world.operator_x),
        "address": "杭州市拱墅区大关路100号",
        "lat": "30.31",
        "lon": "120.15",
        "seats": "40",
        "meals_per_slot": "120",
        "void_window_minutes": "15",
        "slot_lunch_on": "1",
        "slot_lunch_start": "10:30",
        "slot_lunch_end": "13:00",
        "slot_lunch_cutoff": "09:00",
        **extra,
    }


@pytest.mark.parametrize("path", PAGES)
def test_admin_sees_every_page(client: Any, world: Any, path: str) -> None:
    page_login(client, "admin")
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert '<html lang="zh-CN">' in r.text
    assert "<h1>" in r.text
    # Every input has a label (hidden inputs and the CSRF token aside).
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', r.text))
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', r.text))
    assert ids <= labelled, ids - labelled
    visible_inputs = [
        m for m in re.findall(r"<(?:input|select|textarea)\b[^>]*>", r.text) if 'type="hidden"' not in m
    ]
    assert all(' id="' in m for m in visible_inputs), visible_inputs


@pytest.mark.parametrize("path", PAGES)
def test_cashier_is_refused(client: Any, world: Any, path: str) -> None:
    page_login(client, "cashier_a")
    r = client.get(path)
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"] and "forbidden" in r.text


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_goes_to_login(client: Any, world: Any, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].startswith("/login?next=")


def test_scope_on_site_pages(client: Any, world: Any) -> None:
    page_login(client, "official_x")
    r = client.get("/admin/sites")
    assert r.status_code == 200 and "卖鱼桥幸福食堂" in r.text and "曙光路老年食堂" not in r.text
    assert client.get(f"/admin/sites/{world.site_c}").status_code == 404
    assert client.get("/admin/users").status_code == 403
    client.cookies.clear()
    page_login(client, "operator_a")
    r = client.get("/admin/sites")
    assert r.status_code == 200 and "卖鱼桥幸福食堂" in r.text and "米市巷助餐点" not in r.text
    assert client.get("/admin/sites/new").status_code == 403
    r = client.get(f"/admin/sites/{world.site_a}")
    assert r.status_code == 200 and 'name="operator_id"' in r.text and 'id="operator_id"' not in r.text


def test_create_site_with_errors_then_fix(client: Any, world: Any, run: Any) -> None:
    page_login(client, "official_x")
    client.get("/admin/sites/new")
    bad = site_form(world, name="", seats="many", slot_lunch_start="14:00", lat="91")
    r = post_form(client, "/admin/sites/new", bad)
    assert r.status_code == 422
    assert 'id="err-name"' in r.text and 'id="err-seats"' in r.text and 'id="err-lat"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert "0 到 100000" in r.text  # the hint, in words and in Chinese
    assert run(lambda: Site.count()) == 4
    # A cross-row refusal lands next to its field too.
    r = post_form(client, "/admin/sites/new", site_form(world, point_type="satellite"))
    assert r.status_code == 422 and 'id="err-kitchen_id"' in r.text
    r = post_form(client, "/admin/sites/new", site_form(world))
    assert r.status_code == 303, r.text
    site_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    r = client.get(r.headers["location"])
    assert r.status_code == 200 and "大关幸福食堂" in r.text
    r = post_form(client, f"/admin/sites/{site_id}", site_form(world, seats="55", slot_lunch_start="11:00"))
    assert r.status_code == 303
    r = post_form(client, f"/admin/sites/{site_id}/status", {"status": "open"})
    assert r.status_code == 303
    site = run(
        lambda: (
            Site.select(Site.seats, Site.status, Site.slots)
            .where(Site.id == site_id)
            .first()
            .output(load_json=True)
        )
    )
    assert site["seats"] == 55 and site["status"] == "open" and site["slots"][0]["start"] == "11:00"
    actions = [a["action"] for a in run(lambda: AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions == ["site.create", "site.update", "site.status"]


def test_operator_saves_own_site_form(client: Any, world: Any) -> None:
    page_login(client, "operator_a")
    r = client.get(f"/admin/sites/{world.site_a}")
    fields = dict(
        re.findall(
            r'<input type="hidden" name="(kind|point_type|kitchen_id|operator_id)" value="([^"]*)"', r.text
        )
    )
    data = site_form(world, name="卖鱼桥幸福食堂", seats="70", **fields)
    data.pop("district_id")
    r = post_form(client, f"/admin/sites/{world.site_a}", data)
    assert r.status_code == 303, r.text
    r = post_form(client, f"/admin/sites/{world.site_a}/status", {"status": "closed"})
    assert r.status_code == 403


def test_users_page_flow(client: Any, world: Any, run: Any) -> None:
    page_login(client, "admin")
    client.get("/admin/users")
    r = post_form(
        client,
        "/admin/users",
        {
            "username": "cashier_a3",
            "display_name": "赵丽",
            "password": "short",
            "role": "cashier",
            "site_id": str(world.site_a),
        },
    )
    assert r.status_code == 422 and 'id="nu-err-password"' in r.text
    r = post_form(
        client,
        "/admin/users",
        {
            "username": "cashier_a3",
            "display_name": "赵丽",
            "password": NEW_PASSWORD,
            "role": "cashier",
            "district_id": str(world.district_x),
        },
    )
    assert r.status_code == 422 and 'id="nu-err-role"' in r.text
    r = post_form(
        client,
        "/admin/users",
        {
            "username": "cashier_a3",
            "display_name": "赵丽",
            "password": NEW_PASSWORD,
            "role": "cashier",
            "site_id": str(world.site_a),
        },
    )
    assert r.status_code == 303
    r = client.get("/admin/users")
    assert "cashier_a3" in r.text
    uid = run(
        lambda: AuditEntry.select(AuditEntry.target_id).where(AuditEntry.action == "user.create").first()
    )
    uid = int(uid["target_id"])
    assert (
        post_form(client, f"/admin/users/{uid}/password", {"password": "Yet-another-2028"}).status_code == 303
    )
    assert post_form(client, f"/admin/users/{uid}/active", {"active": "0"}).status_code == 303
    actions = [a["action"] for a in run(lambda: AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions == ["user.create", "user.password_reset", "user.active"]
    r = client.post("/api/v1/auth/login", json={"username": "cashier_a3", "password": "Yet-another-2028"})
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"


def test_tokens_page_shows_secret_once(client: Any, world: Any, run: Any) -> None:
    page_login(client, "admin")
    client.get("/admin/tokens")
    r = post_form(client, "/admin/tokens", {"name": "", "user_id": ""})
    assert r.status_code == 422 and 'id="tk-err-name"' in r.text and 'id="tk-err-user"' in r.text
    r = post_form(client, "/admin/tokens", {"name": "1号收银台", "user_id": str(world.users["cashier_a"])})
    assert r.status_code == 201
    secret = re.search(r'id="secret" readonly value="(cnt_[^"]+)"', r.text)
    assert secret
    assert secret.group(1) not in client.get("/admin/tokens").text
    token_id = int(
        run(
            lambda: AuditEntry.select(AuditEntry.target_id).where(AuditEntry.action == "token.create").first()
        )["target_id"]
    )
    assert post_form(client, f"/admin/tokens/{token_id}/revoke", {}).status_code == 303
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code
        == 401
    )


def test_audit_search(client: Any, world: Any, login: Any) -> None:
    h = login("official_x")
    for seats in (41, 42, 43):
        assert (
            client.patch(f"/api/v1/sites/{world.site_a}", headers=h, json={"seats": seats}).status_code == 200
        )
    assert (
        client.post(f"/api/v1/sites/{world.site_b}/status", headers=h, json={"status": "paused"}).status_code
        == 200
    )
    page_login(client, "admin")
    r = client.get("/admin/audit", params={"action": "site.update", "target_id": str(world.site_a)})
    assert r.status_code == 200 and r.text.count('<th scope="row"><code>site.update') == 3
    assert '<th scope="row"><code>site.status' not in r.text
    assert "&#34;seats&#34;: 43" in r.text or "&#34;seats&#34;:43" in r.text
    r = client.get("/admin/audit", params={"action": "site.", "actor": "official_x"})
    assert r.text.count("<tr>") == 5  # header + 4 rows
    r = client.get("/admin/audit", params={"since": "2000-01-01", "until": "2000-01-02"})
    assert '<th scope="row"><code>site.update' not in r.text
    r = client.get("/admin/audit", params={"since": "yesterday"})
    assert r.status_code == 422 and 'id="a-err-since"' in r.text


def test_page_post_without_csrf_is_refused(client: Any, world: Any, run: Any) -> None:
    page_login(client, "admin")
    r = client.post("/admin/sites/new", data=site_form(world), follow_redirects=False)
    assert r.status_code == 403 and "csrf_failed" in r.text
    assert run(lambda: Site.count()) == 4
