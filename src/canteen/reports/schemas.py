"""What the dashboard, the coverage view and the public page show: plain Structs, no personal data
beyond counts (the coverage map carries community counts, never an elder's name or home)."""

from __future__ import annotations

import msgspec


class PointOnMap(msgspec.Struct):
    id: int
    name: str
    point_type: str | None
    status: str
    lat: float
    lon: float
    radius_m: int  # the walking reach used for this point (its own, else the district's)
    own_radius: bool = False  # True when the point sets its own radius


class CommunityCount(msgspec.Struct):
    id: int
    name: str
    lat: float
    lon: float
    elders: int  # registered, active
    eligible: int
    uncovered: int


class NextPoint(msgspec.Struct):
    lat: float
    lon: float
    covers: int
    near_community: str
    source: str


class CoverageView(msgspec.Struct):
    district_id: int
    day: str
    eligible: int
    covered: int
    share: float
    without_location: int  # eligible elders without coordinates: not counted either way
    walk_limit_m: int  # the district's service radius (walking metres)
    detour_factor: float
    points: list[PointOnMap]
    communities: list[CommunityCount]
    most_uncovered: list[CommunityCount]
    suggestion: NextPoint | None


class Satisfaction(msgspec.Struct):
    ratings: int
    happy: int
    neutral: int
    unhappy: int
    score: float | None  # mean of 1..3, None without ratings


class ReasonText(msgspec.Struct):
    zh: str
    en: str


class PointMonth(msgspec.Struct):
    site_id: int
    name: str
    point_type: str | None
    meals: int
    subsidised: int
    subsidy_fen: int
    copay_fen: int
    serving_days: int
    satisfaction: Satisfaction
    grade: str | None = None
    reasons: list[ReasonText] = []


class DaySeries(msgspec.Struct):
    day: str
    meals: int
    subsidy_fen: int


class MonthOverview(msgspec.Struct):
    district_id: int
    district_name: str
    district_code: str
    month: str
    meals: int
    subsidy_fen: int
    points: list[PointMonth]
    days: list[DaySeries]
    by_category: dict[str, int]  # subsidy fen by the elder's first category (or "none")
    by_source: dict[str, int]  # subsidy fen by funding source
    viability_available: bool


class PublicPoint(msgspec.Struct):
    name: str
    point_type: str | None
    meals: int
    subsidised: int
    subsidy_fen: int
    ratings: int
    satisfaction: float | None


class PublicDistrict(msgspec.Struct):
    code: str
    name: str
    month: str
    months: list[str]
    points: list[PublicPoint]
    meals: int
    subsidy_fen: int


class CityDistrict(msgspec.Struct):
    """One district of a city in a month: what the city official compares across districts."""

    district_id: int
    name: str
    code: str
    points: int  # meal points of the district
    graded: dict[str, int]  # points per viability grade (A–D; N: not graded, no costs or meals)
    meals: int
    subsidised: int
    subsidy_fen: int
    by_source: dict[str, int]  # meal subsidy fen by funding source
    viability_available: bool


class CityOverview(msgspec.Struct):
    city_id: int
    name: str
    code: str
    month: str
    meals: int
    subsidised: int
    subsidy_fen: int
    by_source: dict[str, int]
    districts: list[CityDistrict]
