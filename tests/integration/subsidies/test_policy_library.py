"""The policy library (tests/integration/subsidies/policies.py) over real HTTP: each policy
stored and published through the API, elders in the registry, sets of each type on the day's
menus, and every row of its table quoted by ``POST /api/v1/quotes`` with the set (its price and
type come from the menu) — co-pay and per-payer fen as worked out by hand. Then real check-ins
(``POST /api/v1/checkins``): the meal keeps the split, and the next quote follows the per-day
and the meal-count limits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals.tables import Meal
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.registry.services import grant_delivery
from canteen.settings import get_settings
from canteen.subsidies.schemas import Policy, Usage
from tests.integration.cards.elders import add_elder
from tests.integration.subsidies.policies import (
    ELDERS,
    LIBRARY,
    PER_DAY,
    THERAPEUTIC,
    Fixture,
    Row,
    birth_date,
)

ALL_DAY = [
    {"slot": s, "start": "00:00", "end": "23:59", "cutoff": "00:00"} for s in ("breakfast", "lunch", "dinner")
]


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


def _body(policy: Policy) -> dict[str, Any]:
    doc = msgspec.to_builtins(policy)
    doc.pop("district_id", None)
    doc.pop("version")
    doc["effective_from"] = min(policy.effective_from, _today().replace(day=1)).isoformat()
    return doc


def _publish(client: Any, h: dict[str, str], district: int, policy: Policy) -> None:
    r = client.post(f"/api/v1/districts/{district}/policies", json=_body(policy), headers=h)
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/policies/{r.json()['id']}/publish", headers=h)
    assert r.status_code == 200, r.text


def _publish_fixture(client: Any, login: Any, world: Any, fx: Fixture) -> dict[str, str]:
    """The fixture's city base (by the city official) and its district policy (by the district's
    official), both through the API; the official's headers."""
    if fx.city_base is not None:
        city = login("city_official_h")
        doc = _body(fx.city_base)
        doc.pop("city_id", None)
        r = client.post(f"/api/v1/cities/{world.city}/policies", json=doc, headers=city)
        assert r.status_code == 201, r.text
        r = client.post(f"/api/v1/policies/{r.json()['id']}/publish", headers=city)
        assert r.status_code == 200, r.text
    h: dict[str, str] = login("official_x")
    _publish(client, h, world.district_x, fx.policy)
    return h


def _setting(run: Any, world: Any, rows: list[Row]) -> tuple[dict[str, int], dict[tuple[str, str, int], int]]:
    """Elders for the rows (by key) and the day's sets (slot, type, price) → set id at site A."""
    today = _today()
    site = world.site_a

    async def go() -> tuple[dict[str, int], dict[tuple[str, str, int], int]]:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        await Site.update({Site.slots: ALL_DAY, Site.street: world.street_x}).where(Site.id == world.site_a)
        elders: dict[str, int] = {}
        for key in {r.elder for r in rows} - {"walk_in"}:
            spec = ELDERS[key]
            assert spec is not None
            age, cats = spec
            elders[key] = await add_elder(
                district=world.district_x,
                community=world.community_x,
                name=f"长者{key}",
                birth_date=birth_date(age, today),
                categories=cats,
            )
        sets: dict[tuple[str, str, int], int] = {}
        for slot in sorted({r.slot for r in rows}):
            wanted = sorted({(r.meal_type, r.price) for r in rows if r.slot == slot})
            menu = await set_menu(
                admin,
                site,
                today,
                slot,
                [MealSetIn(name=f"{t}-{p}", list_price_fen=p, meal_type=t) for t, p in wanted],  # type: ignore[arg-type]
                cutoff_at=utcnow() + dt.timedelta(hours=1),
            )
            for s in menu.sets:
                assert s.meal_type == s.name.split("-")[0]  # the type is stored with the set
                sets[(slot, s.meal_type, s.list_price_fen)] = s.id
        return elders, sets

    out: tuple[dict[str, int], dict[tuple[str, str, int], int]] = run(go)
    return out


