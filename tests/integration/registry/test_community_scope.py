"""Community roles (issue #17): a community worker is scoped to its communities — it registers,
lists, searches, reads and edits their elders only, reveals an ID (audited) there only — and a
volunteer reaches no registry at all. Grants are made by an admin over the API, the admin page
and the CLI, validated and audited; the principal carries each community's district."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.accounts.roles import COMMUNITY_WORKER, VOLUNTEER, Grant, Principal
from canteen.accounts.services import load_principal
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core.tables import AuditEntry
from canteen.registry.services import access_of
from tests.factories import PASSWORD, make_world
from tests.integration.registry.conftest import elder_body, nid
from tests.integration.test_admin_pages import page_login, post_form


def _audits(run: Any, action: str) -> list[dict[str, Any]]:
    return list(run(lambda: AuditEntry.select().where(AuditEntry.action == action).output(load_json=True)))


def test_principal_carries_its_communities_and_their_districts(client, world, run):
    p = run(lambda: load_principal(world.users["community_a"]))
    assert p is not None
    assert p.community_ids() == {world.community_x}
    assert p.community_ids(COMMUNITY_WORKER) == {world.community_x}
    assert p.community_districts == {world.community_x: world.district_x}
    # The district is visible (its configuration), but the worker is no official of it.
    assert p.visible_district_ids() == {world.district_x}
    assert not p.can_district(world.district_x)
    assert p.can_community(world.community_x, world.district_x)
    assert not p.can_community(world.community_b, world.district_x)
    v = run(lambda: load_principal(world.users["volunteer_a"]))
    assert v is not None and v.community_ids(COMMUNITY_WORKER) == frozenset()
    assert v.community_ids(VOLUNTEER) == {world.community_x}
    assert access_of(v, world.district_x, world.community_x) is None


def test_admin_grants_community_roles_over_the_api(client, world, login, run):
    h = login("admin")
    body = {
        "username": "lihua",
        "password": "Shequ-gongzuo-2026",
        "display_name": "李华",
        "grants": [{"role": "community_worker", "community_id": world.community_b}],
    }
    r = client.post("/api/v1/users", json=body, headers=h)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    p = run(lambda: load_principal(uid))
    assert p is not None and p.community_districts == {world.community_b: world.district_x}
    created = _audits(run, "user.create")[-1]
    [granted] = created["after"]["grants"]
    assert (granted["role"], granted["community_id"]) == ("community_worker", world.community_b)
    users = {u["username"]: u for u in client.get("/api/v1/users", headers=h).json()}
    assert users["lihua"]["grants"][0]["community_id"] == world.community_b
    # Bad grants: a community role without its community, with a district, an unknown community.
    bad = [
        ({"role": "volunteer"}, 422, "grant_scope_invalid"),
        ({"role": "community_worker", "district_id": world.district_x}, 422, "grant_scope_invalid"),
        (
            {"role": "volunteer", "community_id": world.community_x, "district_id": world.district_x},
            422,
            "grant_scope_invalid",
        ),
        (
            {"role": "official", "district_id": world.district_x, "community_id": world.community_x},
            422,
            "grant_scope_invalid",
        ),
        ({"role": "volunteer", "community_id": 999_999}, 404, "not_found"),
    ]
    for i, (grant, status, code) in enumerate(bad):
        r = client.post("/api/v1/users", json={**body, "username": f"bad{i}", "grants": [grant]}, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), (grant, r.text)
    assert run(lambda: StaffUser.count().where(StaffUser.username.like("bad%"))) == 0
    # Replacing the grants ends the user's sessions (auth_version bump) and is audited.
    uh = login("lihua", "Shequ-gongzuo-2026")
    assert client.get("/api/v1/auth/me", headers=uh).status_code == 200
    r = client.put(
        f"/api/v1/users/{uid}/grants",
        json={"grants": [{"role": "volunteer", "community_id": world.community_x}]},
        headers=h,
    )
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/auth/me", headers=uh).status_code == 401
    p = run(lambda: load_principal(uid))
    assert p is not None and p.grants == (Grant(VOLUNTEER, community_id=world.community_x),)
    [after] = _audits(run, "user.grants")[-1]["after"]
    assert (after["role"], after["community_id"]) == ("volunteer", world.community_x)
    # Only an admin grants.
    r = client.post("/api/v1/users", json={**body, "username": "x2"}, headers=login("official_x"))
    assert r.status_code == 403


def test_admin_page_grants_a_community_worker(client, world, run):
    page_login(client, "admin")
    r = client.get("/admin/users")
    assert r.status_code == 200 and 'name="community_id"' in r.text and "卖鱼桥社区" in r.text
    form = {
        "username": "wangfang",
        "display_name": "王芳",
        "password": "Shequ-gongzuo-2026",
        "role": "community_worker",
        "community_id": str(world.community_x),
    }
    r = post_form(client, "/admin/users", {**form, "community_id": ""})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = post_form(client, "/admin/users", form)
    assert r.status_code == 303, r.text
    rows = run(
        lambda: RoleGrant.select(RoleGrant.role, RoleGrant.community).where(
            RoleGrant.user.username == "wangfang"
        )
    )
    assert rows == [{"role": "community_worker", "community": world.community_x}]
    listing = client.get("/admin/users?done=created").text
    assert "社区工作者 · 卖鱼桥社区" in listing


def test_community_worker_registers_lists_and_edits_its_own_communities_only(client, world, login, run):
    h = login("community_a")
    own = client.post("/api/v1/elders", json=elder_body(world), headers=h)
    assert own.status_code == 201, own.text
    assert own.json()["community_id"] == world.community_x and own.json()["can_edit"] is True
    # Another community of the same district, and another district: refused, nothing written.
    for community in (world.community_b, world.community_y):
        body = elder_body(world, community_id=community, national_id=nid(dt.date(1940, 1, 2), 126))
        r = client.post("/api/v1/elders", json=body, headers=h)
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
        assert r.json()["detail"]["field"] == "community_id"
    # An official registers one elder in community B.
    hb = login("official_x")
    body = elder_body(
        world, community_id=world.community_b, name="钱阿婆", national_id=nid(dt.date(1938, 6, 1), 128)
    )
    other = client.post("/api/v1/elders", json=body, headers=hb).json()
    # The list and the search hold community A's elder only (search by name, phone, ID digits).
    items = client.get("/api/v1/elders", headers=h).json()["items"]
    assert [e["id"] for e in items] == [own.json()["id"]]
    assert items[0]["phone"] == "13857112345"
    for q in ("钱阿婆", body["phone"], body["national_id"][-4:], body["national_id"]):
        found = client.get("/api/v1/elders", params={"q": q}, headers=h).json()["items"]
        assert other["id"] not in [e["id"] for e in found], q
    assert (
        client.get("/api/v1/elders", params={"category": "dibao"}, headers=h).json()["items"][0]["id"]
        == own.json()["id"]
    )
    assert (
        client.get("/api/v1/elders", params={"community_id": world.community_b}, headers=h).json()["items"]
        == []
    )
    # Another community's elder: 404 on every route taking its id.
    oid = other["id"]
    for method, path, payload in [
        ("GET", f"/api/v1/elders/{oid}", None),
        ("PATCH", f"/api/v1/elders/{oid}", {"version": 1, "phone": "13800000000"}),
        ("GET", f"/api/v1/elders/{oid}/national-id", None),
        ("GET", f"/api/v1/elders/{oid}/balance", None),
    ]:
        r = client.request(method, path, json=payload, headers=h)
        assert r.status_code == 404, (path, r.text)
    # Its own elder: edited (audited), but status and delivery grants stay with officials.
    eid = own.json()["id"]
    r = client.patch(f"/api/v1/elders/{eid}", json={"version": 1, "address": "湖墅南路188号"}, headers=h)
    assert r.status_code == 200 and r.json()["address"] == "湖墅南路188号", r.text
    assert _audits(run, "elder.update")[-1]["actor_name"] == "community_a"
    # Moving the elder into community B is refused (not its community).
    r = client.patch(
        f"/api/v1/elders/{eid}", json={"version": 2, "community_id": world.community_b}, headers=h
    )
    assert r.status_code == 404 and r.json()["detail"]["field"] == "community_id"
    r = client.post(f"/api/v1/elders/{eid}/status", json={"status": "moved", "reason": "搬家"}, headers=h)
    assert r.status_code == 403
    r = client.post(f"/api/v1/elders/{eid}/delivery-grant", json={"reason": "行动不便"}, headers=h)
    assert r.status_code == 403


def test_masked_id_and_audited_reveal(client, world, login, run, register):
    e = register()
    h = login("community_a")
    view = client.get(f"/api/v1/elders/{e['id']}", headers=h).json()
    assert view["masked_id"] == e["masked_id"] and view["can_reveal_id"] is True
    assert nid(dt.date(1944, 3, 15), 124) not in client.get(f"/api/v1/elders/{e['id']}", headers=h).text
    r = client.get(f"/api/v1/elders/{e['id']}/national-id", headers=h)
    assert r.status_code == 200 and nid(dt.date(1944, 3, 15), 124) in r.text
    viewed = _audits(run, "elder.id_viewed")
    assert [a["actor_name"] for a in viewed] == ["community_a"]
    # Community B's worker and the volunteer of A: not found.
    for who in ("community_b", "volunteer_a"):
        hh = login(who)
        assert client.get(f"/api/v1/elders/{e['id']}", headers=hh).status_code == 404
        assert client.get(f"/api/v1/elders/{e['id']}/national-id", headers=hh).status_code == 404
        assert client.get("/api/v1/elders", headers=hh).json()["items"] == []
    assert len(_audits(run, "elder.id_viewed")) == 1


def test_pages_for_community_roles(client, world, login, run, register):
    e = register()
    other = register(community_id=world.community_b, name="钱阿婆", national_id=nid(dt.date(1938, 6, 1), 128))
    page_login(client, "community_a")
    home = client.get("/").text
    assert 'href="/elders"' in home and 'href="/elders/new"' in home
    listing = client.get("/elders").text
    assert "沈桂英" in listing and "钱阿婆" not in listing and "/elders/import" not in listing
    profile = client.get(f"/elders/{e['id']}")
    assert profile.status_code == 200 and f"/elders/{e['id']}/edit" in profile.text
    # Status, delivery grant and PIN: officials only.
    assert f'action="/elders/{e["id"]}/status"' not in profile.text
    assert client.get(f"/elders/{other['id']}").status_code == 404
    assert client.get(f"/elders/{other['id']}/edit").status_code == 404
    form = client.get("/elders/new").text
    assert "卖鱼桥社区" in form and "大兜路社区" not in form and "曙光路社区" not in form
    client.cookies.clear()
    page_login(client, "volunteer_a")
    assert 'href="/elders"' not in client.get("/").text
    assert client.get(f"/elders/{e['id']}").status_code == 404
    assert client.get("/elders/new").status_code == 403


def test_cli_creates_a_community_worker():
    from canteen import cli

    world = asyncio.run(make_world())
    cli.main(
        [
            "user",
            "create",
            "zhaomin",
            "--role",
            "community_worker",
            "--community",
            str(world.community_b),
            "--password",
            PASSWORD,
        ]
    )

    async def check() -> Principal | None:
        row = await StaffUser.select(StaffUser.id).where(StaffUser.username == "zhaomin").first()
        assert row is not None
        return await load_principal(int(row["id"]))

    p = asyncio.run(check())
    assert p is not None and p.community_districts == {world.community_b: world.district_x}
    assert p.community_ids(COMMUNITY_WORKER) == {world.community_b}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([COMMUNITY_WORKER, VOLUNTEER]), st.integers(1, 6)), max_size=4),
    st.integers(1, 6),
    st.integers(1, 3),
)
def test_access_follows_the_community_worker_grants(grants, community, district):
    """Without official or site grants, an elder's record is readable exactly when the actor is a
    community worker of the elder's community, whatever the district."""
    p = Principal(
        user_id=1,
        username="u",
        display_name="u",
        grants=tuple(Grant(r, community_id=c) for r, c in grants),
        community_districts={c: 1 + c % 3 for _, c in grants},
    )
    readable = access_of(p, district, community) is not None
    assert readable == ((COMMUNITY_WORKER, community) in grants)
    assert p.reads_elders_of(district, community) == readable
    assert not p.can_district(district)


@pytest.mark.parametrize("who", ["community_a", "volunteer_a"])
def test_sign_in_and_home(client, world, who):
    page_login(client, who)
    r = client.get("/")
    assert r.status_code == 200
    assert ("社区工作者" if who == "community_a" else "志愿者") in r.text
