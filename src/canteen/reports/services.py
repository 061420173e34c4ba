"""Read-only reports for officials (scoped to their district) and the public district page.

The month figures here are read from the meal table directly, a month and a district at a time
(indexed by district/date). The accounting package's rollups serve the heavy viability and
budget figures; when they are available the dashboard shows their grades beside these counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.aggregate import Sum

from canteen.accounting import kpis
from canteen.accounts import jobs as access
from canteen.accounts.roles import OFFICIAL, Grant, Principal, require_district
from canteen.core import queue
from canteen.core.errors import DomainError
from canteen.core.periods import last_complete_month, month_bounds
from canteen.meals.tables import DailyRollup, Meal
from canteen.quality.tables import MealRating
from canteen.regions.services import get_city
from canteen.regions.tables import Community, District, Site
from canteen.registry.tables import Elder, ElderCategory
from canteen.reports import coverage as cov
from canteen.reports.schemas import (
    AwayLine,
    CityDistrict,
    CityFlow,
    CityOverview,
    CommunityCount,
    CoverageView,
    DaySeries,
    InterDistrictStatement,
    MonthOverview,
    NextPoint,
    PointMonth,
    PointOnMap,
    PublicDistrict,
    PublicPoint,
    ReasonText,
    Satisfaction,
)

ELIGIBLE_AGE = 80


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


async def eligible_elders(district_id: int, today: dt.date) -> list[dict[str, Any]]:
    """Active elders who hold any subsidy category valid today, or are aged 80 or more.

    This is who the meal programme is for (DOMAIN.md: 特困, 低保, 高龄 80+, 失能 …); other
    registered elders may eat at a point but are not counted in the coverage share.
    """
    elders = await Elder.select(Elder.id, Elder.community, Elder.birth_date, Elder.lat, Elder.lon).where(
        (Elder.district == district_id) & (Elder.status == "active")
    )
    cats = await ElderCategory.select(ElderCategory.elder).where(
        (ElderCategory.elder.district == district_id)
        & (ElderCategory.valid_from <= today)
        & ((ElderCategory.valid_until.is_null()) | (ElderCategory.valid_until >= today))
    )
    with_category = {int(r["elder"]) for r in cats}
    return [
        e
        for e in elders
        if e["id"] in with_category or (e["birth_date"] and _age(e["birth_date"], today) >= ELIGIBLE_AGE)
    ]


NEXT_POINT_JOB = "reports.next_point"


async def _coverage_inputs(district_id: int, today: dt.date) -> dict[str, Any]:
    """What coverage is measured on: the district's radius, its meal points, communities,
    registered and eligible elders, as the pure module's places."""
    district = await District.select(District.service_radius_m).where(District.id == district_id).first()
    limit_m = int(district["service_radius_m"]) if district else int(cov.WALK_LIMIT_M)
    sites = (
        await Site.select(
            Site.id, Site.name, Site.point_type, Site.status, Site.lat, Site.lon, Site.service_radius_m
        )
        .where((Site.district == district_id) & (Site.kind == "meal_point"))
        .order_by(Site.id)
    )
    communities = (
        await Community.select(Community.id, Community.name, Community.lat, Community.lon)
        .where(Community.district == district_id)
        .order_by(Community.id)
    )
    eligible = await eligible_elders(district_id, today)
    located = [e for e in eligible if e["lat"] is not None and e["lon"] is not None]
    return {
        "limit_m": limit_m,
        "sites": sites,
        "communities": communities,
        "eligible": eligible,
        "located": located,
        "elders": [cov.Place(int(e["id"]), e["lat"], e["lon"], group=int(e["community"])) for e in located],
        "open_points": [
            cov.Place(int(s["id"]), s["lat"], s["lon"], label=s["name"], radius_m=s["service_radius_m"])
            for s in sites
            if s["status"] == "open"
        ],
        "centres": [cov.Place(int(c["id"]), c["lat"], c["lon"], label=c["name"]) for c in communities],
    }


