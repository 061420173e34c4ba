"""Claim checks agree with the counter: a late meal the counter took inside its grace window is
not flagged ``outside_hours``; ``two_points`` pairs meals of one service day and slot only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import top_up_cash
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.settings import get_settings
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import add_meal

MONTH = "2026-10"
D = dt.date(2026, 10, 5)
BREAKFAST = {"slot": "breakfast", "start": "06:30", "end": "09:00", "cutoff": "18:00"}
LUNCH = {"slot": "lunch", "start": "10:00", "end": "13:00", "cutoff": "09:00"}
DINNER = {"slot": "dinner", "start": "16:30", "end": "23:30", "cutoff": "14:00"}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _run_checks(client: Any, login: Any, finish_job: Any, district: int, month: str) -> list[dict[str, Any]]:
    h = login("official_x")
    r = client.post(f"/api/v1/districts/{district}/claim-checks", json={"month": month}, headers=h)
    done = finish_job(r, h)
    assert done["status"] == "done", done
    r = client.get(f"/api/v1/districts/{district}/claim-flags?month={month}", headers=h)
    return list(r.json()["items"])


def test_a_meal_served_in_the_grace_window_is_not_flagged_outside_hours(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    now_local = utcnow().astimezone(get_settings().tz)
    minute = now_local.hour * 60 + now_local.minute
    # Lunch ended 20 minutes ago (or, just after midnight, starts in 20 minutes): the counter's
    # grace window still serves, so the claim check must not flag the meal.
    if minute >= 20:
        end = minute - 20
        start = max(0, end - 120)
    else:
        start = minute + 20
        end = start + 60
    hours = {"slot": "lunch", "start": _hhmm(start), "end": _hhmm(end), "cutoff": "00:00"}

    async def setup() -> str:
        admin = await load_principal(world.users["admin"])
        assert admin is not None
        await Site.update({Site.slots: [hours]}).where(Site.id == world.site_a)
        await set_menu(
            admin, world.site_a, now_local.date(), "lunch", [MealSetIn(name="套餐A", list_price_fen=1500)]
        )
        elder = await add_elder(district=world.district_x, community=world.community_x)
        await top_up_cash(admin, world.site_a, elder, 5000, idempotency_key=f"grace-topup-{elder}")
        return (await issue_card(admin, elder, reason="new")).token

    card = run(setup)
    r = client.post(
        "/api/v1/checkins",
        json={"site_id": world.site_a, "card": card, "payment": "balance"},
        headers={**login("cashier_a"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    assert r.json()["slot"] == "lunch"
    flags = _run_checks(client, login, finish_job, world.district_x, now_local.strftime("%Y-%m"))
    assert [f for f in flags if f["kind"] == "outside_hours"] == []


def test_outside_hours_still_flags_a_meal_past_the_grace_window(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    async def setup() -> dict[str, int]:
        await Site.update({Site.slots: [BREAKFAST, LUNCH, DINNER]}).where(Site.id == world.site_a)
        return {
            "grace": await add_meal(
                world, site=world.site_a, elder=None, day=D, at="13:30", subsidised=False
            ),
            "late": await add_meal(world, site=world.site_a, elder=None, day=D, at="13:31", subsidised=False),
            "early": await add_meal(
                world, site=world.site_a, elder=None, day=D, at="09:29", subsidised=False
            ),
        }

    meals = run(setup)
    flags = [
        f
        for f in _run_checks(client, login, finish_job, world.district_x, MONTH)
        if f["kind"] == "outside_hours"
    ]
    assert [f["meal_ids"] for f in flags] == [sorted([meals["late"], meals["early"]])]


def test_two_points_pairs_meals_of_one_day_and_slot_only(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    async def setup() -> dict[str, int]:
        await Site.update({Site.slots: [BREAKFAST, LUNCH, DINNER]}).where(
            Site.id.is_in([world.site_a, world.site_b])
        )
        x, c = world.district_x, world.community_x
        early, late, both = [await add_elder(district=x, community=c) for _ in range(3)]
        return {
            # A late breakfast at A, then lunch at B a quarter of an hour later: two meals, no pair.
            "breakfast_a": await add_meal(
                world, site=world.site_a, elder=early, day=D, at="09:25", slot="breakfast"
            ),
            "lunch_b": await add_meal(world, site=world.site_b, elder=early, day=D, at="09:40"),
            # Dinner at A just before midnight, breakfast at B just after: two service days.
            "dinner_a": await add_meal(
                world, site=world.site_a, elder=late, day=D, at="23:50", slot="dinner"
            ),
            "breakfast_b": await add_meal(
                world,
                site=world.site_b,
                elder=late,
                day=D + dt.timedelta(days=1),
                at="00:05",
                slot="breakfast",
            ),
            # Lunch at A and at B 25 minutes apart, with a breakfast at A recorded between them in
            # time: the pair is the two lunches, not the neighbours in time.
            "lunch_1": await add_meal(world, site=world.site_a, elder=both, day=D, at="10:00"),
            "between": await add_meal(
                world, site=world.site_a, elder=both, day=D, at="10:10", slot="breakfast"
            ),
            "lunch_2": await add_meal(
                world, site=world.site_b, elder=both, day=D, at="10:25", subsidised=False
            ),
            "elder": both,
        }

    m = run(setup)
    flags = [
        f
        for f in _run_checks(client, login, finish_job, world.district_x, MONTH)
        if f["kind"] == "two_points"
    ]
    assert [(f["elder_id"], f["meal_ids"]) for f in flags] == [
        (m["elder"], sorted([m["lunch_1"], m["lunch_2"]]))
    ]
