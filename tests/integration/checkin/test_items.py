"""The check-in's ``items``: one meal set per meal, honoured or refused, never silently dropped.

More than one id is a 422 naming the field (``one_item_per_meal``), a list longer than the bound
is refused as input (``validation_failed``), and an id that is not on today's menu of that site
and slot is a 404 (``not_found`` naming ``meal_set_id``), never the menu's first set."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals.tables import Meal
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import top_up_cash
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.settings import get_settings
from tests.integration.cards.elders import add_elder

ALL_DAY = [
    {"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
    {"slot": "dinner", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
]
ROUTES = ("/api/v1/checkins", "/api/v1/checkins/preview")


@dataclass
class Setup:
    card: str
    elder: int
    lunch: dict[str, int]  # name → id on site A's lunch menu today
    dinner_set: int  # on site A's dinner menu today
    other_site_set: int  # on site C's (district Y) lunch menu today


async def _setup(w: Any) -> Setup:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    await Site.update({Site.slots: ALL_DAY}).where(Site.id.is_in([w.site_a, w.site_c]))
    lunch = await set_menu(
        admin,
        w.site_a,
        today,
        "lunch",
        [MealSetIn(name="套餐A", list_price_fen=1500), MealSetIn(name="软食套餐", list_price_fen=1200)],
    )
    dinner = await set_menu(
        admin, w.site_a, today, "dinner", [MealSetIn(name="晚餐套餐", list_price_fen=1300)]
    )
    other = await set_menu(admin, w.site_c, today, "lunch", [MealSetIn(name="别处套餐", list_price_fen=900)])
    elder = await add_elder(district=w.district_x, community=w.community_x)
    await top_up_cash(admin, w.site_a, elder, 5000, idempotency_key=f"items-topup-{elder}")
    card = (await issue_card(admin, elder, reason="new")).token
    return Setup(
        card=card,
        elder=elder,
        lunch={s.name: s.id for s in lunch.sets},
        dinner_set=dinner.sets[0].id,
        other_site_set=other.sets[0].id,
    )


def _post(client: Any, headers: dict[str, str], route: str, body: dict[str, Any], lang: str = "zh-CN") -> Any:
    return client.post(
        route,
        json={"payment": "balance", **body},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": lang},
    )


@pytest.mark.parametrize("route", ROUTES)
def test_more_than_one_item_is_refused_naming_the_field(
    client: Any, world: Any, run: Any, login: Any, route: str
) -> None:
    s = run(lambda: _setup(world))
    h = login("cashier_a")
    body = {"site_id": world.site_a, "card": s.card, "slot": "lunch", "items": list(s.lunch.values())}
    r = _post(client, h, route, body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "one_item_per_meal"
    assert r.json()["detail"] == {"field": "items", "max_items": 1, "given": 2}
    assert "套餐" in r.json()["message"]
    en = _post(client, h, route, body, lang="en")
    assert en.json()["code"] == "one_item_per_meal" and "one meal set" in en.json()["message"]
    # A list longer than the bound is refused as input before any rule runs.
    r = _post(client, h, route, {**body, "items": [s.dinner_set] * 6})
    assert r.status_code == 422 and r.json()["code"] == "validation_failed", r.text
    assert run(lambda: Meal.count().where(Meal.elder == s.elder)) == 0


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("which", ["other_slot", "other_site", "unknown"])
def test_an_item_not_on_this_menu_is_refused_not_replaced(
    client: Any, world: Any, run: Any, login: Any, route: str, which: str
) -> None:
    s = run(lambda: _setup(world))
    h = login("cashier_a")
    item = {"other_slot": s.dinner_set, "other_site": s.other_site_set, "unknown": 2_000_000}[which]
    r = _post(client, h, route, {"site_id": world.site_a, "card": s.card, "slot": "lunch", "items": [item]})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found" and r.json()["detail"] == {"meal_set_id": item}
    assert run(lambda: Meal.count().where(Meal.elder == s.elder)) == 0


def test_the_one_item_is_honoured(client: Any, world: Any, run: Any, login: Any) -> None:
    s = run(lambda: _setup(world))
    h = login("cashier_a")
    body = {"site_id": world.site_a, "card": s.card, "slot": "lunch", "items": [s.lunch["软食套餐"]]}
    preview = _post(client, h, "/api/v1/checkins/preview", body)
    assert preview.status_code == 200, preview.text
    assert preview.json()["meal_set"] == "软食套餐" and preview.json()["list_price_fen"] == 1200
    # No items (or an empty list) is the menu's first set, as before.
    assert _post(client, h, "/api/v1/checkins/preview", {**body, "items": []}).json()["meal_set"] == "套餐A"
    served = _post(client, h, "/api/v1/checkins", body)
    assert served.status_code == 201, served.text
    assert served.json()["meal_set"] == "软食套餐" and served.json()["list_price_fen"] == 1200
    [meal] = run(lambda: Meal.select(Meal.meal_set, Meal.list_price_fen).where(Meal.elder == s.elder))
    assert meal == {"meal_set": s.lunch["软食套餐"], "list_price_fen": 1200}