async def next_point(
    district_id: int, today: dt.date, *, read: Callable[[], Awaitable[None]] | None = None
) -> NextPoint | None:
    """Where one more meal point would bring the most uncovered eligible elders within reach
    (None when every located eligible elder is covered). The work of the ``reports.next_point``
    job: sub-quadratic (``coverage.best_site`` on a grid), still seconds on a city district."""
    data = await _coverage_inputs(district_id, today)
    if read is not None:  # the job's progress: the rows are read, the search begins
        await read()
    result = cov.analyse(data["elders"], data["open_points"], data["centres"], limit_m=data["limit_m"])
    if not result.suggestions:
        return None
    s = result.suggestions[0]
    here = cov.Place(0, s.lat, s.lon)
    nearest = min(data["centres"], key=lambda c: cov.walking_m(here, c), default=None)
    return NextPoint(
        lat=round(s.lat, 6),
        lon=round(s.lon, 6),
        covers=s.covers,
        near_community=nearest.label if nearest else "",
        source=s.source,
    )


async def start_next_point(actor: Principal, district_id: int, today: dt.date) -> queue.JobRunView:
    """Queue the next-point suggestion for a district its official may read; asking again
    while one runs joins it."""
    require_district(actor, district_id)
    # The job module imports this one; importing it here registers the kind before submitting.
    from canteen.reports import jobs as _jobs  # noqa: F401

    return await queue.submit(
        NEXT_POINT_JOB,
        {"district_id": district_id, "day": today.isoformat()},
        user_id=actor.user_id,
        district_id=district_id,
        key=f"{district_id}:{today.isoformat()}",
    )


async def _suggestion(actor: Principal, district_id: int, run_id: str | None) -> NextPoint | None:
    """The suggestion of a finished next-point run of this district: ``run_id``'s (which the
    actor must be allowed to see), else the latest one."""
    if run_id:
        run = await access.run_for(actor, run_id)
        if run.kind != NEXT_POINT_JOB or run.district_id != district_id:
            raise DomainError("job_not_found", {"job_id": run_id[:32]})
        runs = [run]
    else:
        runs = await queue.latest(NEXT_POINT_JOB, district_id=district_id, limit=10)
    for run in runs:
        found = run.result.get("suggestion") if run.status == "done" else None
        if isinstance(found, dict):
            point = msgspec.convert(found, NextPoint)
            point.run_id = run.id
            point.suggested_at = run.finished_at
            return point
    return None


async def coverage_report(
    actor: Principal, district_id: int, today: dt.date, *, suggestion_run: str | None = None
) -> CoverageView:
    """Share of eligible elders within walking reach of an open meal point (each point's service
    radius, else the district's — 1 km by default), the communities with the most uncovered
    eligible elders, and the place for the next point: ``suggestion_run``'s, else the latest
    finished next-point job's (:func:`start_next_point`; none until one has run)."""
    require_district(actor, district_id)
    data = await _coverage_inputs(district_id, today)
    limit_m, sites, communities = data["limit_m"], data["sites"], data["communities"]
    eligible, located = data["eligible"], data["located"]
    registered = await Elder.select(Elder.id, Elder.community).where(
        (Elder.district == district_id) & (Elder.status == "active")
    )
    result = cov.analyse(data["elders"], data["open_points"], data["centres"], k=0, limit_m=limit_m)
    reg_by: dict[int, int] = {}
    for r in registered:
        reg_by[int(r["community"])] = reg_by.get(int(r["community"]), 0) + 1
    elig_by: dict[int, int] = {}
    for e in eligible:
        elig_by[int(e["community"])] = elig_by.get(int(e["community"]), 0) + 1
    counts = [
        CommunityCount(
            id=int(c["id"]),
            name=c["name"],
            lat=c["lat"],
            lon=c["lon"],
            elders=reg_by.get(int(c["id"]), 0),
            eligible=elig_by.get(int(c["id"]), 0),
            uncovered=result.uncovered_by_group.get(int(c["id"]), 0),
        )
        for c in communities
    ]
    most = sorted((c for c in counts if c.uncovered), key=lambda c: (-c.uncovered, c.id))[:5]
    suggestion = await _suggestion(actor, district_id, suggestion_run)
    return CoverageView(
        district_id=district_id,
        day=today.isoformat(),
        eligible=result.eligible,
        covered=result.covered,
        share=round(result.share, 4),
        without_location=len(eligible) - len(located),
        walk_limit_m=limit_m,
        detour_factor=cov.DETOUR_FACTOR,
        points=[
            PointOnMap(
                int(s["id"]),
                s["name"],
                s["point_type"],
                s["status"],
                s["lat"],
                s["lon"],
                radius_m=int(s["service_radius_m"] or limit_m),
                own_radius=s["service_radius_m"] is not None,
            )
            for s in sites
        ],
        communities=counts,
        most_uncovered=most,
        suggestion=suggestion,
    )


