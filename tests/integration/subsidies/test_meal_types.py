"""A meal set's type: set through the menus API and the menu page, kept when a later save leaves
it out, copied with the week, refused when unknown (in words, naming the field)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.menus import services as menus

DAY = "2026-11-24"


def test_meal_type_through_api_page_and_copy(client: Any, world: Any, run: Any, login: Any) -> None:
    kitchen = {**login("kitchen_k"), "Accept-Language": "en"}
    url = f"/api/v1/sites/{world.kitchen_x}/menus/{DAY}/lunch"
    body = {"sets": [{"name": "治疗餐", "list_price_fen": 2000, "meal_type": "therapeutic"},
                     {"name": "套餐A", "list_price_fen": 1500}]}  # fmt: skip
    r = client.put(url, json=body, headers=kitchen)
    assert r.status_code == 200, r.text
    assert [(s["name"], s["meal_type"]) for s in r.json()["sets"]] == [
        ("治疗餐", "therapeutic"),
        ("套餐A", "standard"),
    ]

    # A later save that leaves the type out keeps it.
    r = client.put(url, json={"sets": [{"name": "治疗餐", "list_price_fen": 2200}]}, headers=kitchen)
    assert r.status_code == 200 and r.json()["sets"][0]["meal_type"] == "therapeutic"

    bad = client.put(
        url, json={"sets": [{"name": "x", "list_price_fen": 1, "meal_type": "banquet"}]}, headers=kitchen
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    assert bad.json()["detail"]["field"] == "sets[0].meal_type"
    assert "meal type" in bad.json()["message"] and "banquet" not in bad.json()["message"]

    r = client.post(
        f"/api/v1/sites/{world.kitchen_x}/menus/copy-week",
        json={"from_monday": "2026-11-23", "to_monday": "2026-11-30"},
        headers=kitchen,
    )
    assert r.status_code == 200, r.text
    copied = run(lambda: menus.menu_for(world.kitchen_x, dt.date(2026, 12, 1), "lunch"))
    assert copied is not None and copied.sets[0].meal_type == "therapeutic"


def test_menu_page_sets_the_type(client: Any, world: Any, run: Any, login: Any) -> None:
    headers = login("operator_a")
    form = client.get(f"/menus/sites/{world.site_a}/{DAY}/lunch", headers=headers)
    assert form.status_code == 200 and 'name="set0_type"' in form.text and "治疗餐" in form.text
    data = {
        "_csrf_token": client.cookies.get("csrftoken"),
        "set0_name": "软食套餐",
        "set0_price": "12",
        "set0_type": "soft",
        "set1_name": "套餐A",
        "set1_price": "15",
    }
    ok = client.post(
        f"/menus/sites/{world.site_a}/{DAY}/lunch", data=data, headers=headers, follow_redirects=False
    )
    assert ok.status_code == 303, ok.text
    menu = run(lambda: menus.menu_for(world.site_a, dt.date(2026, 11, 24), "lunch"))
    assert menu is not None and [(s.name, s.meal_type) for s in menu.sets] == [
        ("软食套餐", "soft"),
        ("套餐A", "standard"),
    ]
    again = client.get(f"/menus/sites/{world.site_a}/{DAY}/lunch", headers=headers)
    assert '<option value="soft" selected>' in again.text
