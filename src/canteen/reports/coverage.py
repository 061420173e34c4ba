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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def covered(elder: Place, points: Sequence[Place], limit_m: float = WALK_LIMIT_M) -> bool:
    """Within reach of some point: its own radius when it has one, else ``limit_m``."""
    return any(walking_m(elder, p) <= (p.radius_m or limit_m) for p in points)


def best_site(
    uncovered: Sequence[Place], candidates: Sequence[tuple[Place, str]], limit_m: float = WALK_LIMIT_M
) -> Suggestion | None:
    """The candidate covering the most of ``uncovered`` (None when no candidate covers anyone)."""
    best: tuple[int, float, int] | None = None
    chosen: Suggestion | None = None
    for order, (cand, source) in enumerate(candidates):
        ids: list[int] = []
        total = 0.0
        for e in uncovered:
            d = walking_m(e, cand)
            if d <= limit_m:
                ids.append(e.id)
                total += d
        if not ids:
            continue
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
    uncovered = [e for e in elders if not covered(e, points, limit_m)]
    by_group: dict[int | None, int] = {}
    for e in uncovered:
        by_group[e.group] = by_group.get(e.group, 0) + 1
    result = Coverage(
        eligible=len(elders),
        covered=len(elders) - len(uncovered),
        uncovered_ids=[e.id for e in uncovered],
        uncovered_by_group=by_group,
    )
    remaining = list(uncovered)
    candidates = [(e, "elder") for e in uncovered] + [(c, "community") for c in centres]
    for _ in range(k):
        pick = best_site(remaining, candidates, limit_m)
        if pick is None:
            break
        result.suggestions.append(pick)
        taken = set(pick.elder_ids)
        remaining = [e for e in remaining if e.id not in taken]
    return result