def _satisfaction(scores: list[int]) -> Satisfaction:
    return Satisfaction(
        ratings=len(scores),
        happy=scores.count(3),
        neutral=scores.count(2),
        unhappy=scores.count(1),
        score=round(sum(scores) / len(scores), 2) if scores else None,
    )


class _MonthTotals:
    """A district-month read from the daily rollups (never the meals): per point and day, the
    subsidy by primary category, and by funding source."""

    def __init__(self) -> None:
        self.per_day: dict[tuple[int, dt.date], list[int]] = {}  # meals, subsidised, subsidy, copay
        self.by_category: dict[tuple[int, str], int] = {}
        self.by_source: dict[tuple[int, str], int] = {}


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


async def _month_totals(district_id: int, first: dt.date, last: dt.date, today: dt.date) -> _MonthTotals:
    # A meal counts when served or delivered: a delivery meal is written when it is ordered,
    # so service days after today (meals ordered for tomorrow) are not counted yet. The rollups
    # are kept in the meal's own write (canteen.meals.rollups), so they agree with the meals; a
    # district-month is a few thousand grouped rows, whatever the number of meals.
    last = min(last, today)
    out = _MonthTotals()
    if last < first:
        return out
    R = DailyRollup
    scope = (R.district == district_id) & (R.service_date >= first) & (R.service_date <= last)
    days = await (
        R.select(
            R.site,
            R.service_date,
            Sum(R.meals, alias="meals"),
            Sum(R.subsidised, alias="subsidised"),
            Sum(R.subsidy_fen, alias="subsidy_fen"),
            Sum(R.copay_fen, alias="copay_fen"),
        )
        .where(scope & (R.source == ""))
        .group_by(R.site, R.service_date)
    )
    for r in days:
        out.per_day[(int(r["site"]), _as_date(r["service_date"]))] = [
            int(r["meals"] or 0),
            int(r["subsidised"] or 0),
            int(r["subsidy_fen"] or 0),
            int(r["copay_fen"] or 0),
        ]
    cats = await (
        R.select(R.site, R.category, Sum(R.subsidy_fen, alias="fen"))
        .where(scope & (R.source == ""))
        .group_by(R.site, R.category)
    )
    for r in cats:
        out.by_category[(int(r["site"]), str(r["category"]))] = int(r["fen"] or 0)
    sources = await (
        R.select(R.site, R.source, Sum(R.subsidy_fen, alias="fen"))
        .where(scope & (R.source != ""))
        .group_by(R.site, R.source)
    )
    for r in sources:
        out.by_source[(int(r["site"]), str(r["source"]))] = int(r["fen"] or 0)
    return out


async def _ratings(district_id: int, first: dt.date, last: dt.date) -> dict[int, list[int]]:
    rows = await MealRating.select(MealRating.site, MealRating.score).where(
        (MealRating.district == district_id)
        & (MealRating.service_date >= first)
        & (MealRating.service_date <= last)
    )
    out: dict[int, list[int]] = {}
    for r in rows:
        out.setdefault(int(r["site"]), []).append(int(r["score"]))
    return out


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


async def _viability(
    actor: Principal, district_id: int, month: str
) -> dict[int, tuple[str, list[ReasonText]]] | None:
    """Grades and reasons from accounting's viability report, when it can answer."""
    try:
        report = await kpis.viability_report(actor, district_id, month)  # ranked, with reasons
    except DomainError:
        return None
    out: dict[int, tuple[str, list[ReasonText]]] = {}
    for p in getattr(report, "points", []):
        reasons = [
            ReasonText(str(getattr(r, "zh", r)), str(getattr(r, "en", r))) for r in getattr(p, "reasons", [])
        ]
        out[int(p.site_id)] = (str(p.grade or ""), reasons)
    return out


async def spending(actor: Principal, district_id: int, year: int) -> Any | None:
    """Subsidy spending against each funding source's budget (the accounting package's report)."""
    try:
        return await kpis.spending_vs_budget(actor, district_id, year)
    except DomainError:
        return None


