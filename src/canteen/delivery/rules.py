"""Pure delivery rules: distances, courier rounds (OR-Tools routing), a nearest-neighbour
baseline, the expected dine-in estimate and who counts as a regular diner.

Nothing here touches the database, so the benchmark and the unit tests call it directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_000.0
# An electric bike in city traffic, door to door, plus the minutes at each door (card scan
# and a word with the elder). Used only to keep a round inside its time window.
DEFAULT_SPEED_M_PER_MIN = 250
DEFAULT_SERVICE_MIN = 3
# An elder without coordinates is placed at the start point: routed, but at zero distance.


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


def haversine_m(a: Point, b: Point) -> int:
    """Great-circle distance in whole metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp = p2 - p1
    dl = math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def distance_matrix(depot: Point, stops: Sequence[Point]) -> list[list[int]]:
    """Node 0 is the depot; node i+1 is stops[i]."""
    nodes = [depot, *stops]
    return [[0 if i == j else haversine_m(a, b) for j, b in enumerate(nodes)] for i, a in enumerate(nodes)]


@dataclass(slots=True)
class Route:
    """One courier's stops (indexes into the input list) in visiting order."""

    stops: list[int] = field(default_factory=list)
    distance_m: int = 0  # from the start point to the last door; couriers need not come back
    arrival_min: list[int] = field(default_factory=list)  # minutes after departure, per stop


@dataclass(slots=True)
class RoutePlan:
    routes: list[Route]
    unassigned: list[int]  # stops no courier could take within capacity and window

    @property
    def distance_m(self) -> int:
        return sum(r.distance_m for r in self.routes)


def route_length(matrix: Sequence[Sequence[int]], order: Sequence[int]) -> int:
    """Open route length from the depot through ``order`` (stop indexes, 0-based)."""
    total, here = 0, 0
    for s in order:
        total += matrix[here][s + 1]
        here = s + 1
    return total


def _arrivals(matrix: Sequence[Sequence[int]], order: Sequence[int], speed: int, service: int) -> list[int]:
    out, here, t = [], 0, 0
    for s in order:
        t += math.ceil(matrix[here][s + 1] / speed)
        out.append(t)
        t += service
        here = s + 1
    return out


def nearest_neighbour(
    depot: Point,
    stops: Sequence[Point],
    couriers: int,
    capacity: int,
    matrix: Sequence[Sequence[int]] | None = None,
) -> RoutePlan:
    """The simple baseline: each courier in turn takes the nearest remaining door until full."""
    m = matrix if matrix is not None else distance_matrix(depot, stops)
    left = set(range(len(stops)))
    routes: list[Route] = []
    for _ in range(couriers):
        route, here = Route(), 0
        while left and len(route.stops) < capacity:
            nxt = min(left, key=lambda s: (m[here][s + 1], s))
            route.stops.append(nxt)
            left.discard(nxt)
            here = nxt + 1
        route.distance_m = route_length(m, route.stops)
        route.arrival_min = _arrivals(m, route.stops, DEFAULT_SPEED_M_PER_MIN, DEFAULT_SERVICE_MIN)
        routes.append(route)
    return RoutePlan(routes, sorted(left))


def plan_routes(
    depot: Point,
    stops: Sequence[Point],
    couriers: int,
    capacity: int,
    window_minutes: int,
    *,
    speed_m_per_min: int = DEFAULT_SPEED_M_PER_MIN,
    service_minutes: int = DEFAULT_SERVICE_MIN,
    time_limit_s: float = 2.0,
) -> RoutePlan:
    """Group ``stops`` into at most ``couriers`` open routes from ``depot`` and order them.

    OR-Tools' vehicle routing solver: the arc cost is the haversine distance, each stop
    uses one unit of a courier's ``capacity`` (meal boxes in the bag), and every door must
    be reached within ``window_minutes`` of departure (travel at ``speed_m_per_min`` plus
    ``service_minutes`` per door). Routes are open: the way back costs nothing. A stop that
    fits nowhere is dropped (a disjunction with a large penalty) and reported as
    unassigned rather than making the whole plan infeasible. The first solution is the
    cheapest-arc construction, improved by guided local search for ``time_limit_s``.
    """
    # OR-Tools is imported when routes are planned (a large native module).
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    if couriers < 1 or capacity < 1:
        return RoutePlan([], list(range(len(stops))))
    if not stops:
        return RoutePlan([Route() for _ in range(couriers)], [])
    matrix = distance_matrix(depot, stops)
    n = len(matrix)
    # Open routes: coming back to the depot is free.
    cost = [[0 if j == 0 else matrix[i][j] for j in range(n)] for i in range(n)]
    travel = [
        [
            0 if j == 0 or i == j else math.ceil(cost[i][j] / speed_m_per_min) + (service_minutes if i else 0)
            for j in range(n)
        ]
        for i in range(n)
    ]
    manager = pywrapcp.RoutingIndexManager(n, couriers, 0)
    routing = pywrapcp.RoutingModel(manager)
    cost_cb = routing.RegisterTransitMatrix(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    demand_cb = routing.RegisterUnaryTransitVector([0] + [1] * (n - 1))
    routing.AddDimensionWithVehicleCapacity(demand_cb, 0, [capacity] * couriers, True, "load")
    time_cb = routing.RegisterTransitMatrix(travel)
    routing.AddDimension(time_cb, 0, window_minutes, True, "time")
    penalty = 10_000_000
    for node in range(1, n):
        routing.AddDisjunction([manager.NodeToIndex(node)], penalty)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return RoutePlan([Route() for _ in range(couriers)], list(range(len(stops))))
    routes: list[Route] = []
    seen: set[int] = set()
    for v in range(couriers):
        order: list[int] = []
        index = routing.Start(v)
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                order.append(node - 1)
            index = solution.Value(routing.NextVar(index))
        seen.update(order)
        routes.append(
            Route(
                order,
                route_length(matrix, order),
                _arrivals(matrix, order, speed_m_per_min, service_minutes),
            )
        )
    return RoutePlan(routes, [i for i in range(len(stops)) if i not in seen])


def expected_dine_in(counts_by_week: Sequence[int]) -> int:
    """The average of the last weeks' same-weekday counts, rounded half up (4 weeks usually).

    Weeks with no record count as zero, so a point that opened recently is estimated low
    rather than high; the kitchen sees the figure and can cook a margin on top.
    """
    if not counts_by_week:
        return 0
    total, weeks = sum(counts_by_week), len(counts_by_week)
    return (2 * total + weeks) // (2 * weeks)


REGULAR_SHARE = 0.6
REGULAR_DAYS = 20
REGULAR_MIN_DAYS = 5


def is_regular(dine_in_days: int, serving_days: int) -> bool:
    """Eats with the programme on at least 60% of the last (up to) 20 serving days.

    With fewer than five serving days on record there is no habit to miss yet.
    """
    if serving_days < REGULAR_MIN_DAYS:
        return False
    return dine_in_days >= REGULAR_SHARE * serving_days
