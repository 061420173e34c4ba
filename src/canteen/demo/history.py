"""A month of past meals for the demo district, so reports have history from the first run.

What it writes, for the ``days`` service days before ``today`` (all in ONE transaction):

* menus and meal sets for those days at every cooking site (the same weekly plan as
  ``canteen.demo.menus``), with ``portions_sold`` equal to the meals served from them;
* cash top-ups at the elder's usual counter for most elders who eat regularly (ledger
  ``cash:site:{id}:{day}`` → ``elder:{id}``), topped up again when the balance runs low;
* meals at every open meal point on realistic daily curves: lunch the busiest, breakfast
  and dinner smaller; weekdays busier than weekends; a slow growth over the month; a rainy
  day now and then; bigger canteens draw more. Elders eat mostly at the point near home
  (choice weighted by ``meals_per_slot`` over squared distance), a few at a second one;
  about four in ten are regulars who come most days. Each meal is priced with the real
  pure quote (``subsidies.rules.quote``) under the policy in force that day, at most one
  subsidised meal per elder, day and slot (the partial unique index holds);
* payment from the balance when it covers the co-pay, else cash; walk-ins (~5%) pay the
  list price in cash; a few meals are voided (a mirror ``void`` txn);
* the ledger rows exactly as the counter writes them (``checkin.services._perform``):
  ``receivable:{source}:op:{operator}`` → ``revenue:site:{id}`` per funding part, the
  co-pay from ``elder:{id}`` or ``cash:site:{id}:{day}`` → ``revenue:site:{id}``;
* ``ElderBalance`` moved by exactly the sum of the rows written, a counter event per
  outcome (some ``already_served`` refusals included) and audit rows for top-ups and voids.

Everything is drawn from one seeded ``random.Random``: the same ``today`` gives the same
history. Idempotent: a district with any meal before ``today`` is left alone. Rows go in
with multi-row INSERTs of at most ``_CHUNK`` rows, so the month loads in a few seconds even
on SQLite.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from canteen.accounts.tables import RoleGrant
from canteen.checkin.tables import CounterEvent
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import UTC
from canteen.core.db import write_transaction
from canteen.demo.district import DemoDistrict
from canteen.demo.menus import _sets
from canteen.meals import services as meals
from canteen.meals.pricing import assemble_quote, list_price_quote
from canteen.meals.tables import Meal
from canteen.menus.services import DEFAULT_SLOT_TIMES, cutoff_from_config, set_diet_tags
from canteen.menus.tables import DailyMenu, Dish, MealSet
from canteen.payments.tables import ElderBalance, LedgerEntry
from canteen.regions.lookup import resolve_street
from canteen.regions.tables import Site
from canteen.registry.tables import Elder, ElderCategory
from canteen.settings import get_settings
from canteen.subsidies.schemas import CategoryGrant, ElderFacts, Policy, Quote, Usage
from canteen.subsidies.services import policy_for

HISTORY_SEED = 20261124
_CHUNK = 500
DEVICE = "demo-history"
SLOT_ORDER = ("breakfast", "lunch", "dinner")
# Relative pull of each slot against lunch (an elder who lunches daily breakfasts ~2 days in 5).
SLOT_SHARE = {"breakfast": 0.4, "lunch": 1.0, "dinner": 0.5}
WEEKDAY = (1.0, 1.0, 1.03, 1.0, 0.96, 0.72, 0.62)  # Monday … Sunday
# (share of elders, chance of lunch on an ordinary weekday)
HABITS = ((0.45, 0.9), (0.30, 0.42), (0.15, 0.1), (0.10, 0.0))
SET_WEIGHTS = (0.5, 0.3, 0.2)
WALK_IN_SHARE = 0.05
VOID_SHARE = 0.004
REFUSAL_SHARE = 0.01
VOID_REASONS = ("点错餐次", "长者临时有事未取餐", "重复扫码")
TOPUP_YUAN = (100, 200, 200, 300, 500)


@dataclass
class _Point:
    id: int
    street: int | None
    operator: int | None
    cook: int  # the site whose menu it serves (itself, or its central kitchen)
    lat: float
    lon: float
    weight: float
    slots: dict[str, tuple[dt.time, dt.time]]
    cashier: int | None


@dataclass
class _Diner:
    id: int
    facts: ElderFacts
    grants: list[CategoryGrant]
    home: _Point
    second: _Point | None
    lunch_p: float
    prepaid: bool
    balance: int = 0


@dataclass
class _SetSpec:
    name: str
    price: int
    cap: int | None
    dish_ids: list[int]
    sold: int = 0
    id: int | None = None


@dataclass
class _Plan:
    meals: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)  # rows needing the meal id
    topups: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deltas: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def _km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    dy = (a_lat - b_lat) * 111.0
    dx = (a_lon - b_lon) * 111.0 * math.cos(math.radians(a_lat))
    return math.hypot(dx, dy)


def _hm(text: str) -> dt.time:
    h, m = text.split(":")
    return dt.time(int(h), int(m))


def _txn() -> str:
    return uuid.uuid4().hex


async def _points(district_id: int) -> list[_Point]:
    sites = (
        await Site.select(
            Site.id,
            Site.kind,
            Site.status,
            Site.street,
            Site.community.street.as_alias("community_street"),
            Site.operator,
            Site.kitchen,
            Site.lat,
            Site.lon,
            Site.meals_per_slot,
            Site.slots,
        )
        .where(Site.district == district_id)
        .order_by(Site.id)
        .output(load_json=True)
    )
    grants = await RoleGrant.select(RoleGrant.user, RoleGrant.site, RoleGrant.role).where(
        RoleGrant.site.is_in([int(s["id"]) for s in sites] or [0])
        & RoleGrant.role.is_in(["cashier", "operator"])
    )
    cashier: dict[int, int] = {}
    for g in sorted(grants, key=lambda g: (g["role"] != "cashier", g["user"])):
        cashier.setdefault(int(g["site"]), int(g["user"]))
    out = []
    for s in sites:
        if s["kind"] != "meal_point" or s["status"] != "open" or not s["slots"]:
            continue
        out.append(
            _Point(
                id=int(s["id"]),
                street=resolve_street(s["street"], s["community_street"]),
                operator=s["operator"],
                cook=int(s["kitchen"] or s["id"]),
                lat=float(s["lat"] or 0.0),
                lon=float(s["lon"] or 0.0),
                weight=float(s["meals_per_slot"] or 50),
                slots={c["slot"]: (_hm(c["start"]), _hm(c["end"])) for c in s["slots"]},
                cashier=cashier.get(int(s["id"])),
            )
        )
    return out


async def _diners(district_id: int, points: list[_Point], rng: random.Random) -> list[_Diner]:
    """Every active elder of the district with their facts (loaded once) and eating habits."""
    elders = (
        await Elder.select(
            Elder.id, Elder.birth_date, Elder.lat, Elder.lon, Elder.community.street.as_alias("street")
        )
        .where((Elder.district == district_id) & (Elder.status == "active"))
        .order_by(Elder.id)
    )
    cats: dict[int, list[CategoryGrant]] = defaultdict(list)
    for c in (
        await ElderCategory.select(
            ElderCategory.elder, ElderCategory.code, ElderCategory.valid_from, ElderCategory.valid_until
        )
        .where(ElderCategory.elder.district == district_id)
        .order_by(ElderCategory.code)
    ):
        cats[int(c["elder"])].append(
            CategoryGrant(code=c["code"], valid_from=c["valid_from"], valid_until=c["valid_until"])
        )
    out = []
    for e in elders:
        lat, lon = e["lat"], e["lon"]
        if lat is None or lon is None:
            weights = [p.weight for p in points]
        else:
            weights = [p.weight / (_km(lat, lon, p.lat, p.lon) + 0.25) ** 2 for p in points]
        home = rng.choices(points, weights)[0]
        others = [(p, w) for p, w in zip(points, weights, strict=True) if p is not home]
        second = rng.choices([p for p, _ in others], [w for _, w in others])[0] if others else None
        r, lunch_p = rng.random(), 0.0
        for share, p in HABITS:
            if r < share:
                lunch_p = p
                break
            r -= share
        grants = cats.get(int(e["id"]), [])[:32]
        facts = ElderFacts(
            member=True,
            birth_date=e["birth_date"],
            categories=grants,
            home_street_id=int(e["street"]) if e["street"] else None,
            home_district_id=district_id,
        )
        prepaid = lunch_p > 0.05 and rng.random() < 0.85
        out.append(_Diner(int(e["id"]), facts, grants, home, second, lunch_p, prepaid))
    return out


async def _menus(
    points: list[_Point], days: list[dt.date]
) -> tuple[dict[tuple[int, dt.date, str], list[_SetSpec]], set[tuple[int, dt.date, str]]]:
    """The sets each cooking site served each day: stored ones where a menu exists, else the
    demo plan (to be written). Returns (specs by (cook, day, slot), keys of new menus)."""
    cooks = sorted({p.cook for p in points})
    slots_of: dict[int, set[str]] = defaultdict(set)
    for p in points:
        slots_of[p.cook].update(p.slots)
    found = await DailyMenu.select(
        DailyMenu.id, DailyMenu.site, DailyMenu.service_date, DailyMenu.slot
    ).where(
        DailyMenu.site.is_in(cooks)
        & (DailyMenu.service_date >= days[0])
        & (DailyMenu.service_date <= days[-1])
    )
    specs: dict[tuple[int, dt.date, str], list[_SetSpec]] = {}
    by_menu = {int(m["id"]): (int(m["site"]), m["service_date"], m["slot"]) for m in found}
    if by_menu:
        for s in await MealSet.select(
            MealSet.id, MealSet.menu, MealSet.name, MealSet.list_price_fen, MealSet.portions_available,
            MealSet.portions_sold,
        ).where(MealSet.menu.is_in(list(by_menu))).order_by(MealSet.sort_order):  # fmt: skip
            spec = _SetSpec(s["name"], int(s["list_price_fen"]), s["portions_available"], [], id=int(s["id"]))
            spec.cap = None if spec.cap is None else max(0, int(spec.cap) - int(s["portions_sold"]))
            specs.setdefault(by_menu[int(s["menu"])], []).append(spec)
    ids: dict[str, int] = defaultdict(int)
    ids.update({d["name"]: int(d["id"]) for d in await Dish.select(Dish.id, Dish.name)})
    new: set[tuple[int, dt.date, str]] = set()
    for cook in cooks:
        for day in days:
            for slot in sorted(slots_of[cook]):
                key = (cook, day, slot)
                if key in specs or key in set(by_menu.values()):
                    continue
                specs[key] = [
                    _SetSpec(s.name, s.list_price_fen, s.portions_available, list(s.dish_ids))
                    for s in _sets(slot, day.weekday(), ids)
                ]
                new.add(key)
    return specs, new


def _pick_set(specs: list[_SetSpec], rng: random.Random) -> _SetSpec | None:
    open_sets = [
        (s, w)
        for s, w in zip(specs, SET_WEIGHTS + (0.1,) * len(specs), strict=False)
        if s.cap is None or s.sold < s.cap
    ]
    if not open_sets:
        return None
    chosen = rng.choices([s for s, _ in open_sets], [w for _, w in open_sets])[0]
    chosen.sold += 1
    return chosen


def _served_at(
    day: dt.date, window: tuple[dt.time, dt.time], rng: random.Random, tz: dt.tzinfo
) -> dt.datetime:
    start = dt.datetime.combine(day, window[0], tzinfo=tz)
    span = (dt.datetime.combine(day, window[1], tzinfo=tz) - start).total_seconds()
    offset = rng.triangular(0, span, span * 0.35)
    return (start + dt.timedelta(seconds=offset, microseconds=rng.randrange(1_000_000))).astimezone(UTC)


class _Simulation:
    """Walks the month day by day, slot by slot; pure apart from the seeded random."""

    def __init__(
        self,
        district_id: int,
        points: list[_Point],
        diners: list[_Diner],
        specs: dict[tuple[int, dt.date, str], list[_SetSpec]],
        policies: dict[dt.date, Policy | None],
        rng: random.Random,
    ) -> None:
        self.district_id = district_id
        self.points = points
        self.diners = diners
        self.specs = specs
        self.policies = policies
        self.rng = rng
        self.tz = get_settings().tz
        self.plan = _Plan()
        self.month_used: dict[tuple[int, int, int], int] = defaultdict(int)
        self.used_at: set[dt.datetime] = set()

    def _unique(self, at: dt.datetime) -> dt.datetime:
        while at in self.used_at:  # served_at also maps the inserted rows back to the plan
            at += dt.timedelta(microseconds=1)
        self.used_at.add(at)
        return at

    def run(self, days: list[dt.date]) -> _Plan:
        n = len(days)
        for i, day in enumerate(days):
            trend = 0.85 + 0.15 * i / max(1, n - 1)
            weather = 0.85 if self.rng.random() < 0.15 else 1.0
            mood = {p.id: max(0.7, self.rng.gauss(1.0, 0.07)) for p in self.points}
            for slot in SLOT_ORDER:
                served: dict[int, int] = defaultdict(int)
                for d in self.diners:
                    if not d.lunch_p:
                        continue
                    point, away = d.home, 1.0
                    if d.second is not None and (slot not in d.home.slots or self.rng.random() < 0.08):
                        # Few walk to another point for a slot their own does not serve.
                        point, away = d.second, (1.0 if slot in d.home.slots else 0.3)
                    if slot not in point.slots:
                        continue
                    p = (
                        away
                        * d.lunch_p
                        * SLOT_SHARE[slot]
                        * WEEKDAY[day.weekday()]
                        * trend
                        * weather
                        * mood[point.id]
                    )
                    if self.rng.random() < min(p, 0.97):
                        if self._member_meal(d, point, day, slot):
                            served[point.id] += 1
                for point in self.points:
                    if slot in point.slots:
                        expected = served[point.id] * WALK_IN_SHARE / (1 - WALK_IN_SHARE)
                        for _ in range(int(expected) + (self.rng.random() < expected % 1)):
                            self._walk_in(point, day, slot)
        return self.plan

    def _quote(self, d: _Diner, point: _Point, day: dt.date, slot: str, price: int) -> Quote:
        policy = self.policies.get(day)
        used = self.month_used[(d.id, day.year, day.month)] if policy and policy.monthly_cap_fen else 0
        return assemble_quote(
            site_district_id=self.district_id,
            site_street_id=point.street,
            facts=d.facts,
            policy=policy,
            usage=Usage(slot_meals_today=0, month_subsidy_fen=used),
            day=day,
            slot=slot,
            mode="dine_in",
            list_price_fen=price,
        )

    def _topup(self, d: _Diner, point: _Point, day: dt.date, at: dt.datetime) -> None:
        amount = self.rng.choice(TOPUP_YUAN) * 100
        txn = _txn()
        self.plan.topups.append(
            {
                "txn": txn,
                "debit": f"cash:site:{point.id}:{day.isoformat()}",
                "credit": f"elder:{d.id}",
                "amount_fen": amount,
                "site": point.id,
                "elder": d.id,
                "at": at,
                "actor_id": point.cashier,
            }
        )
        d.balance += amount
        self.plan.deltas[d.id] += amount

    def _member_meal(self, d: _Diner, point: _Point, day: dt.date, slot: str) -> bool:
        specs = self.specs.get((point.cook, day, slot))
        chosen = _pick_set(specs, self.rng) if specs else None
        if chosen is None:
            return False  # sold out or no menu: the elder went home
        at = self._unique(_served_at(day, point.slots[slot], self.rng, self.tz))
        q = self._quote(d, point, day, slot, chosen.price)
        payment = "balance" if d.prepaid else "cash"
        if d.prepaid and q.copay_fen > d.balance:
            if d.balance == 0 or self.rng.random() < 0.8:
                self._topup(d, point, day, at - dt.timedelta(minutes=1))
            else:
                payment = "cash"
        revenue = f"revenue:site:{point.id}"
        moves = [
            (f"receivable:{f.source}:op:{point.operator or 0}", revenue, f.fen) for f in q.funding if f.fen
        ]
        if q.copay_fen > 0 and payment == "balance":
            moves.insert(0, (f"elder:{d.id}", revenue, q.copay_fen))
            d.balance -= q.copay_fen
            self.plan.deltas[d.id] -= q.copay_fen
        elif q.copay_fen > 0:
            moves.append((f"cash:site:{point.id}:{day.isoformat()}", revenue, q.copay_fen))
        voided = self.rng.random() < VOID_SHARE
        meal = self._meal(point, day, slot, at, chosen, q, payment, moves, elder=d, voided=voided)
        if voided:
            chosen.sold -= 1
            if q.copay_fen > 0 and payment == "balance":
                d.balance += q.copay_fen
                self.plan.deltas[d.id] += q.copay_fen
        else:
            self.month_used[(d.id, day.year, day.month)] += q.subsidy_fen
            if q.subsidy_fen and self.rng.random() < REFUSAL_SHARE:
                # A second scan of the same card later in the slot: the counter refused it.
                self._event(point, at + dt.timedelta(minutes=self.rng.randint(2, 40)), "refused", d.id, None,
                            code="already_served", detail={"meal": meal})  # fmt: skip
        return True

    def _walk_in(self, point: _Point, day: dt.date, slot: str) -> None:
        specs = self.specs.get((point.cook, day, slot))
        chosen = _pick_set(specs, self.rng) if specs else None
        if chosen is None:
            return
        at = self._unique(_served_at(day, point.slots[slot], self.rng, self.tz))
        q = list_price_quote(chosen.price)
        moves = [(f"cash:site:{point.id}:{day.isoformat()}", f"revenue:site:{point.id}", q.copay_fen)]
        self._meal(point, day, slot, at, chosen, q, "cash", moves, elder=None, voided=False)

    def _meal(
        self,
        point: _Point,
        day: dt.date,
        slot: str,
        at: dt.datetime,
        chosen: _SetSpec,
        q: Quote,
        payment: str,
        moves: list[tuple[str, str, int]],
        *,
        elder: _Diner | None,
        voided: bool,
    ) -> int:
        index = len(self.plan.meals)
        txn = _txn() if moves else ""
        void_at = at + dt.timedelta(minutes=self.rng.randint(2, 12)) if voided else None
        reason = self.rng.choice(VOID_REASONS) if voided else ""
        void_txn = _txn() if voided and txn else ""
        self.plan.meals.append(
            {
                "index": index,
                "spec": chosen,
                "row": dict(
                    district=self.district_id,
                    site=point.id,
                    elder=elder.id if elder else None,
                    service_date=day,
                    slot=slot,
                    mode="dine_in",
                    served_at=at,
                    items=[{"meal_set_id": None, "name": chosen.name, "list_price_fen": q.list_price_fen}],
                    list_price_fen=q.list_price_fen,
                    subsidy_fen=q.subsidy_fen,
                    copay_fen=q.copay_fen,
                    funding=meals.funding_parts(q),
                    policy_district=q.policy_district_id,
                    payment=payment,
                    subsidised=q.subsidy_fen > 0,
                    policy_version=q.policy_version or None,
                    tier_code=q.tier_code,
                    reason_zh=q.reason_zh[:300],
                    reason_en=q.reason_en[:300],
                    categories=[
                        g.code
                        for g in (elder.grants if elder else [])
                        if g.valid_from <= day and (g.valid_until is None or day <= g.valid_until)
                    ],
                    operator=point.operator,
                    cashier_id=point.cashier,
                    device=DEVICE,
                    ledger_txn=txn,
                    voided_at=void_at,
                    voided_by=point.cashier if voided else None,
                    void_reason=reason,
                    void_txn=void_txn,
                ),
            }
        )
        common = {"site": point.id, "elder": elder.id if elder else None, "actor_id": point.cashier}
        for seq, (debit, credit, fen) in enumerate(moves):
            self.plan.ledger.append(
                {"meal": index, "txn": txn, "seq": seq, "kind": "meal", "debit": debit, "credit": credit,
                 "amount_fen": fen, "at": at, "reverses_txn": None, "note": "", **common}
            )  # fmt: skip
        if void_txn:
            for seq, (debit, credit, fen) in enumerate(moves):
                self.plan.ledger.append(
                    {"meal": index, "txn": void_txn, "seq": seq, "kind": "void", "debit": credit,
                     "credit": debit, "amount_fen": fen, "at": void_at, "reverses_txn": txn,
                     "note": reason, **common}
                )  # fmt: skip
        self._event(point, at, "ok", elder.id if elder else None, index, code="" if elder else "walk_in")
        if voided:
            assert void_at is not None
            self._event(point, void_at, "void", elder.id if elder else None, index, detail={"reason": reason})
        return index

    def _event(
        self,
        point: _Point,
        at: dt.datetime,
        outcome: str,
        elder_id: int | None,
        meal: int | None,
        *,
        code: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.plan.events.append(
            {"at": at, "site": point.id, "elder": elder_id, "outcome": outcome, "code": code, "meal": meal,
             "actor_id": point.cashier, "detail": detail or {}}
        )  # fmt: skip


async def _insert_chunks(table: Any, rows: list[Any], *returning: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), _CHUNK):
        query = table.insert(*rows[start : start + _CHUNK])
        if returning:
            out.extend(await query.returning(*returning))
        else:
            await query
    return out


async def load_history(district: DemoDistrict, *, today: dt.date, now: dt.datetime, days: int = 30) -> int:
    """Write ``days`` service days of past meals (before ``today``) for the demo district,
    with their menus, top-ups, ledger rows and balances; returns how many meals were written
    (0 when the district already has meals before ``today``)."""
    district_id = district.district_id
    if await Meal.exists().where((Meal.district == district_id) & (Meal.service_date < today)):
        return 0
    rng = random.Random(f"{HISTORY_SEED}:{today.isoformat()}")
    points = await _points(district_id)
    if not points or days <= 0:
        return 0
    day_list = [today - dt.timedelta(days=k) for k in range(days, 0, -1)]
    diners = await _diners(district_id, points, rng)
    policies = {day: await policy_for(district_id, day) for day in day_list}
    specs, new_menus = await _menus(points, day_list)
    plan = _Simulation(district_id, points, diners, specs, policies, rng).run(day_list)
    actor = SystemActor("demo-loader")
    tz = get_settings().tz
    tags = {
        int(d["id"]): d["diet_tags"] or []
        for d in await Dish.select(Dish.id, Dish.diet_tags).output(load_json=True)
    }

    async with write_transaction():
        # Menus of the past days, then their sets with the portions the simulation sold.
        keys = sorted(new_menus)
        menu_rows = [
            DailyMenu(
                site=cook,
                service_date=day,
                slot=slot,
                cutoff_at=cutoff_from_config(DEFAULT_SLOT_TIMES[slot], day, tz),
                published=True,
                updated_at=now,
                updated_by=None,
            )
            for cook, day, slot in keys
        ]
        menu_ids = {
            (int(r["site"]), r["service_date"], r["slot"]): int(r["id"])
            for r in await _insert_chunks(
                DailyMenu, menu_rows, DailyMenu.id, DailyMenu.site, DailyMenu.service_date, DailyMenu.slot
            )
        }
        set_rows, set_specs = [], []
        for key in keys:
            for order, spec in enumerate(specs[key]):
                set_rows.append(
                    MealSet(
                        menu=menu_ids[key],
                        name=spec.name,
                        list_price_fen=spec.price,
                        dish_ids=spec.dish_ids,
                        diet_tags=set_diet_tags([tags.get(d, []) for d in spec.dish_ids]),
                        portions_available=spec.cap,
                        portions_sold=spec.sold,
                        sort_order=order,
                    )
                )
                set_specs.append((menu_ids[key], spec))
        set_ids = {
            (int(r["menu"]), r["name"]): int(r["id"])
            for r in await _insert_chunks(MealSet, set_rows, MealSet.id, MealSet.menu, MealSet.name)
        }
        for menu_id, spec in set_specs:
            spec.id = set_ids[(menu_id, spec.name)]
        for key, spec_list in specs.items():
            if key in new_menus:
                continue
            for spec in spec_list:  # a menu someone had already stored: count the portions on it
                if spec.sold and spec.id is not None:
                    await MealSet.raw(
                        "UPDATE meal_set SET portions_sold = portions_sold + {} WHERE id = {}",
                        spec.sold,
                        spec.id,
                    )

        # Meals; served_at is unique across the plan and maps each returned id to its row.
        meal_rows = []
        for m in plan.meals:
            row, spec = m["row"], m["spec"]
            row["meal_set"] = spec.id
            row["items"][0]["meal_set_id"] = spec.id
            meal_rows.append(row)
        meal_ids = await meals.load_history(meal_rows)

        ledger_rows = [
            LedgerEntry(
                txn=t["txn"],
                seq=0,
                kind="topup_cash",
                debit=t["debit"],
                credit=t["credit"],
                amount_fen=t["amount_fen"],
                ref_type="elder",
                ref_id=t["elder"],
                site=t["site"],
                elder=t["elder"],
                at=t["at"],
                actor_id=t["actor_id"],
                reverses_txn=None,
                note="",
            )
            for t in plan.topups
        ]
        for e in plan.ledger:
            fields = {k: v for k, v in e.items() if k != "meal"}
            ledger_rows.append(LedgerEntry(ref_type="meal", ref_id=meal_ids[e["meal"]], **fields))
        ledger_rows.sort(key=lambda r: r.at)  # ids follow time, as if posted live
        await _insert_chunks(LedgerEntry, ledger_rows)

        events = []
        for ev in plan.events:
            detail = ev["detail"]
            if "meal" in detail:  # a refusal points at the meal that was served first
                detail = {"meal_id": meal_ids[detail["meal"]]}
            meal = meal_ids[ev["meal"]] if ev["meal"] is not None else None
            events.append(CounterEvent(device=DEVICE, manual=False, **{**ev, "meal": meal, "detail": detail}))
        events.sort(key=lambda r: r.at)
        await _insert_chunks(CounterEvent, events)

        # The balance cache moves by exactly what the rows above moved.
        moved = {e: d for e, d in plan.deltas.items() if d}
        if moved:
            have = {
                int(r["elder"])
                for r in await ElderBalance.select(ElderBalance.elder).where(
                    ElderBalance.elder.is_in(list(moved))
                )
            }
            for elder_id in sorted(have):
                await ElderBalance.update(
                    {
                        ElderBalance.balance_fen: ElderBalance.balance_fen + moved[elder_id],
                        ElderBalance.updated_at: now,
                    }
                ).where(ElderBalance.elder == elder_id)
            await _insert_chunks(
                ElderBalance,
                [
                    ElderBalance(elder=e, balance_fen=d, updated_at=now)
                    for e, d in sorted(moved.items())
                    if e not in have
                ],
            )

        for t in plan.topups:
            await audit.record(
                actor,
                "ledger.topup_cash",
                "ledger_txn",
                t["txn"],
                after={"elder_id": t["elder"], "site_id": t["site"], "amount_fen": t["amount_fen"]},
                district_id=district_id,
                now=t["at"],
            )
        for m, meal_id in zip(plan.meals, meal_ids, strict=True):
            if m["row"]["voided_at"] is not None:
                await audit.record(
                    actor,
                    "meal.void",
                    "meal",
                    meal_id,
                    district_id=district_id,
                    before={"voided_at": None},
                    after={"voided_at": m["row"]["voided_at"].isoformat(), "reason": m["row"]["void_reason"]},
                    now=m["row"]["voided_at"],
                )
        await audit.record(
            actor,
            "meal.demo_history",
            "district",
            district_id,
            district_id=district_id,
            after={"days": days, "meals": len(plan.meals), "topups": len(plan.topups), "menus": len(keys)},
            now=now,
        )
    return len(plan.meals)