_GRADE_ORDER = {"A": 0, "B": 1, "C": 2, "D": 3, "N": 4}


async def month_overview(
    actor: Principal, district_id: int, month: str, *, today: dt.date | None = None
) -> MonthOverview:
    """Per point: meals, subsidies, satisfaction (and the viability grade with its reasons when
    the accounting package provides it), ranked by grade; daily series; subsidy by category and
    by funding source. Meals of days after ``today`` (ordered ahead) are not counted."""
    require_district(actor, district_id)
    today = today or kpis.service_today()
    first, last = month_bounds(month)
    district = await District.select(District.name, District.code).where(District.id == district_id).first()
    if district is None:
        raise DomainError("not_found", {"district_id": district_id})
    sites = (
        await Site.select(Site.id, Site.name, Site.point_type)
        .where((Site.district == district_id) & (Site.kind == "meal_point"))
        .order_by(Site.id)
    )
    totals = await _month_totals(district_id, first, last, today)
    ratings = await _ratings(district_id, first, last)
    viability = await _viability(actor, district_id, month)
    per: dict[int, dict[str, Any]] = {
        int(s["id"]): {"meals": 0, "sub": 0, "subsidy": 0, "copay": 0, "days": set()} for s in sites
    }
    days: dict[dt.date, list[int]] = {}
    for (site_id, day), (meals, sub, subsidy, copay) in totals.per_day.items():
        p = per.get(site_id)
        if p is None or meals <= 0:
            continue
        p["meals"] += meals
        p["sub"] += sub
        p["subsidy"] += subsidy
        p["copay"] += copay
        p["days"].add(day)
        d = days.setdefault(day, [0, 0])
        d[0] += meals
        d[1] += subsidy
    by_category: dict[str, int] = {}
    for (site_id, category), fen in totals.by_category.items():
        if site_id in per and fen:
            by_category[category] = by_category.get(category, 0) + fen
    by_source: dict[str, int] = {}
    for (site_id, source), fen in totals.by_source.items():
        if site_id in per and fen:
            by_source[source] = by_source.get(source, 0) + fen
    points = []
    for s in sites:
        p = per[int(s["id"])]
        grade, reasons = (viability or {}).get(int(s["id"]), (None, []))
        points.append(
            PointMonth(
                site_id=int(s["id"]),
                name=s["name"],
                point_type=s["point_type"],
                meals=p["meals"],
                subsidised=p["sub"],
                subsidy_fen=p["subsidy"],
                copay_fen=p["copay"],
                serving_days=len(p["days"]),
                satisfaction=_satisfaction(ratings.get(int(s["id"]), [])),
                grade=grade or None,
                reasons=reasons,
            )
        )
    points.sort(key=lambda p: (_GRADE_ORDER.get(p.grade or "", 9), -p.meals, p.site_id))
    return MonthOverview(
        district_id=district_id,
        district_name=district["name"],
        district_code=district["code"],
        month=month,
        meals=sum(p.meals for p in points),
        subsidy_fen=sum(p.subsidy_fen for p in points),
        points=points,
        days=[DaySeries(d.isoformat(), v[0], v[1]) for d, v in sorted(days.items())],
        by_category=dict(sorted(by_category.items())),
        by_source=dict(sorted(by_source.items())),
        viability_available=viability is not None,
        # Shown apart: residents of other districts served here (their home policy, their home
        # district's funders) and this district's residents served elsewhere.
        away=await away_meals([district_id], first, min(last, today)),
    )


