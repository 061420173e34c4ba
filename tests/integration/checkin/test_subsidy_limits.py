"""The subsidy referee follows the policy (issues #11, #12): ``per_slot_daily_limit`` N > 1,
``per_day_limit`` across slots and ``monthly_cap_meals`` per calendar month, exactly once under
concurrent scans, given back by a void.

The counters (``subsidy_usage``) are incremented and checked in the meal's own write; the
meals stay the truth, so every test ends with counters equal to the live subsidised meals.
"""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals.tables import Meal, SubsidyUsage
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import ledger_balanced, top_up_cash, verify_balances
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.services import create_policy, list_policies, publish_policy, retire_policy
from tests.factories import World, add_site, add_user
from tests.integration.cards.elders import add_elder

SLOTS = [
    {"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
    {"slot": "dinner", "start": "00:00", "end": "23:59", "cutoff": "00:00"},
]


async def _world(
    w: World, *, per_slot: int, per_day: int | None, per_month: int | None = None
) -> tuple[list[int], int, str]:
    site_d = await add_site(w, district=w.district_x, name="小河老年食堂", community=w.community_x)
    sites = [w.site_a, w.site_b, site_d]
    await Site.update({Site.slots: SLOTS}).where(Site.id.is_in([*sites, w.kitchen_x]))
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    doc = demo_policy(district_id=w.district_x, effective_from=dt.date(2025, 1, 1))
    doc = msgspec.structs.replace(doc, per_slot_daily_limit=per_slot)
    doc = msgspec.structs.replace(doc, per_day_limit=per_day, monthly_cap_meals=per_month)
    policy = await create_policy(admin, w.district_x, doc)
    await publish_policy(admin, policy.id)
    for site in (w.site_a, w.kitchen_x, site_d):
        for slot in ("lunch", "dinner"):
            await set_menu(admin, site, today, slot, [MealSetIn(name="套餐A", list_price_fen=1500)])
    elder = await add_elder(
        district=w.district_x, community=w.community_x, name="限额长者", birth_date=dt.date(1941, 5, 1)
    )
    card = (await issue_card(admin, elder, reason="new")).token
    await top_up_cash(admin, w.site_a, elder, 50_000, idempotency_key=f"seed-topup-{elder}")
    await add_user("cashier_all", [("cashier", None, s) for s in sites])
    return sites, elder, card


def _scan(client: Any, headers: dict[str, str], site: int, card: str, **extra: Any) -> Any:
    return client.post(
        "/api/v1/checkins",
        json={"site_id": site, "card": card, "payment": "balance", **extra},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


async def _counters_match_meals(elder: int) -> bool:
    meals = await Meal.select(Meal.service_date, Meal.slot).where(
        (Meal.elder == elder) & (Meal.subsidised == True) & Meal.voided_at.is_null()  # noqa: E712
    )
    want: dict[tuple[str, str], int] = {}
    for m in meals:
        day = (
            m["service_date"]
            if isinstance(m["service_date"], dt.date)
            else dt.date.fromisoformat(str(m["service_date"]))
        )
        for key in ((str(day), m["slot"]), (str(day), "*"), (str(day.replace(day=1)), "M")):
            want[key] = want.get(key, 0) + 1
    rows = await SubsidyUsage.select().where(SubsidyUsage.elder == elder)
    have = {(str(r["service_date"]), r["slot"]): r["n"] for r in rows if r["n"]}
    return have == want


def test_two_per_slot_under_twenty_concurrent_scans_and_a_void_gives_one_back(
    client: Any, world: World, run: Any, login: Any
) -> None:
    sites, elder, card = run(lambda: _world(world, per_slot=2, per_day=None))
    headers = login("cashier_all")
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(
            pool.map(lambda i: _scan(client, headers, sites[i % 3], card, slot="lunch"), range(20))
        )
    served = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    assert len(served) == 2, [r.text for r in responses]
    assert all(s["subsidy_fen"] > 0 for s in served)
    assert {x["code"] for x in refused} == {"already_served"}
    assert run(lambda: _counters_match_meals(elder))

    # A void gives the subsidised meal back: the next scan is subsidised again, the one after refused.
    void = client.post(
        f"/api/v1/meals/{served[0]['meal_id']}/void", json={"reason": "录错了"}, headers=headers
    )
    assert void.status_code == 200, void.text
    again = _scan(client, headers, sites[0], card, slot="lunch")
    assert again.status_code == 201 and again.json()["subsidy_fen"] > 0
    third = _scan(client, headers, sites[1], card, slot="lunch")
    assert third.status_code == 409 and third.json()["code"] == "already_served"
    # Agreed at full price, the same scan is served without a subsidy and counts in no limit.
    full = _scan(client, headers, sites[1], card, slot="lunch", full_price_ok=True)
    assert full.status_code == 201 and full.json()["subsidy_fen"] == 0
    assert full.json()["copay_fen"] == full.json()["list_price_fen"] == 1500
    assert run(lambda: _counters_match_meals(elder))
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_the_day_limit_spans_the_slots(client: Any, world: World, run: Any, login: Any) -> None:
    sites, elder, card = run(lambda: _world(world, per_slot=2, per_day=3))
    headers = login("cashier_all")
    lunch = [_scan(client, headers, sites[i % 3], card, slot="lunch") for i in range(2)]
    assert [r.status_code for r in lunch] == [201, 201]
    with ThreadPoolExecutor(max_workers=10) as pool:
        dinner = list(
            pool.map(lambda i: _scan(client, headers, sites[i % 3], card, slot="dinner"), range(10))
        )
    served = [r.json() for r in dinner if r.status_code == 201]
    assert len(served) == 1 and served[0]["subsidy_fen"] > 0, [r.text for r in dinner]
    assert {r.json()["code"] for r in dinner if r.status_code != 201} == {"already_served"}
    live = run(lambda: Meal.count().where((Meal.elder == elder) & (Meal.subsidised == True)))  # noqa: E712
    assert live == 3
    assert run(lambda: _counters_match_meals(elder))


def test_ten_concurrent_retries_with_one_key_write_one_meal(
    client: Any, world: World, run: Any, login: Any
) -> None:
    sites, elder, card = run(lambda: _world(world, per_slot=1, per_day=None))
    headers = {**login("cashier_all"), "Idempotency-Key": "same-key-" + uuid.uuid4().hex[:12]}

    def post(_: int) -> Any:
        body = {"site_id": sites[0], "card": card, "payment": "balance", "slot": "lunch"}
        return client.post("/api/v1/checkins", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [r.text for r in responses]
    assert len({r.json()["meal_id"] for r in responses}) == 1
    assert len({r.json()["balance_after_fen"] for r in responses}) == 1
    assert run(lambda: Meal.count().where(Meal.elder == elder)) == 1
    assert run(lambda: _counters_match_meals(elder))
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_the_monthly_meal_cap_holds_under_twenty_concurrent_scans(
    client: Any, world: World, run: Any, login: Any
) -> None:
    # Three subsidised meals a month, five a slot: the month's counter is the referee.
    sites, elder, card = run(lambda: _world(world, per_slot=5, per_day=5, per_month=3))
    headers = login("cashier_all")
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(
            pool.map(lambda i: _scan(client, headers, sites[i % 3], card, slot="lunch"), range(20))
        )
    subsidised = [r.json() for r in responses if r.status_code == 201 and r.json()["subsidy_fen"] > 0]
    assert len(subsidised) == 3, [r.text for r in responses]
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    live = run(lambda: Meal.count().where((Meal.elder == elder) & (Meal.subsidised == True)))  # noqa: E712
    assert live == 3
    assert run(lambda: _counters_match_meals(elder))
    # The fourth meal of the month is at the list price, and says why.
    fourth = _scan(client, headers, sites[0], card, slot="lunch")
    assert fourth.status_code == 201 and fourth.json()["subsidy_fen"] == 0, fourth.text
    assert fourth.json()["copay_fen"] == 1500
    # A void gives one back: the next meal is subsidised again.
    void = client.post(
        f"/api/v1/meals/{subsidised[0]['meal_id']}/void", json={"reason": "录错了"}, headers=headers
    )
    assert void.status_code == 200, void.text
    again = _scan(client, headers, sites[1], card, slot="lunch")
    assert again.status_code == 201 and again.json()["subsidy_fen"] > 0, again.text
    assert run(lambda: _counters_match_meals(elder))
    assert run(verify_balances) == [] and run(ledger_balanced)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    per_slot=st.integers(1, 3),
    per_day=st.none() | st.integers(1, 4),
    per_month=st.none() | st.integers(1, 5),
    scans=st.integers(4, 12),
)
def test_prop_no_limit_is_exceeded_under_concurrent_scans(
    client: Any,
    world: World,
    run: Any,
    login: Any,
    per_slot: int,
    per_day: int | None,
    per_month: int | None,
    scans: int,
) -> None:
    """Any mix of the three limits, any number of simultaneous scans over two slots and three
    points: the subsidised meals never exceed a limit, and the counters equal the meals."""
    if not hasattr(world, "_limits_sites"):
        sites, _, _ = run(lambda: _world(world, per_slot=1, per_day=None))
        world._limits_sites = sites  # type: ignore[attr-defined]
    sites = world._limits_sites  # type: ignore[attr-defined]

    async def policy_and_elder() -> tuple[int, str]:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        for v in (await list_policies(admin, world.district_x)).items:
            if v.status == "published":
                await retire_policy(admin, v.id)
        doc = demo_policy(district_id=world.district_x, effective_from=dt.date(2025, 1, 1))
        doc = msgspec.structs.replace(
            doc, per_slot_daily_limit=per_slot, per_day_limit=per_day, monthly_cap_meals=per_month
        )
        await publish_policy(admin, (await create_policy(admin, world.district_x, doc)).id)
        elder = await add_elder(
            district=world.district_x,
            community=world.community_x,
            name="限额长者",
            birth_date=dt.date(1941, 5, 1),
        )
        card = (await issue_card(admin, elder, reason="new")).token
        await top_up_cash(admin, world.site_a, elder, 50_000, idempotency_key=f"seed-topup-{elder}")
        return elder, card

    elder, card = run(policy_and_elder)
    headers = login("cashier_all")
    with ThreadPoolExecutor(max_workers=scans) as pool:
        responses = list(
            pool.map(
                lambda i: _scan(client, headers, sites[i % 3], card, slot=("lunch", "dinner")[i % 2]),
                range(scans),
            )
        )
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    meals = run(
        lambda: Meal.select(Meal.slot).where(
            (Meal.elder == elder) & (Meal.subsidised == True) & Meal.voided_at.is_null()  # noqa: E712
        )
    )
    per = {slot: sum(1 for m in meals if m["slot"] == slot) for slot in ("lunch", "dinner")}
    assert max(per.values()) <= per_slot, (per, per_slot)
    assert per_day is None or len(meals) <= per_day, (len(meals), per_day)
    assert per_month is None or len(meals) <= per_month, (len(meals), per_month)
    assert len(meals) >= 1  # the first scan is always subsidised
    assert run(lambda: _counters_match_meals(elder))
