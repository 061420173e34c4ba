"""Time to plan courier rounds for 500 deliveries and 15 couriers with OR-Tools, and the
route length against a nearest-neighbour baseline (same couriers, same capacity).

    .venv/bin/python scripts/bench/rounds.py [--deliveries 500] [--couriers 15] [--seconds 5]
"""

from __future__ import annotations

import argparse
import random
import time

from canteen.delivery.rules import Point, distance_matrix, nearest_neighbour, plan_routes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=500)
    ap.add_argument("--couriers", type=int, default=15)
    ap.add_argument("--capacity", type=int, default=40)
    ap.add_argument("--window", type=int, default=240, help="minutes from departure to the last door")
    ap.add_argument("--seconds", type=float, default=5.0, help="local search time limit")
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # A central kitchen in 拱墅区 and elders within ~4 km, denser near a few communities.
    kitchen = Point(30.3193, 120.1419)
    hubs = [
        Point(kitchen.lat + rng.uniform(-0.03, 0.03), kitchen.lon + rng.uniform(-0.03, 0.03))
        for _ in range(8)
    ]
    stops = []
    for _ in range(a.deliveries):
        h = rng.choice(hubs)
        stops.append(Point(h.lat + rng.gauss(0, 0.006), h.lon + rng.gauss(0, 0.006)))
    t0 = time.perf_counter()
    matrix = distance_matrix(kitchen, stops)
    t1 = time.perf_counter()
    plan = plan_routes(kitchen, stops, a.couriers, a.capacity, a.window, time_limit_s=a.seconds)
    t2 = time.perf_counter()
    base = nearest_neighbour(kitchen, stops, a.couriers, a.capacity, matrix=matrix)
    t3 = time.perf_counter()
    used = [len(r.stops) for r in plan.routes if r.stops]
    print(f"deliveries={a.deliveries} couriers={a.couriers} capacity={a.capacity} window={a.window}min")
    print(f"distance matrix: {t1 - t0:.2f} s")
    print(
        f"OR-Tools routing (time limit {a.seconds:g} s): {t2 - t1:.2f} s, {plan.distance_m / 1000:.1f} km, "
        f"{len(used)} rounds of {min(used)}-{max(used)} stops, {len(plan.unassigned)} unassigned"
    )
    km = base.distance_m / 1000
    print(f"nearest neighbour: {t3 - t2:.3f} s, {km:.1f} km, {len(base.unassigned)} unassigned")
    print(f"route length OR-Tools / nearest neighbour = {plan.distance_m / base.distance_m:.3f}")
    late = sum(1 for r in base.routes for m in r.arrival_min if m > a.window)
    print(f"nearest-neighbour doors reached after the {a.window}-minute window: {late}")


if __name__ == "__main__":
    main()
