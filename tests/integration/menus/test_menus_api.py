"""The menus API and pages over HTTP, and capacity under concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.menus import services as menus


def test_menu_api_roundtrip(client: Any, world: Any, login: Any) -> None:
    kitchen = login("kitchen_k")
    dish = client.post(
        "/api/v1/dishes",
        json={"district_id": world.district_x, "name": "冬瓜排骨汤", "diet_tags": ["low_salt", "soft"]},
        headers=kitchen,
    )
    assert dish.status_code == 201, dish.text
    body = {
        "sets": [
            {
                "name": "套餐A",
                "list_price_fen": 1500,
                "dish_ids": [dish.json()["id"]],
                "portions_available": 5,
            }
        ]
    }
    put = client.put(f"/api/v1/sites/{world.kitchen_x}/menus/2026-11-24/lunch", json=body, headers=kitchen)
    assert put.status_code == 200, put.text
    assert put.json()["sets"][0]["diet_tags"] == ["low_salt", "soft"]
    bad = client.put(f"/api/v1/sites/{world.kitchen_x}/menus/2026-11-24/supper", json=body, headers=kitchen)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    unknown = client.put(
        f"/api/v1/sites/{world.kitchen_x}/menus/2026-11-24/lunch",
        json={**body, "colour": "red"},
        headers=kitchen,
    )
    assert unknown.status_code in (400, 422)
    # The satellite's cashier reads the kitchen's menu through its own site.
    cashier_b = login("cashier_b")
    listed = client.get(
        f"/api/v1/sites/{world.site_b}/menus",
        params={"from": "2026-11-23", "to": "2026-11-29"},
        headers=cashier_b,
    )
    assert listed.status_code == 200 and [m["slot"] for m in listed.json()["items"]] == ["lunch"]
    assert (
        client.put(
            f"/api/v1/sites/{world.site_b}/menus/2026-11-24/lunch", json=body, headers=login("admin")
        ).json()["code"]
        == "menu_not_cooking_site"
    )
    copied = client.post(
        f"/api/v1/sites/{world.kitchen_x}/menus/copy-week",
        json={"from_monday": "2026-11-23", "to_monday": "2026-11-30"},
        headers=kitchen,
    )
    assert copied.status_code == 200 and copied.json() == {"copied": 1, "skipped": 0}
    week = client.get(f"/menus/sites/{world.kitchen_x}?week=2026-11-23", headers=kitchen)
    assert week.status_code == 200 and "套餐A" in week.text and "15.00" in week.text


def test_menu_page_form_saves_yuan_as_fen(client: Any, world: Any, run: Any, login: Any) -> None:
    headers = login("operator_a")
    form = client.get(f"/menus/sites/{world.site_a}/2026-11-24/lunch", headers=headers)
    assert form.status_code == 200
    csrf = client.cookies.get("csrftoken")
    data = {
        "_csrf_token": csrf,
        "set0_name": "套餐A",
        "set0_price": "12.5",
        "set0_portions": "",
        "set1_name": "套餐B",
        "set1_price": "abc",
    }
    bad = client.post(f"/menus/sites/{world.site_a}/2026-11-24/lunch", data=data, headers=headers)
    assert bad.status_code == 422
    data["set1_price"] = "10"
    ok = client.post(
        f"/menus/sites/{world.site_a}/2026-11-24/lunch", data=data, headers=headers, follow_redirects=False
    )
    assert ok.status_code == 303, ok.text
    import datetime as dt

    menu = run(lambda: menus.menu_for(world.site_a, dt.date(2026, 11, 24), "lunch"))
    assert menu is not None and [(s.name, s.list_price_fen) for s in menu.sets] == [
        ("套餐A", 1250),
        ("套餐B", 1000),
    ]


def test_concurrent_requests_sell_exactly_the_capacity(client: Any, world: Any, run: Any, login: Any) -> None:
    headers = login("admin")
    put = client.put(
        f"/api/v1/sites/{world.site_a}/menus/2026-11-24/lunch",
        json={"sets": [{"name": "套餐A", "list_price_fen": 1500, "portions_available": 5}]},
        headers=headers,
    )
    set_id = put.json()["sets"][0]["id"]

    async def take() -> str:
        try:
            async with write_transaction():
                await menus.take_portion(set_id)
            return "ok"
        except DomainError as err:
            return err.code

    # Each call is its own task on the app's loop, submitted from many threads at once.
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: run(take), range(15)))
    assert results.count("ok") == 5 and results.count("sold_out") == 10
