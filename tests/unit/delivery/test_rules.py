"""Pure delivery rules: distances, routing against the baseline, estimates, regular diners."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.delivery.rules import (
    Point,
    distance_matrix,
    expected_dine_in,
    haversine_m,
    is_regular,
    nearest_neighbour,
    plan_routes,
    route_length,
)

KITCHEN = Point(30.3193, 120.1419)


def test_haversine_one_hundredth_of_a_degree_of_latitude_is_about_1112_m() -> None:
    assert 1100 <= haversine_m(KITCHEN, Point(KITCHEN.lat + 0.01, KITCHEN.lon)) <= 1125
    assert haversine_m(KITCHEN, KITCHEN) == 0


def _stops(n: int, seed: int) -> list[Point]:
    rng = random.Random(seed)
    return [
        Point(KITCHEN.lat + rng.uniform(-0.03, 0.03), KITCHEN.lon + rng.uniform(-0.03, 0.03))
        for _ in range(n)
    ]


def test_routing_visits_every_door_once_within_capacity_and_beats_nearest_neighbour() -> None:
    stops = _stops(60, 1)
    plan = plan_routes(KITCHEN, stops, 3, 25, 600, time_limit_s=1)
    visited = [s for r in plan.routes for s in r.stops]
    assert sorted(visited) == list(range(60)) and plan.unassigned == []
    assert all(len(r.stops) <= 25 for r in plan.routes)
    m = distance_matrix(KITCHEN, stops)
    assert all(r.distance_m == route_length(m, r.stops) for r in plan.routes)
    assert plan.distance_m <= nearest_neighbour(KITCHEN, stops, 3, 25, matrix=m).distance_m


def test_doors_beyond_capacity_or_window_are_reported_unassigned() -> None:
    stops = _stops(10, 2)
    assert len(plan_routes(KITCHEN, stops, 1, 4, 600, time_limit_s=0.2).unassigned) == 6
    tight = plan_routes(KITCHEN, stops, 2, 10, 10, time_limit_s=0.2)
    assert all(a <= 10 for r in tight.routes for a in r.arrival_min)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=8))
def test_expected_dine_in_is_the_rounded_average(counts: list[int]) -> None:
    exp = expected_dine_in(counts)
    assert abs(exp - sum(counts) / len(counts)) <= 0.5


def test_regular_means_sixty_percent_of_at_least_five_serving_days() -> None:
    assert is_regular(12, 20) and not is_regular(11, 20)
    assert not is_regular(4, 4)
    assert is_regular(3, 5)
