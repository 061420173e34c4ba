"""Issue #17: a set holding one of the elder's allergen groups is refused at ordering, at the
counter and by standing orders; staff may override with a reason, which is audited."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.tables import AuditEntry
from canteen.menus.schemas import DishCreate, DishUpdate, MealSetIn
from canteen.menus.services import create_dish, set_menu, update_dish
from canteen.orders.actors import ElderPrincipal
from canteen.orders.tables import Order
from canteen.registry.tables import Elder
from tests.factories import World, add_user
from tests.integration.orders.setup import Delivery, delivery_world


async def shrimp_world(w: World) -> tuple[Delivery, dict[str, int]]:
    """Two elders; the first is allergic to crustaceans. Today and tomorrow: 白灼虾套餐 (with shrimp)
    and 青菜套餐 (without)."""
    d = await delivery_world(w, n_elders=2)
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    shrimp = await create_dish(
        admin, DishCreate(district_id=w.district_x, name="白灼虾", allergens=["crustacean"], texture_level=7)
    )
    greens = await create_dish(admin, DishCreate(district_id=w.district_x, name="清炒时蔬", texture_level=6))
    sets = [
        MealSetIn(name="白灼虾套餐", list_price_fen=1800, dish_ids=[shrimp.id, greens.id]),
        MealSetIn(name="青菜套餐", list_price_fen=1500, dish_ids=[greens.id]),
    ]
    now = utcnow()
    ids: dict[str, int] = {}
    m1 = await set_menu(admin, w.site_a, d.today, "lunch", sets, cutoff_at=now + dt.timedelta(hours=1))
    m2 = await set_menu(admin, w.site_a, d.tomorrow, "lunch", sets, cutoff_at=now + dt.timedelta(hours=20))
    for s in m1.sets:
        ids[s.name] = s.id
    for s in m2.sets:
        ids["tomorrow:" + s.name] = s.id
    assert m1.sets[0].allergens == ["crustacean"] and m1.sets[0].texture_level == 7
    assert m1.sets[1].allergens == [] and m1.sets[1].texture_level == 6
    await Elder.update({Elder.allergens: ["crustacean", "peanut"], Elder.texture_level: 6}).where(
        Elder.id == d.elders[0]
    )
    return d, ids


def _order(client: Any, headers: dict[str, str], d: Delivery, elder: int, set_id: int, **kw: Any) -> Any:
    return client.post(
        "/api/v1/orders",
        json={
            "elder_id": elder,
            "site_id": d.site,
            "service_date": d.today.isoformat(),
            "slot": "lunch",
            "meal_set_id": set_id,
            **kw,
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def _audits(run: Any, action: str) -> list[dict[str, Any]]:
    return run(
        lambda: (
            AuditEntry.select(AuditEntry.target_id, AuditEntry.after)
            .where(AuditEntry.action == action)
            .output(load_json=True)
        )
    )


def test_ordering_refuses_the_allergen_and_staff_override_is_audited(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d, ids = run(lambda: shrimp_world(world))
    staff = login("official_x")
    allergic, other = d.elders
    r = client.post(
        "/api/v1/orders",
        json={
            "elder_id": allergic,
            "site_id": d.site,
            "service_date": d.today.isoformat(),
            "slot": "lunch",
            "meal_set_id": ids["白灼虾套餐"],
        },
        headers={**staff, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "allergen_conflict" and body["detail"]["allergens"] == ["crustacean"]
    assert body["message"] == "该套餐含有长者过敏的食物：虾蟹等甲壳类"
    r = client.post(
        "/api/v1/orders",
        json={
            "elder_id": allergic,
            "site_id": d.site,
            "service_date": d.today.isoformat(),
            "slot": "lunch",
            "meal_set_id": ids["白灼虾套餐"],
        },
        headers={**staff, "Idempotency-Key": uuid.uuid4().hex, "Accept-Language": "en"},
    )
    assert (
        r.json()["message"] == "This set contains food the elder is allergic to: Crustaceans (shrimp, crab)"
    )
    # Nothing was written by the refusals.
    assert run(lambda: Order.count()) == 0
    # A one-letter reason is not a reason.
    r = _order(client, staff, d, allergic, ids["白灼虾套餐"], allergen_override_reason=" x ")
    assert r.status_code == 422 and r.json()["code"] == "allergen_override_reason_required", r.text
    assert r.json()["detail"]["field"] == "allergen_override_reason"
    # The set without shrimp is fine; the other elder may have shrimp.
    assert _order(client, staff, d, other, ids["白灼虾套餐"]).status_code == 201
    # Staff override with a reason: placed, and audited.
    r = _order(client, staff, d, allergic, ids["白灼虾套餐"], allergen_override_reason="家属确认只吃青菜")
    assert r.status_code == 201, r.text
    rows = _audits(run, "order.allergen_override")
    assert len(rows) == 1 and rows[0]["target_id"] == str(r.json()["id"])
    assert (
        rows[0]["after"]["allergens"] == ["crustacean"] and rows[0]["after"]["reason"] == "家属确认只吃青菜"
    )


def test_an_elder_or_family_can_never_override(client: Any, world: Any, run: Any) -> None:
    from canteen.orders.services import place_order, quote_order

    d, ids = run(lambda: shrimp_world(world))
    allergic = d.elders[0]
    me = ElderPrincipal("elder", allergic, (allergic,))
    family = ElderPrincipal("family", 7, (allergic,))
    for actor, reason in ((me, None), (me, "我想吃"), (family, "我确认")):

        async def go(actor: Any = actor, reason: Any = reason) -> Any:
            return await place_order(
                actor,
                elder_id=allergic,
                site_id=d.site,
                day=d.today,
                slot="lunch",
                meal_set_id=ids["白灼虾套餐"],
                payment="balance",
                idempotency_key=uuid.uuid4().hex,
                allergen_override_reason=reason,
            )

        try:
            run(go)
        except DomainError as err:
            expected = "allergen_conflict" if reason is None else "allergen_override_not_allowed"
            assert err.code == expected
        else:
            raise AssertionError("an elder ordered a set with their allergen")
    try:
        run(
            lambda: quote_order(
                me,
                elder_id=allergic,
                site_id=d.site,
                day=d.today,
                slot="lunch",
                meal_set_id=ids["白灼虾套餐"],
            )
        )
    except DomainError as err:
        assert err.code == "allergen_conflict"
    else:
        raise AssertionError("the quote did not refuse")
    q = run(
        lambda: quote_order(
            me, elder_id=allergic, site_id=d.site, day=d.today, slot="lunch", meal_set_id=ids["青菜套餐"]
        )
    )
    assert q.list_price_fen == 1500
    assert run(lambda: Order.count()) == 0


def test_standing_orders_refuse_and_materialisation_skips(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    from canteen.orders.services import materialise_standing_orders

    d, _ = run(lambda: shrimp_world(world))
    staff = login("official_x")
    allergic, other = d.elders
    every_day = [0, 1, 2, 3, 4, 5, 6]
    r = client.post(
        "/api/v1/standing-orders",
        json={"elder_id": allergic, "site_id": d.site, "weekdays": every_day, "meal_set_name": "白灼虾套餐"},
        headers=staff,
    )
    assert r.status_code == 409 and r.json()["code"] == "allergen_conflict", r.text
    assert r.json()["detail"]["field"] == "meal_set_name"
    # Named sets without menus yet are accepted; the day the menu holds shrimp is skipped.
    for elder in (allergic, other):
        r = client.post(
            "/api/v1/standing-orders",
            json={"elder_id": elder, "site_id": d.site, "weekdays": every_day, "meal_set_name": "鲜虾套餐"},
            headers=staff,
        )
        assert r.status_code == 201, r.text

    async def shrimp_tomorrow() -> None:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        dish = await create_dish(
            admin, DishCreate(district_id=world.district_x, name="虾仁", allergens=["crustacean"])
        )
        await set_menu(
            admin,
            world.site_a,
            d.tomorrow,
            "lunch",
            [MealSetIn(name="鲜虾套餐", list_price_fen=1600, dish_ids=[dish.id])],
            cutoff_at=utcnow() + dt.timedelta(hours=20),
        )

    run(shrimp_tomorrow)
    counts = run(lambda: materialise_standing_orders(d.tomorrow))
    assert counts == {"placed": 1, "allergen_conflict": 1}, counts
    placed = run(lambda: Order.select(Order.elder).where(Order.service_date == d.tomorrow))
    assert [p["elder"] for p in placed] == [other]


def test_a_dish_found_to_hold_an_allergen_updates_the_coming_sets(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d, ids = run(lambda: shrimp_world(world))
    staff = login("official_x")
    allergic = d.elders[0]

    async def peanuts_in_greens() -> None:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        greens = await Elder.raw("SELECT id FROM dish WHERE name = {}", "清炒时蔬")
        await update_dish(admin, int(greens[0]["id"]), DishUpdate(allergens=["peanut"]))

    run(peanuts_in_greens)
    r = _order(client, staff, d, allergic, ids["青菜套餐"])
    assert r.status_code == 409 and r.json()["detail"]["allergens"] == ["peanut"], r.text


def test_counter_refuses_and_overrides_with_an_audit_row(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    d, ids = run(lambda: shrimp_world(world))
    run(lambda: add_user("cashier_counter", [("cashier", None, d.site)]))
    cashier = login("cashier_counter")
    allergic = d.elders[0]

    def scan(**kw: Any) -> Any:
        return client.post(
            "/api/v1/checkins",
            json={
                "site_id": d.site,
                "card": d.cards[allergic],
                "slot": "lunch",
                "items": [ids["白灼虾套餐"]],
                **kw,
            },
            headers={**cashier, "Idempotency-Key": uuid.uuid4().hex},
        )

    r = client.post(
        "/api/v1/checkins/preview",
        json={"site_id": d.site, "card": d.cards[allergic], "slot": "lunch", "items": [ids["白灼虾套餐"]]},
        headers=cashier,
    )
    assert r.status_code == 200 and r.json()["allergen_conflicts"] == ["crustacean"], r.text
    assert "虾蟹等甲壳类" in r.json()["allergen_message"]
    r = scan()
    assert r.status_code == 409 and r.json()["code"] == "allergen_conflict", r.text
    assert r.json()["detail"]["allergens"] == ["crustacean"]
    r = scan(allergen_override_reason="")
    assert r.status_code == 422 and r.json()["code"] == "allergen_override_reason_required"
    r = scan(allergen_override_reason="医嘱可食")
    assert r.status_code == 201, r.text
    rows = _audits(run, "meal.allergen_override")
    assert len(rows) == 1 and rows[0]["target_id"] == str(r.json()["meal_id"])
    assert rows[0]["after"]["reason"] == "医嘱可食" and rows[0]["after"]["allergens"] == ["crustacean"]
