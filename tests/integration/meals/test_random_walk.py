"""A seeded random walk over the money routes (issue #10): place an order (balance or cash),
cancel it, dispatch and deliver it or find nobody home, void at the counter, top up, eat in.

After every step: every elder's cached balance equals its ledger (``verify_balances``), the
ledger is well formed, and no order contradicts its meal (cancelled / not delivered ⇔ the
meal voided; placed … delivered ⇔ the meal standing). Refusals with a documented code are
allowed outcomes; a counter void of a delivery meal is expected to be refused
(``meal_is_delivery``), and when it is not, the check after the step names the order it broke.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from canteen.payments.ledger import ledger_balanced, verify_balances
from tests.integration.meals.flows import Api, contradictions, meal_world, orders_and_meals

STEPS = 150

ORDER_REFUSALS = {"already_served", "insufficient_balance", "sold_out"}
CANCEL_REFUSALS = {"order_not_cancellable"}
VOID_REFUSALS = {"already_voided", "meal_is_delivery", "void_window_passed"}
CHECKIN_REFUSALS = {"already_served", "insufficient_balance", "sold_out"}
STOP_REFUSALS = {"stop_closed"}
EARLY = "delivery_too_early"  # a stop of tomorrow is refused until its day (issue #16)


class Walk:
    def __init__(self, api: Api, run: Any, rng: random.Random) -> None:
        self.api = api
        self.run = run
        self.rng = rng
        self.mw = api.mw
        self.orders: dict[int, dict[str, Any]] = {}  # order id → {elder, day, meal}
        self.counter_meals: list[int] = []
        self.stops: dict[int, tuple[int, int]] = {}  # stop id → (order id, elder)
        self.log: list[str] = []

    def _code(self, r: Any) -> str:
        try:
            return str(r.json().get("code", ""))
        except ValueError:
            return ""

    def _expect(self, what: str, r: Any, ok: set[int], refusals: set[str]) -> bool:
        if r.status_code in ok:
            self.log.append(f"{what} → {r.status_code}")
            return True
        code = self._code(r)
        self.log.append(f"{what} → {r.status_code} {code}")
        assert code in refusals, f"{what}: unexpected {r.status_code} {r.text}\n" + self.history()
        return False

    def history(self) -> str:
        return "steps:\n  " + "\n  ".join(self.log[-40:])

    # --- the steps
    def place(self) -> None:
        elder = self.rng.choice(self.mw.elders)
        day = self.rng.choice([self.mw.today, self.mw.tomorrow])
        payment = self.rng.choice(["balance", "balance", "cash"])
        set_name = self.rng.choice(["套餐A", "软食套餐"])
        r = self.api.order(elder, day, set_name, payment)
        if self._expect(f"order elder {elder} {day} {payment}", r, {201}, ORDER_REFUSALS):
            o = r.json()
            self.orders[o["id"]] = {"elder": elder, "day": day, "meal": o["meal_id"]}

    def cancel(self) -> None:
        if not self.orders:
            return
        oid = self.rng.choice(sorted(self.orders))
        self._expect(f"cancel order {oid}", self.api.cancel(oid), {200}, CANCEL_REFUSALS)

    def dispatch(self) -> None:
        day = self.rng.choice([self.mw.today, self.mw.tomorrow])
        waiting = [
            oid
            for oid, o in self.orders.items()
            if o["day"] == day and self.api.get_order(oid)["status"] == "placed"
        ]
        if not waiting:
            return
        stops = self.api.dispatch(waiting, day)
        self.log.append(f"dispatch {day}: orders {sorted(stops)}")
        for oid, sid in stops.items():
            self.stops[sid] = (oid, self.orders[oid]["elder"])

    def _stop_refusals(self, oid: int) -> set[str]:
        return STOP_REFUSALS | ({EARLY} if self.orders[oid]["day"] > self.mw.today else set())

    def deliver(self) -> None:
        if not self.stops:
            return
        sid = self.rng.choice(sorted(self.stops))
        oid, elder = self.stops.pop(sid)  # delivered now, or closed before
        self._expect(
            f"deliver stop {sid} (order {oid})", self.api.deliver(sid, elder), {200}, self._stop_refusals(oid)
        )

    def not_home(self) -> None:
        if not self.stops:
            return
        sid = self.rng.choice(sorted(self.stops))
        oid, _ = self.stops.pop(sid)
        outcome = self.rng.choice(["not_home", "refused"])
        self._expect(
            f"{outcome} stop {sid} (order {oid})",
            self.api.fail(sid, outcome),
            {200},
            self._stop_refusals(oid),
        )

    def void(self) -> None:
        meals = self.counter_meals + [o["meal"] for o in self.orders.values()]
        if not meals:
            return
        meal = self.rng.choice(meals)
        delivery = meal not in self.counter_meals
        r = self.api.void(meal)
        # A delivery meal's void is expected to be refused (meal_is_delivery); if it goes
        # through, the check after the step names the order it broke.
        refusals = VOID_REFUSALS if delivery else VOID_REFUSALS - {"meal_is_delivery"}
        kind = "delivery" if delivery else "dine_in"
        self._expect(f"counter void meal {meal} ({kind})", r, {200}, refusals)

    def top_up(self) -> None:
        elder = self.rng.choice(self.mw.elders)
        amount = self.rng.choice([500, 1000, 2000])
        r = self.api.top_up(elder, amount)
        self._expect(f"top up elder {elder} {amount}", r, {200, 201}, set())

    def check_in(self) -> None:
        elder = self.rng.choice(self.mw.elders)
        payment = self.rng.choice(["balance", "cash"])
        r = self.api.check_in(elder, payment, self.rng.choice(["套餐A", "软食套餐"]))
        if self._expect(f"check in elder {elder} {payment}", r, {201}, CHECKIN_REFUSALS):
            self.counter_meals.append(int(r.json()["meal_id"]))

    def check(self) -> None:
        mismatches = self.run(verify_balances)
        assert mismatches == [], f"balances differ from the ledger: {mismatches}\n" + self.history()
        assert self.run(ledger_balanced), "the ledger is not balanced\n" + self.history()
        bad = contradictions(self.run(orders_and_meals))
        assert bad == [], "orders contradict their meals:\n  " + "\n  ".join(bad) + "\n" + self.history()


@pytest.mark.parametrize("seed", [20261123])
def test_random_walk_keeps_balances_ledger_and_orders_consistent(
    client: Any, world: Any, run: Any, login: Any, seed: int
) -> None:
    mw = run(lambda: meal_world(world, n_elders=6, balance_fen=3000))
    walk = Walk(Api(client, login, world, mw), run, random.Random(seed))
    steps = [
        (walk.place, 24),
        (walk.cancel, 7),
        (walk.dispatch, 8),
        (walk.deliver, 10),
        (walk.not_home, 10),
        (walk.void, 10),
        (walk.top_up, 8),
        (walk.check_in, 12),
    ]
    actions = [a for a, _ in steps]
    weights = [w for _, w in steps]
    walk.check()
    for _ in range(STEPS):
        walk.rng.choices(actions, weights)[0]()
        walk.check()
