"""The counter's ticket shows an elder's categories only to a cashier who may see them
(issue #14, as ``meals.pricing.quote_for``): a cashier of another district serving a visiting
elder gets the price and the masked ID, no categories, no tier and a reason that names none."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.registry.tables import ElderCategory
from canteen.settings import get_settings
from tests.factories import World
from tests.integration.checkin.test_counter import _counter


async def _visit(w: World) -> tuple[int, str]:
    c = await _counter(w, n_elders=1)
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    await set_menu(admin, w.site_c, today, "lunch", [MealSetIn(name="套餐B", list_price_fen=1500)])
    elder = c.elders[0]
    await ElderCategory.insert(
        ElderCategory(elder=elder, code="dibao", valid_from=dt.date(2024, 1, 1), created_at=utcnow())
    )
    return elder, c.cards[elder]


def test_a_cashier_of_another_district_sees_no_categories(
    client: Any, world: World, run: Any, login: Any
) -> None:
    elder, card = run(lambda: _visit(world))
    for who, site, shown in (("cashier_c", world.site_c, False), ("cashier_a", world.site_a, True)):
        r = client.post(
            "/api/v1/checkins",
            json={"site_id": site, "card": card, "payment": "cash"},
            headers={**login(who), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["elder"]["id"] == elder and "*" in body["elder"]["masked_id"]
        if shown:
            assert body["elder"]["categories"] and body["tier"]
        else:
            assert body["elder"]["categories"] == [] and body["tier"] is None
            assert body["list_price_fen"] == body["subsidy_fen"] + body["copay_fen"]
