"""The registry pages: search, profile with the audited full-ID button, forms, import wizard."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from canteen.core.tables import AuditEntry
from canteen.demo.people import DemoCommunity, make_import_workbook
from canteen.registry.tables import Elder
from tests.factories import PASSWORD
from tests.integration.registry.conftest import nid
from tests.integration.registry.jobwait import wait_run


def web_login(client: Any, username: str) -> str:
    client.get("/login")
    token = client.cookies.get("csrftoken")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "_csrf_token": token})
    assert r.status_code in (200, 302, 303), r.text
    return str(client.cookies.get("csrftoken"))


def test_search_profile_and_full_id(client, world, run, register):
    e = register()
    csrf = web_login(client, "official_x")
    r = client.get("/elders", params={"q": "桂英"})
    assert r.status_code == 200 and "沈桂英" in r.text and e["masked_id"] in r.text
    r = client.get(f"/elders/{e['id']}")
    assert r.status_code == 200 and e["masked_id"] in r.text and f"/elders/{e['id']}/national-id" in r.text
    full = nid(dt.date(1944, 3, 15), 124)
    assert full not in r.text
    r = client.post(f"/elders/{e['id']}/national-id", data={"_csrf_token": csrf})
    assert r.status_code == 200 and full in r.text
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "elder.id_viewed")) == 1
    home = client.get("/")
    assert "/elders/import" in home.text


def test_cashier_profile_hides_contact_and_button(client, world, register):
    e = register()
    web_login(client, "cashier_a")
    r = client.get(f"/elders/{e['id']}")
    assert r.status_code == 200 and "13857112345" not in r.text and "national-id" not in r.text
    assert client.get("/elders/new").status_code == 403


def test_new_form_shows_errors_next_to_fields_and_saves(client, world, run):
    csrf = web_login(client, "official_x")
    good = nid(dt.date(1944, 3, 15), 124)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    form = {
        "_csrf_token": csrf,
        "name": "沈桂英",
        "national_id": bad,
        "community_id": str(world.community_x),
        "living_situation": "alone",
        "phone": "13857112345",
    }
    r = client.post("/elders/new", data=form)
    assert r.status_code == 422 and 'id="national_id-error"' in r.text and "校验位" in r.text
    assert run(lambda: Elder.count()) == 0
    r = client.post(
        "/elders/new",
        data={
            **form,
            "national_id": good,
            "categories": ["dibao"],
            "until_dibao": "2030-01-01",
            "diet": ["soft"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    elder_id = int(r.headers["location"].split("/")[2].split("?")[0])
    r = client.get(f"/elders/{elder_id}/edit")
    assert r.status_code == 200 and "elder.create" in r.text
    r = client.post(
        f"/elders/{elder_id}/edit",
        data={**form, "national_id": "", "version": "1", "phone": "138-0000-1111"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = client.get(f"/elders/{elder_id}/edit")
    assert "elder.update" in r.text and "138-0000-1111" in r.text
    r = client.post(f"/elders/{elder_id}/pin", data={"_csrf_token": csrf, "pin": "1234"})
    assert r.status_code == 422 and 'id="pin-error"' in r.text


def test_import_wizard(client, world, run):
    csrf = web_login(client, "official_x")
    comms = [DemoCommunity(world.community_x, "卖鱼桥社区", "米市巷街道", 30.2975, 120.1430, ("湖墅南路",))]
    wb = make_import_workbook(30, 3, seed=7, communities=comms, today=dt.date.today())
    r = client.post(
        "/elders/import",
        data={"_csrf_token": csrf, "district_id": str(world.district_x)},
        files={"file": ("名单.xlsx", wb.data, "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    columns_url = r.headers["location"]
    r = client.get(columns_url)
    assert r.status_code == 200 and 'name="map_national_id"' in r.text
    selected = dict(
        re.findall(
            r'name="(map_\w+)">\s*<option value="">[^<]*</option>(?:.*?)<option value="(\d+)" selected',
            r.text,
            re.S,
        )
    )
    token = columns_url.split("/")[3]
    mapping = {
        f"map_{k}": str(i)
        for i, k in enumerate(
            [
                "name",
                "gender",
                "birth_date",
                "national_id",
                "phone",
                "address",
                "community",
                "living_situation",
                "categories",
                "category_valid_until",
                "diet",
                "allergies",
                "emergency_name",
                "emergency_phone",
                "lat",
                "lon",
            ]
        )
    }
    assert selected.get("map_national_id") == "3"
    r = client.post(
        f"/elders/import/{token}/check", data={"_csrf_token": csrf, **mapping}, follow_redirects=False
    )
    assert r.status_code == 303  # every row is checked by a job; its page links to the check
    done = wait_run(client, r.headers["location"])
    assert done["status"] == "done" and done["result"]["url"].startswith(f"/elders/import/{token}/checked/")
    assert done["result"]["create"] == 27 and done["result"]["bad"] == 3
    r = client.get(done["result"]["url"])
    assert r.status_code == 200
    for row in wb.bad_rows:
        assert f"第{row}行" in r.text
    m = re.search(r'name="mapping" value="([^"]+)"', r.text)
    assert m
    import html

    r = client.post(
        f"/elders/import/{token}/commit",
        data={"_csrf_token": csrf, "mapping": html.unescape(m.group(1))},
        follow_redirects=False,
    )
    assert r.status_code == 303
    done = wait_run(client, r.headers["location"])
    assert done["status"] == "done", done
    r = client.get(done["result"]["url"])
    assert r.status_code == 200 and 'id="created">27<' in r.text and 'id="bad-rows">3<' in r.text
    assert run(lambda: Elder.count()) == 27
    assert client.get(columns_url).status_code == 410  # the upload is gone after the import
    r = client.post(
        "/elders/import",
        data={"_csrf_token": csrf, "district_id": str(world.district_x)},
        files={"file": ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png")},
    )
    assert r.status_code == 415 and "xlsx" in r.text
