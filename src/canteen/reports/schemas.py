"""What the dashboard, the coverage view and the public page show: plain Structs, no personal data
beyond counts (the coverage map carries community counts, never an elder's name or home)."""

from __future__ import annotations

import datetime as dt

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
    # The next-point job run that found it, and when it ended ("" / None while it is being made).
    run_id: str = ""
    suggested_at: dt.datetime | None = None


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
    # Meals priced by another district's policy than the point's (补贴跟着人走), either way:
    # lines whose host is this district are visitors, whose home is this district residents away.
    away: list[AwayLine] = []


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
    # 补贴跟着人走 across the city: per (home district, host district), what was eaten and is owed.
    between: list[CityFlow] = []


class CityFlow(msgspec.Struct):
    home_district_id: int
    home_district_name: str
    host_district_id: int
    host_district_name: str
    meals: int
    subsidy_fen: int
    owed_fen: int


class AwayLine(msgspec.Struct):
    """Meals of one home district's residents at one point of another district, in a month."""

    host_district_id: int
    host_district_name: str
    home_district_id: int
    home_district_name: str
    site_id: int
    site_name: str
    meals: int
    subsidised: int
    subsidy_fen: int  # the meal subsidy, all funders
    by_source: dict[str, int]  # the meal subsidy by funding source (the home policy's funders)
    delivery_subsidy_fen: int
    owed_fen: int  # what the home district owes the host: its own funders' shares (not city-wide ones)
    delivery_by_source: dict[str, int] = {}  # the delivery subsidy by funding source


class InterDistrictStatement(msgspec.Struct):
    """补贴跟着人走: what a district's residents ate elsewhere (its funders owe the hosts) and what
    residents of other districts ate at its points (their home districts owe it), for one month.

    A resident is priced by the home district's policy at any point of the city; the host
    district's operators are settled by the host, which claims the home district's shares back
    with this statement. City-wide funders (``CITY_WIDE_SOURCES``) are the same payer on both
    sides and are shown, never owed between districts."""

    district_id: int
    district_name: str
    month: str
    city_wide_sources: list[str]
    residents_away: list[AwayLine]  # our residents at other districts' points: we owe
    visitors: list[AwayLine]  # other districts' residents at our points: they owe us
    we_owe_fen: int
    owed_to_us_fen: int
    net_fen: int  # owed_to_us - we_owe
