"""The next point on a grid gives the answer of comparing every candidate with every elder.

The all-pairs method (the one coverage.best_site used before the grid) is kept here as the
oracle: hypothesis draws layouts around a point and radii, and both must pick the same place,
the same elders and the same source; a synthetic district with thousands of uncovered elders
is checked against the oracle's own count for the place chosen and for every candidate."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.reports.coverage import (
    Grid,
    Place,
    Suggestion,
    analyse,
    best_site,
    covered,
    uncovered,
    walking_m,
)

BASE = Place(1, 30.27, 120.15)  # 杭州, 拱墅区
M_PER_DEG_LAT = 111_195.0


def oracle(
    elders: Sequence[Place], candidates: Sequence[tuple[Place, str]], limit_m: float
) -> Suggestion | None:
    """The all-pairs method: every candidate measured against every uncovered elder."""
    best: tuple[int, float, int] | None = None
    chosen: Suggestion | None = None
    for order, (cand, source) in enumerate(candidates):
        ids: list[int] = []
        total = 0.0
        for e in elders:
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


def scatter(n: int, spread_m: float, seed: int, lat: float = BASE.lat) -> list[Place]:
    rng = random.Random(seed)
    per_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
    return [
        Place(
            1000 + i,
            lat + rng.uniform(-spread_m, spread_m) / M_PER_DEG_LAT,
            BASE.lon + rng.uniform(-spread_m, spread_m) / per_lon,
            group=i % 7,
        )
        for i in range(n)
    ]


offsets = st.lists(
    st.tuples(st.floats(-0.04, 0.04), st.floats(-0.04, 0.04)), min_size=1, max_size=60, unique=True
)


@settings(max_examples=150, deadline=None)
@given(offsets, st.sampled_from([300.0, 800.0, 1000.0, 1500.0]), st.sampled_from([0.0, 30.27, 45.0, 60.0]))
def test_the_grid_picks_what_all_pairs_picks(
    spots: list[tuple[float, float]], limit_m: float, lat: float
) -> None:
    elders = [Place(i, lat + a, BASE.lon + b) for i, (a, b) in enumerate(spots)]
    centres = [
        Place(900 + i, lat + a / 2, BASE.lon - b / 2, label=f"c{i}") for i, (a, b) in enumerate(spots[:5])
    ]
    candidates = [(e, "elder") for e in elders] + [(c, "community") for c in centres]
    assert best_site(elders, candidates, limit_m) == oracle(elders, candidates, limit_m)


@settings(max_examples=100, deadline=None)
@given(offsets, st.sampled_from([500.0, 1000.0, 2000.0]))
def test_the_grid_finds_the_covered_elders_all_pairs_finds(
    spots: list[tuple[float, float]], limit_m: float
) -> None:
    elders = [Place(i, BASE.lat + a, BASE.lon + b) for i, (a, b) in enumerate(spots)]
    points = [BASE, Place(2, BASE.lat + 0.02, BASE.lon + 0.01, radius_m=600.0)]
    assert uncovered(elders, points, limit_m) == [e for e in elders if not covered(e, points, limit_m)]


def test_ties_break_as_they_always_did() -> None:
    # Two elders 400 m apart: each covers both, at the same total walk; the first candidate wins.
    a = Place(1, BASE.lat, BASE.lon)
    b = Place(2, BASE.lat + 400 / M_PER_DEG_LAT, BASE.lon)
    cands = [(a, "elder"), (b, "elder")]
    assert best_site([a, b], cands) == oracle([a, b], cands, 1000.0)
    assert best_site([a, b], cands) == Suggestion(a.lat, a.lon, 2, (1, 2), "elder")


def test_every_neighbour_lies_in_the_nine_cells() -> None:
    elders = scatter(800, 3_000, seed=7)
    grid = Grid(elders, 1_000.0)
    for cand in elders[:80]:
        near = {e.id for _, e in grid.near(cand)}
        assert {e.id for e in elders if walking_m(e, cand) <= 1_000.0} <= near


def test_small_synthetic_district_matches_the_oracle() -> None:
    elders = scatter(400, 2_500, seed=11)
    centres = [
        Place(5000 + i, e.lat, e.lon, label=f"社区{i}") for i, e in enumerate(scatter(12, 2_500, seed=3))
    ]
    candidates = [(e, "elder") for e in elders] + [(c, "community") for c in centres]
    assert best_site(elders, candidates) == oracle(elders, candidates, 1_000.0)


def test_a_district_with_thousands_of_uncovered_elders() -> None:
    """3,000 elders spread over 12 km, a point covering the middle: the grid's pick covers exactly
    the elders all-pairs counts for it, and no candidate of a sample covers more."""
    elders = scatter(3_000, 6_000, seed=5)
    result = analyse(elders, [BASE])
    assert len(result.uncovered_ids) > 2_800
    [pick] = result.suggestions
    left = [e for e in elders if e.id in set(result.uncovered_ids)]
    at = Place(0, pick.lat, pick.lon)
    assert pick.elder_ids == tuple(sorted(e.id for e in left if walking_m(e, at) <= 1_000.0))
    for cand in random.Random(1).sample(left, 200):
        assert sum(walking_m(e, cand) <= 1_000.0 for e in left) <= pick.covers
