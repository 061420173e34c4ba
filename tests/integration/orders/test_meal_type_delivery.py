"""A delivery order is priced with its set's type, as the counter is: a therapeutic set ordered
for the door gets the therapeutic subsidy of the policy (fixture THERAPEUTIC), a standard set the
standard one, and the meal written for the order keeps that split."""

from __future__ import annotations

import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.meals.tables import Meal
from canteen.registry.services import grant_delivery
from tests.integration.subsidies.policies import THERAPEUTIC, Row
from tests.integration.subsidies.test_policy_library import _publish, _setting, _today


def test_a_therapeutic_set_delivered_gets_its_own_subsidy(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    official = login("official_x")
    _publish(client, official, world.district_x, THERAPEUTIC.policy)
    rows = [
        Row("disabled82", 1000, {}, meal_type="therapeutic", price=2000),
        Row("disabled82", 1000, {}, price=1500),
    ]
    elders, sets = _setting(run, world, rows)
    elder = elders["disabled82"]
    admin = run(lambda: load_principal(world.users["admin"]))
    run(lambda: grant_delivery(admin, elder, "失能，社区评估同意送餐", None))

    def order(set_id: int) -> Any:
        body = {
            "elder_id": elder,
            "site_id": world.site_a,
            "service_date": _today().isoformat(),
            "slot": "lunch",
            "meal_set_id": set_id,
            "payment": "cash",
        }
        return client.post(
            "/api/v1/orders", json=body, headers={**official, "Idempotency-Key": uuid.uuid4().hex}
        )

    quote = client.post(
        "/api/v1/quotes",
        json={
            "site_id": world.site_a,
            "slot": "lunch",
            "date": _today().isoformat(),
            "meal_set_id": sets[("lunch", "therapeutic", 2000)],
            "elder_id": elder,
            "mode": "delivery",
        },
        headers=official,
    )
    assert quote.status_code == 200, quote.text
    placed = order(sets[("lunch", "therapeutic", 2000)])
    assert placed.status_code == 201, placed.text
    meal = run(lambda: Meal.select().where(Meal.elder == elder).output(load_json=True).first())
    assert meal is not None
    # The therapeutic tier value: 10 yuan off the 20-yuan set, split 70/30 (city/district).
    assert (meal["list_price_fen"], meal["subsidy_fen"]) == (2000, 1000)
    assert {p["source"]: p["fen"] for p in meal["funding"]} == {"city": 700, "district": 300}
    assert quote.json()["subsidy_fen"] == meal["subsidy_fen"]
