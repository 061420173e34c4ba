"""Issue #17: an elder's allergen codes and IDDSI level through the registry API — bad input is
a 422 naming the field, good input is stored, shown and audited."""

from __future__ import annotations

from typing import Any

from canteen.core.tables import AuditEntry
from tests.integration.registry.conftest import elder_body


def test_register_and_edit_allergens_and_texture(
    client: Any, world: Any, login: Any, register: Any, run: Any
) -> None:
    h = login("official_x")
    r = client.post("/api/v1/elders", json=elder_body(world, allergens=["shrimp"]), headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "unknown_allergen" and r.json()["detail"]["field"] == "allergens"
    r = client.post("/api/v1/elders", json=elder_body(world, texture_level=9), headers=h)
    assert r.status_code in (400, 422) and "texture_level" in r.text, r.text
    e = register(allergens=["crustacean", "peanut", "crustacean"], texture_level=5, allergies="不吃香菜")
    assert e["allergens"] == ["peanut", "crustacean"] and e["texture_level"] == 5
    assert e["allergies"] == "不吃香菜"
    r = client.patch(
        f"/api/v1/elders/{e['id']}",
        json={"version": e["version"], "allergens": [], "texture_level": None},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["allergens"] == [] and r.json()["texture_level"] is None
    r = client.patch(
        f"/api/v1/elders/{e['id']}", json={"version": r.json()["version"], "allergens": ["gluten"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"] == {"field": "allergens", "code": "gluten"}
    rows = run(
        lambda: (
            AuditEntry.select(AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.action == "elder.update")
            .output(load_json=True)
        )
    )
    assert (
        rows
        and rows[-1]["before"]["allergens"] == ["peanut", "crustacean"]
        and rows[-1]["after"]["allergens"] == []
    )


def test_the_form_takes_allergens_and_texture_in_words(client: Any, world: Any, run: Any) -> None:
    from canteen.registry.tables import Elder
    from tests.integration.registry.conftest import nid
    from tests.integration.registry.test_pages import web_login

    csrf = web_login(client, "official_x")
    form = {
        "_csrf_token": csrf,
        "name": "沈桂英",
        "national_id": nid(),
        "community_id": str(world.community_x),
        "living_situation": "alone",
        "allergens": ["crustacean", "egg"],
        "texture_level": "5",
    }
    r = client.post("/elders/new", data={**form, "texture_level": "8"})
    assert r.status_code == 422 and 'id="texture_level-error"' in r.text, r.text
    assert run(lambda: Elder.count()) == 0
    r = client.post("/elders/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    elder_id = int(r.headers["location"].split("/")[2].split("?")[0])
    profile = client.get(f"/elders/{elder_id}")
    assert "蛋类" in profile.text and "虾蟹等甲壳类" in profile.text and "5级 细碎湿软" in profile.text
    edit = client.get(f"/elders/{elder_id}/edit")
    assert 'value="crustacean" checked' in edit.text and '<option value="5" selected>' in edit.text