async def public_district(code: str, month: str | None, today: dt.date) -> PublicDistrict:
    """The transparency page: monthly totals per meal point. Counts and sums only, no person."""
    district = (
        await District.select(District.id, District.name, District.code).where(District.code == code).first()
    )
    if district is None:
        raise DomainError("not_found", {"code": code})
    month = month or last_complete_month(today)
    first, last = month_bounds(month)
    district_id = int(district["id"])
    sites = (
        await Site.select(Site.id, Site.name, Site.point_type)
        .where((Site.district == district_id) & (Site.kind == "meal_point") & (Site.status != "planned"))
        .order_by(Site.id)
    )
    totals = await _month_totals(district_id, first, last, today)
    ratings = await _ratings(district_id, first, last)
    per: dict[int, list[int]] = {int(s["id"]): [0, 0, 0] for s in sites}
    for (site_id, _day), (meals, sub, subsidy, _copay) in totals.per_day.items():
        p = per.get(site_id)
        if p is not None:
            p[0] += meals
            p[1] += sub
            p[2] += subsidy
    points = []
    for s in sites:
        meals, sub, fen = per[int(s["id"])]
        sat = _satisfaction(ratings.get(int(s["id"]), []))
        points.append(PublicPoint(s["name"], s["point_type"], meals, sub, fen, sat.ratings, sat.score))
    months = []
    y, m = today.year, today.month
    for _ in range(12):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return PublicDistrict(
        code=district["code"],
        name=district["name"],
        month=month,
        months=months,
        points=points,
        meals=sum(p.meals for p in points),
        subsidy_fen=sum(p.subsidy_fen for p in points),
    )


def _district_reader(actor: Principal, district_ids: Iterable[int]) -> Principal:
    """The city official as a reader of its city's districts: a principal with an official grant
    for exactly those districts. Used only inside this module, for the read-only district reports
    the city view is built from; the city official never gets a district's write rights."""
    return Principal(
        user_id=actor.user_id,
        username=actor.username,
        display_name=actor.display_name,
        grants=tuple(Grant(OFFICIAL, d) for d in sorted(district_ids)),
    )


async def city_overview(
    actor: Principal, city_id: int, month: str, *, today: dt.date | None = None
) -> CityOverview:
    """Every district of a city in one month: its points and their grades, meals, subsidy by
    funding source — the sums of the districts' own month overviews, so the two never disagree."""
    city = await get_city(actor, city_id)
    reader = _district_reader(actor, city.district_ids)
    districts: list[CityDistrict] = []
    by_source: dict[str, int] = {}
    flows: dict[tuple[int, int], CityFlow] = {}
    for district_id in city.district_ids:
        view = await month_overview(reader, district_id, month, today=today)
        for li in view.away:  # each line once: from its host's overview
            if li.host_district_id != district_id:
                continue
            f = flows.setdefault(
                (li.home_district_id, li.host_district_id),
                CityFlow(li.home_district_id, li.home_district_name, li.host_district_id,
                         li.host_district_name, 0, 0, 0),
            )  # fmt: skip
            f.meals += li.meals
            f.subsidy_fen += li.subsidy_fen
            f.owed_fen += li.owed_fen
        graded: dict[str, int] = {}
        for p in view.points:
            graded[p.grade or "N"] = graded.get(p.grade or "N", 0) + 1
        for source, fen in view.by_source.items():
            by_source[source] = by_source.get(source, 0) + fen
        districts.append(
            CityDistrict(
                district_id=district_id,
                name=view.district_name,
                code=view.district_code,
                points=len(view.points),
                graded=dict(sorted(graded.items())),
                meals=view.meals,
                subsidised=sum(p.subsidised for p in view.points),
                subsidy_fen=view.subsidy_fen,
                by_source=view.by_source,
                viability_available=view.viability_available,
            )
        )
    return CityOverview(
        city_id=city.id,
        name=city.name,
        code=city.code,
        month=month,
        meals=sum(d.meals for d in districts),
        subsidised=sum(d.subsidised for d in districts),
        subsidy_fen=sum(d.subsidy_fen for d in districts),
        by_source=dict(sorted(by_source.items())),
        districts=districts,
        between=[flows[k] for k in sorted(flows)],
    )


# Funders that pay city-wide (the city's and the province's money): the same payer whichever
# district's point serves the meal, so never owed between districts.
CITY_WIDE_SOURCES = ("province", "city")


def _may_read_district(actor: Principal, district_id: int) -> None:
    # An official of the district, a city official of its city, or an admin.
    if not (actor.can_district(district_id) or district_id in actor.city_district_ids()):
        raise DomainError("not_found", {"district_id": district_id})


