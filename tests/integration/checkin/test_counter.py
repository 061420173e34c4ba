"""The counter end to end over HTTP: one subsidised meal per slot per day under concurrency,
idempotent retries, voids, and balances that always equal the ledger."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from canteen.accounts.services import load_principal
from canteen.checkin.tables import CounterEvent
from canteen.core.clock import utcnow
from canteen.meals.tables import Meal
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import (
    balance_of,
    ledger_balance_of,
    ledger_balanced,
    top_up_cash,
    verify_balances,
)
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.services import create_policy, publish_policy
from tests.factories import World, add_site, add_user
from tests.integration.cards.elders import add_elder

ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]


@dataclass
class Counter:
    sites: list[int]
    elders: list[int] = field(default_factory=list)
    cards: dict[int, str] = field(default_factory=dict)


async def _counter(w: World, n_elders: int = 3, balance_fen: int = 5000) -> Counter:
    """Three meal points of district X serving lunch all day, the demo policy, elders with cards."""
    site_d = await add_site(w, district=w.district_x, name="小河老年食堂", community=w.community_x)
    sites = [w.site_a, w.site_b, site_d]
    await Site.update({Site.slots: ALL_DAY}).where(Site.id.is_in([*sites, w.site_c]))
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    today = utcnow().astimezone(get_settings().tz).date()
    policy = await create_policy(
        admin, w.district_x, demo_policy(district_id=w.district_x, effective_from=dt.date(2025, 1, 1))
    )
    await publish_policy(admin, policy.id)
    for site in (w.site_a, w.kitchen_x, site_d):  # site B is a satellite: it serves the kitchen's menu
        await set_menu(
            admin,
            site,
            today,
            "lunch",
            [MealSetIn(name="套餐A", list_price_fen=1500), MealSetIn(name="软食套餐", list_price_fen=1200)],
        )
    counter = Counter(sites)
    for i in range(n_elders):
        elder = await add_elder(
            district=w.district_x,
            community=w.community_x,
            name=f"测试长者{i}",
            birth_date=dt.date(1940 + i % 20, 3, 1),
        )
        counter.elders.append(elder)
        counter.cards[elder] = (await issue_card(admin, elder, reason="new")).token
        if balance_fen:
            await top_up_cash(admin, w.site_a, elder, balance_fen, idempotency_key=f"seed-topup-{elder}")
    await add_user("cashier_all", [("cashier", None, s) for s in sites])
    return counter


def _scan(
    client: Any, headers: dict[str, str], site: int, card: str, key: str | None = None, **extra: Any
) -> Any:
    return client.post(
        "/api/v1/checkins",
        json={"site_id": site, "card": card, "payment": "balance", **extra},
        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def test_twenty_concurrent_scans_of_one_card_at_three_sites_give_one_subsidised_meal(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    headers = login("cashier_all")
    elder = c.elders[0]
    card = c.cards[elder]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda i: _scan(client, headers, c.sites[i % 3], card), range(20)))
    codes = sorted(r.status_code for r in responses)
    served = [r for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    print(f"20 scans at 3 sites: {codes.count(201)} served, refusals {[x['code'] for x in refused]}")
    assert len(served) == 1, [r.text for r in responses]
    assert {x["code"] for x in refused} == {"already_served"}
    assert all(x["detail"]["meal_id"] == served[0].json()["meal_id"] for x in refused)
    body = served[0].json()
    assert body["subsidy_fen"] > 0 and body["list_price_fen"] == 1500
    assert body["subsidy_fen"] + body["copay_fen"] == body["list_price_fen"]
    assert sum(p["fen"] for p in body["funding"]) == body["subsidy_fen"]
    meals = run(lambda: Meal.select().where(Meal.elder == elder))
    assert len(meals) == 1 and meals[0]["subsidised"]
    assert run(lambda: balance_of(elder)) == 5000 - body["copay_fen"] == body["balance_after_fen"]
    refusals = run(
        lambda: CounterEvent.count().where(
            (CounterEvent.outcome == "refused") & (CounterEvent.code == "already_served")
        )
    )
    assert refusals == 19
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_retry_replays_and_void_frees_the_subsidy(client: Any, world: World, run: Any, login: Any) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    headers = login("cashier_all")
    elder, card = c.elders[0], c.cards[c.elders[0]]
    first = _scan(client, headers, c.sites[0], card, key="retry-key-0001")
    again = _scan(client, headers, c.sites[0], card, key="retry-key-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    assert run(lambda: Meal.count().where(Meal.elder == elder)) == 1
    # The same key for a different request is refused, not replayed.
    other = _scan(client, headers, c.sites[1], card, key="retry-key-0001")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # A second lunch is refused until the first is voided; at full price it may be sold.
    second = _scan(client, headers, c.sites[1], card)
    assert second.status_code == 409 and second.json()["code"] == "already_served"
    assert second.json()["detail"]["site_id"] == c.sites[0]
    meal_id = first.json()["meal_id"]
    void = client.post(f"/api/v1/meals/{meal_id}/void", json={"reason": "扫错了卡"}, headers=headers)
    assert void.status_code == 200, void.text
    assert run(lambda: balance_of(elder)) == 5000
    again_void = client.post(f"/api/v1/meals/{meal_id}/void", json={"reason": "扫错了卡"}, headers=headers)
    assert again_void.json()["code"] == "already_voided"
    served_again = _scan(client, headers, c.sites[1], card)
    assert (
        served_again.status_code == 201 and served_again.json()["subsidy_fen"] == first.json()["subsidy_fen"]
    )
    full = _scan(client, headers, c.sites[2], card, full_price_ok=True)
    assert full.status_code == 201 and full.json()["subsidy_fen"] == 0 and full.json()["copay_fen"] == 1500
    assert run(verify_balances) == [] and run(ledger_balanced)


def test_refusals_have_their_own_codes(client: Any, world: World, run: Any, login: Any) -> None:
    c = run(lambda: _counter(world, n_elders=2, balance_fen=0))
    headers = login("cashier_all")
    card = c.cards[c.elders[0]]
    tampered = card[:-3] + ("A" if card[-3] != "A" else "B") + card[-2:]
    cases = {
        "invalid_card": _scan(client, headers, c.sites[0], "not a card"),
        "invalid_card_tampered": _scan(client, headers, c.sites[0], tampered),
        "insufficient_balance": _scan(client, headers, c.sites[0], card),
        "site_forbidden": _scan(client, login("cashier_c"), c.sites[0], card),
        "missing_key": client.post(
            "/api/v1/checkins", json={"site_id": c.sites[0], "card": card}, headers=headers
        ),
    }
    # Text that is not a token is read as a typed card number, and refused as one.
    assert cases["invalid_card"].json()["code"] == "invalid_card_number"
    assert cases["invalid_card_tampered"].json()["code"] == "invalid_card"
    assert cases["insufficient_balance"].status_code == 409
    assert cases["insufficient_balance"].json()["code"] == "insufficient_balance"
    assert (
        cases["site_forbidden"].status_code == 403
        and cases["site_forbidden"].json()["code"] == "site_forbidden"
    )
    assert cases["missing_key"].status_code == 400
    assert cases["missing_key"].json()["code"] == "idempotency_key_missing"
    # Paying cash works where the balance did not; nothing of the refused attempts was written.
    cash = _scan(client, headers, c.sites[0], card, payment="cash")
    assert cash.status_code == 201, cash.text
    assert run(lambda: Meal.count()) == 1
    revoked = run(lambda: _reissue(world, c.elders[1]))
    r = _scan(client, headers, c.sites[0], revoked)
    assert r.status_code == 409 and r.json()["code"] == "card_revoked"


async def _reissue(w: World, elder: int) -> str:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    from canteen.registry.card_services import card_token

    old = await card_token(elder)
    await issue_card(admin, elder, reason="lost")
    return old


def test_random_mix_keeps_every_balance_equal_to_its_ledger(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=6, balance_fen=800))
    headers = login("cashier_all")
    rng = random.Random(20261123)
    served: list[int] = []
    outcomes: dict[str, int] = {}
    for _ in range(60):
        op = rng.choice(["scan", "scan", "scan_cash", "topup", "void"])
        elder = rng.choice(c.elders)
        if op.startswith("scan"):
            r = _scan(
                client,
                headers,
                rng.choice(c.sites),
                c.cards[elder],
                payment="cash" if op == "scan_cash" else "balance",
                full_price_ok=rng.random() < 0.5,
            )
            key = "201" if r.status_code == 201 else r.json()["code"]
            if r.status_code == 201:
                served.append(r.json()["meal_id"])
        elif op == "topup":
            r = client.post(
                "/api/v1/topups",
                json={"site_id": c.sites[0], "elder_id": elder, "amount_fen": rng.randrange(100, 3000)},
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            key = f"topup {r.status_code}"
            assert r.status_code in (200, 201), r.text
        elif served:
            meal = served.pop(rng.randrange(len(served)))
            r = client.post(f"/api/v1/meals/{meal}/void", json={"reason": "顾客退餐"}, headers=headers)
            key = f"void {r.status_code}"
            assert r.status_code == 200, r.text
        else:
            continue
        outcomes[key] = outcomes.get(key, 0) + 1
    print("random mix:", outcomes)
    assert outcomes.get("201", 0) > 5
    assert run(verify_balances) == []
    assert run(ledger_balanced)
    for elder in c.elders:
        assert run(lambda e=elder: balance_of(e)) == run(lambda e=elder: ledger_balance_of(f"elder:{e}")) >= 0
    # The rule held throughout: never two live subsidised meals for one elder in a slot and day.
    rows = run(
        lambda: Meal.select(Meal.elder, Meal.service_date, Meal.slot).where(
            (Meal.subsidised == True) & Meal.voided_at.is_null()  # noqa: E712 - Piccolo SQL
        )
    )
    keys = [(r["elder"], r["service_date"], r["slot"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_official_today_view_and_live_events(
    client: Any, app: Any, world: World, run: Any, login: Any
) -> None:
    import asyncio
    import json

    from litestar.channels import ChannelsPlugin

    c = run(lambda: _counter(world, n_elders=1))
    plugin = app.plugins.get(ChannelsPlugin)
    subscriber = run(lambda: plugin.subscribe([f"district:{world.district_x}"]))
    served = _scan(client, login("cashier_all"), c.sites[0], c.cards[c.elders[0]])
    assert served.status_code == 201

    async def first_event() -> Any:
        async for event in subscriber.iter_events():
            return event
        return None

    event = json.loads(run(lambda: asyncio.wait_for(first_event(), 5)))
    assert event["type"] == "checkin" and event["meal_id"] == served.json()["meal_id"]
    run(lambda: plugin.unsubscribe(subscriber))
    official = login("official_x")
    today = client.get(f"/api/v1/districts/{world.district_x}/today", headers=official).json()
    by_site = {s["site_id"]: s for s in today["items"]}
    assert (
        today["meals"] == 1 and by_site[c.sites[0]]["meals"] == 1 and by_site[c.sites[0]]["subsidised"] == 1
    )
    assert client.get(f"/api/v1/districts/{world.district_y}/today", headers=official).status_code == 404
    assert (
        client.get(f"/api/v1/districts/{world.district_x}/today", headers=login("cashier_all")).status_code
        == 403
    )
