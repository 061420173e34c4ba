"""Time ``canteen.subsidies.rules.quote`` on a realistic mix of elders.

Run: ``.venv/bin/python scripts/bench/quotes.py [N]`` (default 100,000).
Prints quotes per second and microseconds per quote; asserts nothing.
The mix (seeded) follows the demo district: mostly 60-89-year-old members,
some 90+, a share of 低保/特困/失能 elders, a few expired categories, walk-ins,
second meals, people from other streets and districts, a quarter delivered.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta

from canteen.core.categories import Category
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.rules import quote
from canteen.subsidies.schemas import CategoryGrant, ElderFacts, Usage

DAY = date(2025, 6, 16)
DISTRICT = 1
STREETS = list(range(101, 111))


def make_elder(rng: random.Random) -> ElderFacts:
    if rng.random() < 0.05:
        return ElderFacts(member=False)
    age = min(104, int(rng.triangular(60, 100, 74)))
    birth = DAY - timedelta(days=age * 365 + rng.randrange(365))
    grants: list[CategoryGrant] = []
    for code, share in (
        (Category.DIBAO, 0.10),
        (Category.TEKUN, 0.03),
        (Category.DISABLED, 0.05),
        (Category.SEMI_DISABLED, 0.06),
        (Category.LIVING_ALONE, 0.15),
        (Category.EMPTY_NEST, 0.20),
    ):
        if rng.random() < share:
            expired = rng.random() < 0.1
            grants.append(
                CategoryGrant(
                    code=code.value,
                    valid_from=date(2022, 1, 1),
                    valid_until=date(2025, 1, 1) if expired else None,
                )
            )
    away = rng.random()
    return ElderFacts(
        member=True,
        birth_date=birth,
        categories=grants,
        home_street_id=rng.choice(STREETS),
        home_district_id=DISTRICT if away < 0.97 else 2,
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(20250616)
    policy = demo_policy(district_id=DISTRICT)
    fresh, second = Usage(), Usage(slot_meals_today=1)
    cases = []
    for _ in range(n):
        e = make_elder(rng)
        same_street = rng.random() < 0.85 and e.home_street_id is not None
        cases.append(
            (
                e,
                rng.choice((800, 1000, 1200, 1500, 1800, 2000)),
                rng.choices(("breakfast", "lunch", "dinner"), (1, 6, 2))[0],
                "delivery" if rng.random() < 0.25 else "dine_in",
                second if rng.random() < 0.03 else fresh,
                e.home_street_id if same_street else rng.choice(STREETS),
            )
        )

    total_subsidy = 0
    start = time.perf_counter()
    for e, price, slot, mode, usage, street in cases:
        r = quote(
            elder=e,
            list_price_fen=price,
            slot=slot,
            day=DAY,
            mode=mode,
            policy=policy,
            usage=usage,
            site_street_id=street or STREETS[0],
            site_district_id=DISTRICT,
        )
        total_subsidy += r.subsidy_fen + r.delivery_subsidy_fen
    elapsed = time.perf_counter() - start

    print(f"quotes:           {n:,}")
    print(f"elapsed:          {elapsed:.3f} s")
    print(f"quotes/s:         {n / elapsed:,.0f}")
    print(f"µs per quote:     {elapsed / n * 1e6:.2f}")
    print(f"subsidy (check):  {total_subsidy / 100:,.2f} yuan")


if __name__ == "__main__":
    main()
