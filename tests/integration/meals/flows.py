"""The meal world and the HTTP steps the money-defect tests and the random walk share.

District X with a policy that has a street share (city 50 / district 30 / street 20, the
street's share not paid outside the elder's home street), site A serving lunch all day,
menus today and tomorrow (today's cut-off an hour ahead), elders of 95 with cards and
balances. Orders go through ``POST /api/v1/orders`` only; rounds are planned, started and
closed through the courier routes; nothing here writes an Order or a Meal row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from canteen.accounts.passwords import hash_password
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import top_up_cash
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.registry.tables import Elder
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.schemas import FundingShare, Portability
from canteen.subsidies.services import create_policy, publish_policy
from tests.factories import World
from tests.integration.cards.elders import add_elder
from tests.integration.delivery.follow import planned

try:  # the meal's owner after issue #10
    from canteen.meals.tables import Meal
except ImportError:  # before it: the counter's table
    from canteen.checkin.tables import Meal  # type: ignore[no-redef]

from canteen.orders.tables import Order

PIN = "2580"
ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]
SETS = (("套餐A", 1500), ("软食套餐", 1200))


@dataclass
class MealWorld:
    site: int
    district: int
    operator: int
    today: dt.date
    tomorrow: dt.date
    elders: list[int] = field(default_factory=list)
    cards: dict[int, str] = field(default_factory=dict)  # elder → QR token
    sets: dict[dt.date, dict[str, int]] = field(default_factory=dict)  # day → set name → id


def street_policy(district_id: int, *, monthly_cap_fen: int | None = None) -> Any:
    """The demo tiers with a street share that stays home: a site outside the elder's street
    pays 80 % of the subsidy, so any caller that places the site in the wrong street shows."""
    return msgspec.structs.replace(
        demo_policy(district_id=district_id, effective_from=dt.date(2025, 1, 1)),
        funding=[
            FundingShare(source="city", percent=50),
            FundingShare(source="district", percent=30),
            FundingShare(source="street", percent=20),
        ],
        portability=Portability(outside_home_street=["city", "district"], outside_home_district=["city"]),
        monthly_cap_fen=monthly_cap_fen,
    )


async def meal_world(
    w: World,
    *,
    n_elders: int = 2,
    balance_fen: int = 5000,
    monthly_cap_fen: int | None = None,
    site_street: bool = True,
) -> MealWorld:
    """Site A of ``w`` (community 卖鱼桥 in street 米市巷, the elders' own; ``site.street``
    米市巷 too, or NULL when not ``site_street``), the street policy, menus and elders."""
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    now = utcnow()
    today = now.astimezone(get_settings().tz).date()
    tomorrow = today + dt.timedelta(days=1)
    await Site.update({Site.slots: ALL_DAY, Site.street: w.street_x if site_street else None}).where(
        Site.id == w.site_a
    )
    policy = await create_policy(
        admin, w.district_x, street_policy(w.district_x, monthly_cap_fen=monthly_cap_fen)
    )
    await publish_policy(admin, policy.id)
    sets = [MealSetIn(name=n, list_price_fen=p) for n, p in SETS]
    mw = MealWorld(
        site=w.site_a, district=w.district_x, operator=w.operator_x, today=today, tomorrow=tomorrow
    )
    for day, cutoff in ((today, now + dt.timedelta(hours=1)), (tomorrow, now + dt.timedelta(hours=20))):
        menu = await set_menu(admin, w.site_a, day, "lunch", sets, cutoff_at=cutoff)
        mw.sets[day] = {s.name: s.id for s in menu.sets}
    for i in range(n_elders):
        elder = await add_elder(
            district=w.district_x,
            community=w.community_x,
            name=f"助餐长者{i}",
            birth_date=dt.date(1931, 3, 1),
        )
        await Elder.update({Elder.pin_hash: hash_password(PIN)}).where(Elder.id == elder)
        mw.elders.append(elder)
        mw.cards[elder] = (await issue_card(admin, elder, reason="new")).token
        if balance_fen:
            await top_up_cash(admin, w.site_a, elder, balance_fen, idempotency_key=f"seed-topup-{elder}")
    return mw


class Api:
    """The routes the tests drive, each as the role that uses it."""

    def __init__(self, client: Any, login: Any, world: World, mw: MealWorld) -> None:
        self.c = client
        self.w = world
        self.mw = mw
        self.official = login("official_x")
        self.cashier = login("cashier_a")
        self.courier = login("courier_a")
        self.operator = login("operator_a")

    @staticmethod
    def key() -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex}

    # --- orders
    def order(self, elder: int, day: dt.date, set_name: str = "套餐A", payment: str = "balance") -> Any:
        return self.c.post(
            "/api/v1/orders",
            json={
                "elder_id": elder,
                "site_id": self.mw.site,
                "service_date": day.isoformat(),
                "slot": "lunch",
                "meal_set_id": self.mw.sets[day][set_name],
                "payment": payment,
            },
            headers={**self.official, **self.key()},
        )

    def get_order(self, order_id: int) -> dict[str, Any]:
        r = self.c.get(f"/api/v1/orders/{order_id}", headers=self.official)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def set_status(self, order_id: int, status: str) -> Any:
        return self.c.post(
            f"/api/v1/orders/{order_id}/status", json={"status": status, "reason": ""}, headers=self.official
        )

    def cancel(self, order_id: int, reason: str = "家人接回家吃") -> Any:
        return self.c.post(
            f"/api/v1/orders/{order_id}/cancel", json={"reason": reason}, headers=self.official
        )

    # --- courier
    def dispatch(self, order_ids: list[int], day: dt.date) -> dict[int, int]:
        """Confirm ``order_ids`` (those still placed), plan a round from site A with courier A
        and start it: {order id: stop id} for the stops of the new round."""
        for oid in order_ids:
            if self.get_order(oid)["status"] == "placed":
                r = self.set_status(oid, "confirmed")
                assert r.status_code == 200, r.text
        r = self.c.post(
            f"/api/v1/sites/{self.mw.site}/rounds",
            json={"service_date": day.isoformat(), "slot": "lunch", "couriers": [self.w.users["courier_a"]]},
            headers=self.operator,
        )
        stops: dict[int, int] = {}
        for rnd in planned(self.c, r, self.operator)["rounds"]:
            s = self.c.post(f"/api/v1/rounds/{rnd['id']}/start", headers=self.courier)
            assert s.status_code == 200, s.text
            m = self.c.get(f"/api/v1/rounds/{rnd['id']}", headers=self.courier)
            assert m.status_code == 200, m.text
            stops.update({int(st["order_id"]): int(st["id"]) for st in m.json()["stops"]})
        return stops

    def deliver(self, stop_id: int, elder: int) -> Any:
        return self.c.post(
            f"/api/v1/stops/{stop_id}/deliver", json={"card": self.mw.cards[elder]}, headers=self.courier
        )

    def fail(self, stop_id: int, outcome: str = "not_home") -> Any:
        return self.c.post(
            f"/api/v1/stops/{stop_id}/fail",
            json={"outcome": outcome, "reason": "敲门无人应答"},
            headers=self.courier,
        )

    # --- counter
    def check_in(self, elder: int, payment: str = "balance", set_name: str = "套餐A") -> Any:
        return self.c.post(
            "/api/v1/checkins",
            json={
                "site_id": self.mw.site,
                "card": self.mw.cards[elder],
                "slot": "lunch",
                "items": [self.mw.sets[self.mw.today][set_name]],
                "payment": payment,
            },
            headers={**self.cashier, **self.key()},
        )

    def preview(self, elder: int, set_name: str = "套餐A") -> Any:
        return self.c.post(
            "/api/v1/checkins/preview",
            json={
                "site_id": self.mw.site,
                "card": self.mw.cards[elder],
                "slot": "lunch",
                "items": [self.mw.sets[self.mw.today][set_name]],
                "payment": "balance",
            },
            headers=self.cashier,
        )

    def void(self, meal_id: int, reason: str = "收银员点错了") -> Any:
        return self.c.post(f"/api/v1/meals/{meal_id}/void", json={"reason": reason}, headers=self.cashier)

    def top_up(self, elder: int, amount_fen: int) -> Any:
        return self.c.post(
            "/api/v1/topups",
            json={"site_id": self.mw.site, "elder_id": elder, "amount_fen": amount_fen},
            headers={**self.cashier, **self.key()},
        )

    # --- prices and money
    def quote(self, elder: int, day: dt.date, mode: str, list_price_fen: int) -> Any:
        return self.c.post(
            "/api/v1/quotes",
            json={
                "elder_id": elder,
                "site_id": self.mw.site,
                "slot": "lunch",
                "date": day.isoformat(),
                "mode": mode,
                "list_price_fen": list_price_fen,
            },
            headers=self.official,
        )

    def balance(self, elder: int) -> int:
        r = self.c.get(f"/api/v1/elders/{elder}/balance", headers=self.official)
        assert r.status_code == 200, r.text
        return int(r.json()["balance_fen"])

    def cash_drawer(self, day: dt.date) -> dict[str, Any]:
        r = self.c.get(
            f"/api/v1/sites/{self.mw.site}/cash", params={"date": day.isoformat()}, headers=self.cashier
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def spending_fen(self, year: int) -> int:
        r = self.c.get(
            f"/api/v1/districts/{self.mw.district}/spending", params={"year": year}, headers=self.official
        )
        assert r.status_code == 200, r.text
        return int(r.json()["total_fen"])


def funding_of(parts: list[dict[str, Any]]) -> dict[str, int]:
    return {p["source"]: int(p["fen"]) for p in parts if p["fen"]}


async def meal_row(meal_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = (
        await Meal.select(Meal.id, Meal.voided_at, Meal.subsidy_fen, Meal.funding, Meal.mode, Meal.subsidised)
        .where(Meal.id == meal_id)
        .first()
        .output(load_json=True)
    )
    assert row is not None, f"meal {meal_id} is gone"
    return row


async def orders_and_meals() -> list[dict[str, Any]]:
    """Every order with its meal's voided state (read only)."""
    orders = await Order.select(Order.id, Order.status, Order.meal, Order.payment, Order.payment_status)
    meal_ids = [o["meal"] for o in orders if o["meal"]]
    voided = (
        {
            m["id"]: m["voided_at"]
            for m in await Meal.select(Meal.id, Meal.voided_at).where(Meal.id.is_in(meal_ids))
        }
        if meal_ids
        else {}
    )
    return [
        {**o, "meal_voided": voided.get(o["meal"]) is not None, "meal_exists": o["meal"] in voided}
        for o in orders
    ]


LIVE = ("placed", "confirmed", "cooking", "out_for_delivery", "delivered")
DEAD = ("cancelled", "not_delivered")


def contradictions(rows: list[dict[str, Any]]) -> list[str]:
    """Orders whose status and meal disagree: a live order needs a live meal, a dead one a void meal."""
    out = []
    for o in rows:
        if not o["meal_exists"]:
            out.append(f"order {o['id']} ({o['status']}) has no meal")
        elif o["status"] in LIVE and o["meal_voided"]:
            out.append(f"order {o['id']} is {o['status']} but its meal {o['meal']} is voided")
        elif o["status"] in DEAD and not o["meal_voided"]:
            out.append(f"order {o['id']} is {o['status']} but its meal {o['meal']} is not voided")
    return out
