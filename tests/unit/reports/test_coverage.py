"""The 15-minute circle on a constructed layout: who is covered, and where the next point goes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canteen.reports.coverage import DETOUR_FACTOR, Place, analyse, haversine_m, walking_m

M_PER_DEG_LAT = 111_195.0  # on the 6,371 km sphere


def north(base: Place, metres: float, id: int, group: int | None = None) -> Place:
    return Place(id, base.lat + metres / M_PER_DEG_LAT, base.lon, group=group)


POINT = Place(1, 30.0, 120.0)


def test_haversine_matches_a_known_distance() -> None:
    # One degree of latitude on the mean-radius sphere.
    assert haversine_m(30.0, 120.0, 31.0, 120.0) == pytest.approx(M_PER_DEG_LAT, rel=1e-4)


def test_the_walk_limit_applies_to_the_detoured_distance() -> None:
    # 790 m straight is 987.5 m on foot: covered; 810 m is 1,012.5 m: not covered.
    near, far = north(POINT, 790, 10), north(POINT, 810, 11)
    assert walking_m(near, POINT) == pytest.approx(790 * DETOUR_FACTOR, rel=1e-3)
    result = analyse([near, far], [POINT])
    assert (result.covered, result.eligible, result.uncovered_ids) == (1, 2, [11])


def test_constructed_district_share_and_next_point() -> None:
    near = [north(POINT, d, 100 + i, group=1) for i, d in enumerate((100, 300, 500))]
    # A cluster of four elders 3 km north (community 2), 100 m apart along the street,
    # and one elder alone 3 km south (community 3).
    cluster_base = north(POINT, 3_000, 0)
    cluster = [north(cluster_base, 100 * i, 200 + i, group=2) for i in range(4)]
    alone = north(POINT, -3_000, 300, group=3)
    centres = [Place(2, cluster_base.lat, cluster_base.lon, label="北区社区"), Place(3, alone.lat, alone.lon)]
    result = analyse([*near, *cluster, alone], [POINT], centres)
    assert result.eligible == 8
    assert result.covered == 3
    assert result.share == pytest.approx(3 / 8)
    assert result.uncovered_by_group == {2: 4, 3: 1}
    [best] = result.suggestions
    assert best.covers == 4
    assert set(best.elder_ids) == {200, 201, 202, 203}
    # The winning site lies among the cluster: within the walk limit of every elder it covers.
    assert all(walking_m(Place(0, best.lat, best.lon), e) <= 1_000 for e in cluster)


def test_greedy_second_point_takes_what_is_left() -> None:
    cluster = [north(POINT, 3_000 + 100 * i, 200 + i) for i in range(4)]
    alone = north(POINT, -3_000, 300)
    result = analyse([*cluster, alone], [POINT], k=2)
    assert [s.covers for s in result.suggestions] == [4, 1]
    assert result.suggestions[1].elder_ids == (300,)


def test_nobody_eligible_means_no_share_and_no_suggestion() -> None:
    result = analyse([], [POINT])
    assert result.share == 0.0 and result.suggestions == []


@given(
    st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05)), min_size=1, max_size=30, unique=True)
)
def test_the_suggestion_never_claims_more_than_the_uncovered(offsets: list[tuple[float, float]]) -> None:
    elders = [Place(i, 30.0 + a, 120.0 + b) for i, (a, b) in enumerate(offsets)]
    result = analyse(elders, [POINT])
    assert result.covered + len(result.uncovered_ids) == len(elders)
    for s in result.suggestions:
        assert 1 <= s.covers <= len(result.uncovered_ids)
        assert set(s.elder_ids) <= set(result.uncovered_ids)
