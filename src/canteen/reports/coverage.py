"""Coverage of the 15-minute meal circle, and where the next meal point would help most. Pure.

Walking distance is estimated, not routed: no street graph is available offline, so we take the
great-circle (haversine) distance and multiply it by a detour factor of 1.25, a common ratio of
network to straight-line distance in dense Chinese urban street grids. An elder is *covered* when
an OPEN meal point lies within that point's service radius: the district's radius (default 1 km of
walking, ≈ 15 minutes at an older person's ~4 km/h) unless the point sets its own.

The next point is a one-facility maximum-coverage problem: candidate sites are the uncovered
elders' own homes and the community centres; the candidate that covers the most uncovered elders
wins (ties: the smaller total walking distance to those it covers, then the candidate's order).
Greedy choice repeated ``k`` times is the classic (1 − 1/e) approximation for several points.

A city district holds thousands of uncovered elders, and comparing every candidate with every
elder grows with the square of them. So the elders are bucketed in a grid of cells at least one
reach wide (:class:`Grid`): an elder within reach of a candidate lies in the candidate's cell or
one of its eight neighbours, and only those are measured. The cells' counts also bound what a
candidate can cover, so candidates are tried best bound first and the search stops when no bound
can beat the best found. The distances measured are the same as before, so the answer is the
same as comparing all pairs (the tests keep that method as the oracle).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_008.8
DETOUR_FACTOR = 1.25
WALK_LIMIT_M = 1_000.0


@dataclass(frozen=True, slots=True)
class Place:
    """An elder's home, a meal point or a candidate site."""

    id: int
    lat: float
    lon: float
    group: int | None = None  # the community, for elders
    label: str = ""
    radius_m: float | None = None  # a meal point's own reach; None: the district's limit


@dataclass(frozen=True, slots=True)
class Suggestion:
    lat: float
    lon: float
    covers: int  # uncovered elders it would bring within the walk limit
    elder_ids: tuple[int, ...]
    source: str  # "elder" (an elder's home) | "community" (a community centre)
    label: str = ""


@dataclass(slots=True)
class Coverage:
    eligible: int
    covered: int
    uncovered_ids: list[int]
    uncovered_by_group: dict[int | None, int]
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.covered / self.eligible if self.eligible else 0.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def walking_m(a: Place, b: Place, detour: float = DETOUR_FACTOR) -> float:
    return haversine_m(a.lat, a.lon, b.lat, b.lon) * detour


class Grid:
    """Places bucketed in cells at least ``reach_m`` of walking wide in both directions, so every
    place within reach of a spot lies in the spot's cell or one of the eight around it."""

    # Cells a thousandth wider than the bound needs: floating-point slack at the edges.
    SLACK = 1.001

    def __init__(self, places: Iterable[Place], reach_m: float, detour: float = DETOUR_FACTOR) -> None:
        self.places = list(places)
        straight = max(reach_m, 1.0) / detour
        # Great-circle distance is at least R·|Δlat|, and at least 2R·cos(lat)·sin(|Δlon|/2) at the
        # narrowest latitude of the set (chord bound): cells of these widths in degrees are safe.
        widest = max((abs(p.lat) for p in self.places), default=0.0)
        cos_min = max(math.cos(math.radians(min(89.0, widest + 1.0))), 1e-6)
        self.dlat = math.degrees(straight / EARTH_RADIUS_M) * self.SLACK
        self.dlon = (
            math.degrees(2 * math.asin(min(1.0, straight / (2 * EARTH_RADIUS_M * cos_min)))) * self.SLACK
        )
        # Each place with its position in the input, so sums run in the input's order.
        self.cells: dict[tuple[int, int], list[tuple[int, Place]]] = defaultdict(list)
        for n, p in enumerate(self.places):
            self.cells[self.cell(p)].append((n, p))

    def cell(self, p: Place) -> tuple[int, int]:
        return math.floor(p.lat / self.dlat), math.floor(p.lon / self.dlon)

    def near(self, p: Place) -> Iterable[tuple[int, Place]]:
        """The places (with their positions) of the spot's cell and of the eight around it."""
        ci, cj = self.cell(p)
        for i in (ci - 1, ci, ci + 1):
            for j in (cj - 1, cj, cj + 1):
                yield from self.cells.get((i, j), ())

    def bound(self, p: Place) -> int:
        """How many places could be within reach of ``p`` at most."""
        ci, cj = self.cell(p)
        return sum(
            len(self.cells.get((i, j), ())) for i in (ci - 1, ci, ci + 1) for j in (cj - 1, cj, cj + 1)
        )