def _quote(
    client: Any,
    h: dict[str, str],
    world: Any,
    elder: int | None,
    slot: str,
    set_id: int,
    site: int | None = None,
) -> Any:
    body: dict[str, Any] = {
        "site_id": site or world.site_a,
        "slot": slot,
        "date": _today().isoformat(),
        "meal_set_id": set_id,
    }
    if elder is not None:
        body["elder_id"] = elder
    r = client.post("/api/v1/quotes", json=body, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def _split(q: dict[str, Any]) -> tuple[int, dict[str, int]]:
    return q["copay_fen"], {p["source"]: p["fen"] for p in q["funding"]}


@pytest.mark.parametrize("fx", LIBRARY, ids=[fx.key for fx in LIBRARY])
def test_library_tables_over_http(client, run, world, login, fx: Fixture) -> None:
    h = _publish_fixture(client, login, world, fx)
    # At home (site A) and in another district of the city (site C, 西湖区); the rows eaten in
    # another street of the home district are the unit tests' (tests/unit/subsidies).
    rows = [r for r in fx.rows if r.usage == Usage() and r.where in ("home", "district")]
    elders, sets = _setting(run, world, rows)
    away = [r for r in rows if r.where == "district"]
    away_sets = run(lambda: _away_menu(world, away)) if away else {}
    for row in rows:
        at_c = row.where == "district"
        set_id = (away_sets if at_c else sets)[(row.slot, row.meal_type, row.price)]
        # Away, the quote is asked where the meal is eaten (the home official sees no 西湖区 point).
        who = login("admin") if at_c else h
        q = _quote(
            client, who, world, elders.get(row.elder), row.slot, set_id, world.site_c if at_c else None
        )
        assert _split(q) == (row.copay, row.funding), (row, q["reason_en"])
        assert q["list_price_fen"] == row.price
        if row.funding and at_c:
            assert q["policy_district_id"] == world.district_x  # the home district's policy, in 西湖区


async def _away_menu(world: Any, rows: list[Row]) -> dict[tuple[str, str, int], int]:
    """The day's sets for ``rows`` at site C (another district of the city)."""
    admin = await load_principal(world.users["admin"])
    assert admin is not None
    await Site.update({Site.slots: ALL_DAY}).where(Site.id == world.site_c)
    sets: dict[tuple[str, str, int], int] = {}
    for slot in sorted({r.slot for r in rows}):
        wanted = sorted({(r.meal_type, r.price) for r in rows if r.slot == slot})
        menu = await set_menu(
            admin,
            world.site_c,
            _today(),
            slot,
            [MealSetIn(name=f"{t}-{p}", list_price_fen=p, meal_type=t) for t, p in wanted],  # type: ignore[arg-type]
            cutoff_at=utcnow() + dt.timedelta(hours=1),
        )
        for st in menu.sets:
            sets[(slot, st.meal_type, st.list_price_fen)] = st.id
    return sets


def _check_in(
    client: Any, h: dict[str, str], world: Any, card: str, slot: str, set_id: int
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/checkins",
        json={"site_id": world.site_a, "card": card, "slot": slot, "items": [set_id], "payment": "cash"},
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def _meal(run: Any, elder: int) -> dict[str, Any]:
    row = run(
        lambda: Meal.select(Meal.copay_fen, Meal.subsidy_fen, Meal.funding).where(Meal.elder == elder).first()
    )
    funding = row["funding"]
    row["funding"] = {
        p["source"]: p["fen"] for p in (msgspec.json.decode(funding) if isinstance(funding, str) else funding)
    }
    out: dict[str, Any] = row
    return out


@pytest.mark.parametrize(
    ("fx", "elder", "meal_type", "price", "lunch", "then"),
    [
        # One subsidised meal a day: lunch 6 off (city 3.60, district 2.40), dinner full price.
        (PER_DAY, "age85", "standard", 1500, (900, {"city": 360, "district": 240}), (1500, {})),
        # Meal-count cap (1 a month here): the therapeutic lunch 10 off, the next meal full price.
        (msgspec.structs.replace(THERAPEUTIC.policy, monthly_cap_meals=1), "disabled82", "therapeutic", 2000,
         (1000, {"city": 700, "district": 300}), (2000, {})),
    ],
    ids=["per_day_limit", "monthly_cap_meals"],
)  # fmt: skip
def test_check_in_keeps_the_split_and_the_next_quote_follows_the_limit(
    client, run, world, login, fx: Any, elder: str, meal_type: str, price: int, lunch: Any, then: Any
) -> None:
    policy = fx.policy if isinstance(fx, Fixture) else fx
    h = login("official_x")
    _publish(client, h, world.district_x, policy)
    rows = [Row(elder, 0, {}, slot=s, meal_type=meal_type, price=price) for s in ("lunch", "dinner")]
    elders, sets = _setting(run, world, rows)
    elder_id = elders[elder]

    async def card() -> str:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        return (await issue_card(admin, elder_id, reason="new")).token

    token = run(card)
    before = _quote(client, h, world, elder_id, "lunch", sets[("lunch", meal_type, price)])
    assert _split(before) == lunch
    _check_in(client, login("cashier_a"), world, token, "lunch", sets[("lunch", meal_type, price)])
    meal = _meal(run, elder_id)
    assert (meal["copay_fen"], meal["funding"]) == lunch and meal["subsidy_fen"] == price - lunch[0]
    after = _quote(client, h, world, elder_id, "dinner", sets[("dinner", meal_type, price)])
    assert _split(after) == then, after["reason_en"]


def test_quote_refusals_name_the_field(client, run, world, login) -> None:
    h = {**login("official_x"), "Accept-Language": "en"}
    _publish(client, h, world.district_x, PER_DAY.policy)
    base = {"site_id": world.site_a, "slot": "lunch", "date": _today().isoformat()}
    r = client.post("/api/v1/quotes", json=base, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    assert r.json()["message"] == "Field 'list price' is invalid: give exactly one of this and 'meal set'"
    r = client.post(
        "/api/v1/quotes", json={**base, "list_price_fen": 1500, "meal_type": "banquet"}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_meal_type"
    r = client.post(
        "/api/v1/quotes",
        json={**base, "list_price_fen": 1500, "meal_type": "soft"},
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200 and r.json()["copay_fen"] == 1500  # a walk-in
    r = client.post("/api/v1/quotes", json={**base, "meal_set_id": 999999}, headers=h)
    assert r.status_code in (404, 409) and r.json()["code"] in ("no_menu", "not_found")


def _elder_per_row(run: Any, world: Any, rows: list[Row]) -> list[tuple[int, str]]:
    """One elder (and card) per row, so that no row's meal counts in another's limits."""
    today = _today()

    async def go() -> list[tuple[int, str]]:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        out = []
        for i, row in enumerate(rows):
            spec = ELDERS[row.elder]
            assert spec is not None
            age, cats = spec
            elder = await add_elder(
                district=world.district_x,
                community=world.community_x,
                name=f"长者{row.elder}{i}",
                birth_date=birth_date(age, today),
                categories=cats,
            )
            out.append((elder, (await issue_card(admin, elder, reason="new")).token))
        return out

    got: list[tuple[int, str]] = run(go)
    return got


@pytest.mark.parametrize("fx", LIBRARY, ids=[fx.key for fx in LIBRARY])
def test_statements_per_funder_and_period_match_the_tables(client, run, world, login, fx: Fixture) -> None:
    """Every row of the table checked in for real (one elder each), then the month's (or the
    quarter's) statement drafted for each payer: its meal subsidy is the table's column sum to the
    fen, its operating subsidy what the fixture's rules pay, and its months reconcile."""
    h = _publish_fixture(client, login, world, fx)
    for o in fx.operating:
        r = client.post(
            "/api/v1/operating-rules",
            json={
                "district_id": world.district_x,
                "kind": o.kind,
                "amount_fen": o.amount_fen,
                "source": o.source,
                "effective_from": _today().strftime("%Y-%m"),
            },
            headers=h,
        )
        assert r.status_code in (200, 201), r.text
    # The operator's points are site A's district: the meals eaten at home.
    counter = [r for r in fx.rows if r.usage == Usage() and r.elder != "walk_in" and r.where == "home"]
    # The first subsidised row once more, ordered for delivery by another elder of the same kind
    # (the fixtures set no delivery fee, so the meal is priced as at the counter).
    delivered = next(r for r in counter if r.funding)
    rows = [*counter, delivered]
    _, sets = _setting(run, world, rows)
    people = _elder_per_row(run, world, rows)
    cashier = login("cashier_a")
    for row, (_, card) in zip(counter, people, strict=False):
        out = _check_in(client, cashier, world, card, row.slot, sets[(row.slot, row.meal_type, row.price)])
        assert (out["copay_fen"], {p["source"]: p["fen"] for p in out["funding"]}) == (row.copay, row.funding)
    home_delivery = people[-1][0]
    admin = run(lambda: load_principal(world.users["admin"]))
    run(lambda: grant_delivery(admin, home_delivery, "独居高龄，社区评估同意送餐", None))
    placed = client.post(
        "/api/v1/orders",
        json={
            "elder_id": home_delivery,
            "site_id": world.site_a,
            "service_date": _today().isoformat(),
            "slot": delivered.slot,
            "meal_set_id": sets[(delivered.slot, delivered.meal_type, delivered.price)],
            "payment": "cash",
        },
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    meal = _meal(run, home_delivery)
    assert (meal["copay_fen"], meal["funding"]) == (delivered.copay, delivered.funding)
    month = _today().strftime("%Y-%m")
    sources = sorted({s for r in rows for s in r.funding} | {o.source for o in fx.operating})
    subsidised = [r for r in rows if r.funding]
    for source in sources:
        r = client.post(
            "/api/v1/settlements",
            json={"operator_id": world.operator_x, "month": month, "source": source, "period": fx.period},
            headers=h,
        )
        assert r.status_code in (200, 201), r.text
        st = r.json()
        want_meals = sum(row.funding.get(source, 0) for row in rows)
        want_operating = fx.operating_fen(
            source,
            diner_days=len({i for i, row in enumerate(rows) if row.funding}),
            subsidised_meals=len(subsidised),
        )
        assert (st["subsidy_fen"], st["operating_fen"]) == (want_meals, want_operating), (source, st)
        assert st["total_fen"] == want_meals + want_operating
        assert st["meals"] == sum(1 for row in rows if row.funding.get(source))
        # The period's months: a quarter lists its three, and each month's subtotal adds up.
        assert len(st["months"]) == (3 if fx.period == "quarter" else 1) and month in st["months"]
        assert sum(st["by_month"].values()) == st["total_fen"]
        assert st["by_month"].get(month, 0) == st["total_fen"]
