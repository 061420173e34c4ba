"""A district's list of meal types (issue #11): its official chooses them through the API or the
policies page; the menus of its points offer and accept only those; standard is always one."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.integration.accounts.test_auth import _page_login

from canteen.core.clock import utcnow
from canteen.regions.tables import Site
from canteen.settings import get_settings

ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]


def _day() -> str:
    return (utcnow().astimezone(get_settings().tz).date() + dt.timedelta(days=1)).isoformat()


def _menu(client: Any, h: dict[str, str], site: int, meal_type: str) -> Any:
    return client.put(
        f"/api/v1/sites/{site}/menus/{_day()}/lunch",
        json={"sets": [{"name": f"{meal_type}套餐", "list_price_fen": 1500, "meal_type": meal_type}]},
        headers=h,
    )


def test_the_district_chooses_its_meal_types_and_menus_follow(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    run(lambda: Site.update({Site.slots: ALL_DAY}).where(Site.id == world.site_a))
    h = login("official_x")
    # Every type until the district chooses.
    got = client.get(f"/api/v1/districts/{world.district_x}", headers=h).json()
    assert got["meal_types"] == ["standard", "therapeutic", "soft", "diabetic", "low_salt", "pureed"]
    assert _menu(client, h, world.site_a, "pureed").status_code == 200

    r = client.patch(
        f"/api/v1/districts/{world.district_x}", json={"meal_types": ["soft", "standard"]}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["meal_types"] == ["standard", "soft"]  # in the vocabulary's order

    # Without the standard meal: refused, in words, naming the field; nothing changed.
    bad = client.patch(f"/api/v1/districts/{world.district_x}", json={"meal_types": ["soft"]}, headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed", bad.text
    assert "餐别类型" in bad.json()["message"] and "普通餐" in bad.json()["message"], bad.json()["message"]
    unknown = client.patch(
        f"/api/v1/districts/{world.district_x}", json={"meal_types": ["standard", "banquet"]}, headers=h
    )
    assert unknown.status_code == 422
    assert client.get(f"/api/v1/districts/{world.district_x}", headers=h).json()["meal_types"] == [
        "standard",
        "soft",
    ]
    # Another district's official cannot change it.
    other = client.patch(
        f"/api/v1/districts/{world.district_x}",
        json={"meal_types": ["standard"]},
        headers=login("official_y"),
    )
    assert other.status_code in (403, 404)

    # A point's menu takes a soft set, not a pureed one (in words, in English too).
    assert _menu(client, h, world.site_a, "soft").status_code == 200
    refused = _menu(client, {**h, "Accept-Language": "en"}, world.site_a, "pureed")
    assert refused.status_code == 422 and refused.json()["code"] == "meal_type_not_served", refused.text
    assert "does not serve that meal type" in refused.json()["message"]

    # The policies page: the district's types ticked, saved from the form; the menu editor offers them.
    _page_login(client, "official_x")
    page = client.get("/policies")
    assert page.status_code == 200
    assert re.search(r'value="soft"\s+checked', page.text) and not re.search(
        r'value="pureed"\s+checked', page.text
    )
    saved = client.post(
        f"/districts/{world.district_x}/meal-types",
        data={"meal_type": ["therapeutic"], "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert saved.status_code in (302, 303), saved.text
    assert client.get(f"/api/v1/districts/{world.district_x}", headers=h).json()["meal_types"] == [
        "standard",
        "therapeutic",
    ]
    editor = client.get(f"/menus/sites/{world.site_a}/{_day()}/lunch")
    assert editor.status_code == 200
    assert (
        "治疗餐" in editor.text and "低盐餐" not in editor.text and "meal_type_not_served" not in editor.text
    )