def covered(elder: Place, points: Sequence[Place], limit_m: float = WALK_LIMIT_M) -> bool:
    """Within reach of some point: its own radius when it has one, else ``limit_m``."""
    return any(walking_m(elder, p) <= (p.radius_m or limit_m) for p in points)


def uncovered(elders: Sequence[Place], points: Sequence[Place], limit_m: float = WALK_LIMIT_M) -> list[Place]:
    """The elders no point reaches, in their order; each measured against the nearby points only."""
    if not points:
        return list(elders)
    grid = Grid(points, max(p.radius_m or limit_m for p in points))
    return [e for e in elders if not any(walking_m(e, p) <= (p.radius_m or limit_m) for _, p in grid.near(e))]


def best_site(
    uncovered: Sequence[Place], candidates: Sequence[tuple[Place, str]], limit_m: float = WALK_LIMIT_M
) -> Suggestion | None:
    """The candidate covering the most of ``uncovered`` (None when no candidate covers anyone):
    the most elders, then the smallest total walk, then the first candidate."""
    if not uncovered or not candidates:
        return None
    grid = Grid(uncovered, limit_m)
    ranked = sorted(
        ((grid.bound(c), order) for order, (c, _) in enumerate(candidates)), key=lambda b: (-b[0], b[1])
    )
    best: tuple[int, float, int] | None = None
    chosen: Suggestion | None = None
    for bound, order in ranked:
        # No candidate left can cover as many as the best found (ties need equal counts).
        if bound == 0 or (best is not None and bound < -best[0]):
            break
        cand, source = candidates[order]
        within = sorted((n, e.id, d) for n, e in grid.near(cand) if (d := walking_m(e, cand)) <= limit_m)
        if not within:
            continue
        ids = [i for _, i, _ in within]
        total = 0.0
        for _, _, d in within:  # summed in the input's order: ties break as they always did
            total += d
        key = (-len(ids), total, order)
        if best is None or key < best:
            best = key
            chosen = Suggestion(cand.lat, cand.lon, len(ids), tuple(sorted(ids)), source, cand.label)
    return chosen


def analyse(
    elders: Sequence[Place],
    points: Sequence[Place],
    centres: Sequence[Place] = (),
    *,
    k: int = 1,
    limit_m: float = WALK_LIMIT_M,
) -> Coverage:
    """Covered share of ``elders`` (eligible, with coordinates) by open ``points``; ``k`` greedy
    suggestions for new points among the uncovered elders' homes and the community ``centres``."""
    left = uncovered(elders, points, limit_m)
    by_group: dict[int | None, int] = {}
    for e in left:
        by_group[e.group] = by_group.get(e.group, 0) + 1
    result = Coverage(
        eligible=len(elders),
        covered=len(elders) - len(left),
        uncovered_ids=[e.id for e in left],
        uncovered_by_group=by_group,
    )
    remaining = list(left)
    candidates = [(e, "elder") for e in left] + [(c, "community") for c in centres]
    for _ in range(k):
        pick = best_site(remaining, candidates, limit_m)
        if pick is None:
            break
        result.suggestions.append(pick)
        taken = set(pick.elder_ids)
        remaining = [e for e in remaining if e.id not in taken]
    return result