async def away_meals(district_ids: Iterable[int], first: dt.date, last: dt.date) -> list[AwayLine]:
    """Meals priced by one district's policy at a point of another (补贴跟着人走), touching any
    of ``district_ids`` as host or home, between ``first`` and ``last``: one line per (home
    district, point). The one query behind the inter-district statement and the dashboards'
    "residents of other districts" figures."""
    ids = sorted(set(district_ids))
    if not ids:
        return []
    rows = await Meal.select(
        Meal.district,
        Meal.policy_district,
        Meal.site,
        Meal.subsidised,
        Meal.subsidy_fen,
        Meal.delivery_subsidy_fen,
        Meal.funding,
        Meal.delivery_funding,
    ).where(
        (Meal.service_date >= first)
        & (Meal.service_date <= last)
        & Meal.voided_at.is_null()
        & Meal.policy_district.is_not_null()
        & WhereRaw("policy_district <> district")
        & (Meal.district.is_in(ids) | Meal.policy_district.is_in(ids))
    )
    acc: dict[tuple[int, int, int], dict[str, Any]] = {}
    for r in rows:
        key = (int(r["policy_district"]), int(r["district"]), int(r["site"]))
        a = acc.setdefault(key, {"meals": 0, "sub": 0, "fen": 0, "dfen": 0, "src": {}, "dsrc": {}, "owed": 0})
        a["meals"] += 1
        a["sub"] += 1 if r["subsidised"] else 0
        a["fen"] += int(r["subsidy_fen"] or 0)
        dfen = int(r["delivery_subsidy_fen"] or 0)
        a["dfen"] += dfen
        for part in _json_list(r["funding"]):
            src, fen = str(part.get("source", "")), int(part.get("fen", 0))
            a["src"][src] = a["src"].get(src, 0) + fen
            a["owed"] += 0 if src in CITY_WIDE_SOURCES else fen
        delivery_parts = _json_list(r["delivery_funding"])
        for part in delivery_parts:
            src, fen = str(part.get("source", "")), int(part.get("fen", 0))
            a["dsrc"][src] = a["dsrc"].get(src, 0) + fen
            a["owed"] += 0 if src in CITY_WIDE_SOURCES else fen
        if dfen and not delivery_parts:  # written before the parts were kept: owed as a whole
            a["owed"] += dfen
    if not acc:
        return []
    names = {
        int(d["id"]): d["name"]
        for d in await District.select(District.id, District.name).where(
            District.id.is_in(sorted({k[0] for k in acc} | {k[1] for k in acc}))
        )
    }
    sites = {
        int(s["id"]): s["name"]
        for s in await Site.select(Site.id, Site.name).where(Site.id.is_in(sorted({k[2] for k in acc})))
    }
    lines = []
    for (home, host, site), a in sorted(acc.items()):
        lines.append(
            AwayLine(
                host_district_id=host,
                host_district_name=names.get(host, ""),
                home_district_id=home,
                home_district_name=names.get(home, ""),
                site_id=site,
                site_name=sites.get(site, ""),
                meals=a["meals"],
                subsidised=a["sub"],
                subsidy_fen=a["fen"],
                by_source=dict(sorted(a["src"].items())),
                delivery_subsidy_fen=a["dfen"],
                delivery_by_source=dict(sorted(a["dsrc"].items())),
                owed_fen=a["owed"],
            )
        )
    return lines


async def inter_district_statement(
    actor: Principal, district_id: int, month: str, *, today: dt.date | None = None
) -> InterDistrictStatement:
    """The month's inter-district statement of ``district_id`` (see :class:`InterDistrictStatement`):
    its residents' meals at other districts' points and other residents' meals at its points,
    each line with the home policy's funders' shares and what is owed. Meals of days after
    ``today`` are not counted (a delivery ordered ahead is not a meal yet)."""
    _may_read_district(actor, district_id)
    district = await District.select(District.name).where(District.id == district_id).first()
    if district is None:
        raise DomainError("not_found", {"district_id": district_id})
    today = today or kpis.service_today()
    first, last = month_bounds(month)
    lines = await away_meals([district_id], first, min(last, today))
    away = [li for li in lines if li.home_district_id == district_id]
    visitors = [li for li in lines if li.host_district_id == district_id]
    we_owe = sum(li.owed_fen for li in away)
    owed_to_us = sum(li.owed_fen for li in visitors)
    return InterDistrictStatement(
        district_id=district_id,
        district_name=district["name"],
        month=month,
        city_wide_sources=list(CITY_WIDE_SOURCES),
        residents_away=away,
        visitors=visitors,
        we_owe_fen=we_owe,
        owed_to_us_fen=owed_to_us,
        net_fen=owed_to_us - we_owe,
    )
