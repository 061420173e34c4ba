"""The policy editor and the card pages, rendered by the server (browser flows are in tests/web)."""

from __future__ import annotations

from typing import Any

from canteen.subsidies.tables import SubsidyPolicy
from tests.factories import PASSWORD
from tests.integration.cards.elders import add_elder


def _sign_in(client: Any, username: str) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (301, 302, 303), r.text


def _post(client: Any, path: str, data: Any, **kw: Any) -> Any:
    if not isinstance(data, dict):
        multi: dict[str, list[str]] = {}
        for key, value in data:
            multi.setdefault(key, []).append(value)
        data = multi
    data = {**data, "_csrf_token": client.cookies.get("csrftoken")}
    return client.post(path, data=data, follow_redirects=False, **kw)


def _form_fields(client: Any, district: int) -> list[tuple[str, str]]:
    """The editor's fields as a browser would post them, from the page's own defaults."""
    import re
    from html import unescape

    html = client.get(f"/districts/{district}/policies/new").text
    fields: list[tuple[str, str]] = []
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) == "_csrf_token":
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag and "checked" not in tag:
            continue
        fields.append((name.group(1), unescape(value.group(1)) if value else ""))
    for select in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"\s+selected', select[1]) or re.search(
            r'<option value="([^"]*)"', select[1]
        )
        fields.append((select[0], chosen.group(1) if chosen else ""))
    return fields


def test_editor_previews_saves_and_publishes(client, run, world) -> None:
    _sign_in(client, "official_x")
    r = client.get(f"/districts/{world.district_x}/policies/new")
    assert r.status_code == 200 and 'hx-post="/districts/' in r.text and "htmx.min.js" in r.text
    assert 'data-sample="age91"' in r.text

    fields = _form_fields(client, world.district_x)
    r = _post(
        client, f"/districts/{world.district_x}/policies/preview", fields, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200, r.text
    assert r.text.lstrip().startswith('<div id="preview"') and "<html" not in r.text
    assert "¥7.00" in r.text  # the 91-year-old pays 7 of 15 yuan

    broken = [(k, "50" if k == "funding-city" else v) for k, v in fields]
    r = _post(client, f"/districts/{world.district_x}/policies/new", broken)
    assert r.status_code == 422
    assert "100%" in r.text and 'aria-describedby="err-funding"' in r.text
    assert run(lambda: SubsidyPolicy.count()) == 0

    r = _post(client, f"/districts/{world.district_x}/policies/new", fields)
    assert r.status_code in (302, 303), r.text
    location = r.headers["location"]
    r = client.get(location)
    assert r.status_code == 200 and "第1版" in r.text  # the version in words, not "v1"
    r = _post(client, location + "/publish", {})
    assert r.status_code in (302, 303)
    assert run(lambda: SubsidyPolicy.select(SubsidyPolicy.status).first())["status"] == "published"
    assert client.get("/policies").status_code == 200


def test_card_pages(client, run, world) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    _sign_in(client, "official_x")
    r = client.get(f"/elders/{elder}/card")
    assert r.status_code == 200 and "王秀英" in r.text
    r = _post(client, f"/elders/{elder}/card", {"reason": "first"})
    assert r.status_code in (302, 303)
    r = client.get(r.headers["location"])
    assert f"/api/v1/elders/{elder}/card.png" in r.text
    assert client.get(f"/api/v1/elders/{elder}/card.png").status_code == 200

    assert client.get("/cards/print").status_code == 200
    r = _post(client, "/cards/print", {"community_id": str(world.community_x)})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")  # the sheet is a job
    r = _post(client, "/cards/print", {"community_id": ""})
    assert r.status_code == 422


def test_card_page_scope(client, run, world) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    _sign_in(client, "official_y")
    assert client.get(f"/elders/{elder}/card").status_code == 404
