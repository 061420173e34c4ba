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


async def _visit(w: World) -> list[tuple[int, str]]:
    # Two 低保 elders of district X: one visits district Y's point, one eats at home. (One elder
    # scanned at both would be refused the second subsidised lunch: the limit is city-wide.)
    c = await _counter(w, n_elders=2)
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    await set_menu(admin, w.site_c, today, "lunch", [MealSetIn(name="套餐B", list_price_fen=1500)])
    for elder in c.elders:
        await ElderCategory.insert(
            ElderCategory(elder=elder, code="dibao", valid_from=dt.date(2024, 1, 1), created_at=utcnow())
        )
    return [(e, c.cards[e]) for e in c.elders]


def test_a_cashier_of_another_district_sees_no_categories(
    client: Any, world: World, run: Any, login: Any
) -> None:
    visits = run(lambda: _visit(world))
    for (elder, card), (who, site, shown) in zip(
        visits, (("cashier_c", world.site_c, False), ("cashier_a", world.site_a, True)), strict=True
    ):
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
            # Priced by the home district's policy (低保: 3 yuan co-pay at home); away from home
            # only its city share (60 %) follows the person: 12 yuan × 60 % = 7.20 yuan.
            assert body["subsidy_fen"] == 720, body
