"""KPIs per point and month, viability grades, and subsidy spending against budgets — all from rollups."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from canteen.accounting.schemas import (
    CategoryMeals,
    PointDay,
    PointKpis,
    PointQuality,
    Reason,
    SourceSpending,
    SpendingCell,
    SpendingReport,
    ViabilityDays,
    ViabilityReport,
)
from canteen.accounting.tables import FundingBudget, OperatingSubsidyRule, SiteMonthCost
from canteen.accounts.roles import OPERATOR, Principal
from canteen.core.categories import category_label
from canteen.core.clock import local_date, utcnow
from canteen.core.errors import DomainError
from canteen.core.money import split_fen
from canteen.core.periods import index, month_bounds, shift
from canteen.meals.tables import DailyRollup, Meal, MonthlyRollup
from canteen.quality import complaints, survey
from canteen.regions.tables import Site
from canteen.settings import get_settings

# Grade thresholds: a point that covers its costs with at least half its
# capacity used and no more than 70% public money is A.
A_UTILISATION = 0.5
A_DEPENDENCE = 0.7
COST_FIELDS = (
    "food_fen",
    "labour_fen",
    "rent_fen",
    "utilities_fen",
    "depreciation_fen",
    "delivery_fen",
    "other_fen",
)
# Costs that move with the number of meals; the rest are fixed for the month.
VARIABLE_COSTS = ("food_fen", "delivery_fen")


@dataclass
class Base:
    """Meal-driven figures of one site and month (from the '' rollup rows)."""

    meals: int = 0
    subsidised: int = 0
    list_fen: int = 0
    subsidy_fen: int = 0
    copay_fen: int = 0
    delivery_fee_fen: int = 0
    delivery_subsidy_fen: int = 0
    serving_days: int = 0
    # Distinct (elder, day) pairs with a subsidised meal: what a per-diner-per-day subsidy pays for.
    diner_days: int = 0
    by_category: dict[str, int] = field(default_factory=dict)


def service_today() -> dt.date:
    """Today in the service zone: the last day whose meals count (see ``month_base``)."""
    return local_date(utcnow(), get_settings().tz)


async def month_base(
    district_id: int, month: str, *, categories: bool = True, today: dt.date | None = None
) -> dict[int, Base]:
    """Per-site sums of one month: money from the monthly rollups, serving days from the daily ones.

    A meal counts once it is served or delivered, never when merely ordered: a delivery meal is
    written when it is placed, so days after ``today`` (service zone) are left out. For a month
    that is not over yet the sums come from the daily rollups up to today.
    """
    first, last = month_bounds(month)
    today = today or service_today()
    sums = (
        "SELECT site, category, SUM(meals) AS meals, SUM(subsidised) AS subsidised, "
        "SUM(list_fen) AS list_fen, "
        "SUM(subsidy_fen) AS subsidy_fen, SUM(copay_fen) AS copay_fen, SUM(delivery_fee_fen) AS dfee, "
        "SUM(delivery_subsidy_fen) AS dsub "
    )
    if first > today:
        return {}
    if last <= today:
        rows = await MonthlyRollup.raw(
            sums + "FROM monthly_rollup WHERE district = {} AND month = {} AND source = '' "
            "GROUP BY site, category",
            district_id,
            month,
        )
    else:
        last = today
        rows = await DailyRollup.raw(
            sums + "FROM daily_rollup WHERE district = {} AND service_date >= {} AND service_date <= {} "
            "AND source = '' GROUP BY site, category",
            district_id,
            first,
            last,
        )
    out: dict[int, Base] = {}
    for r in rows:
        base = out.setdefault(r["site"], Base())
        base.meals += int(r["meals"] or 0)
        base.subsidised += int(r["subsidised"] or 0)
        base.list_fen += int(r["list_fen"] or 0)
        base.subsidy_fen += int(r["subsidy_fen"] or 0)
        base.copay_fen += int(r["copay_fen"] or 0)
        base.delivery_fee_fen += int(r["dfee"] or 0)
        base.delivery_subsidy_fen += int(r["dsub"] or 0)
        if categories and int(r["meals"] or 0):
            base.by_category[r["category"]] = int(r["meals"] or 0)
    if out:
        days = await DailyRollup.raw(
            "SELECT site, COUNT(DISTINCT service_date) AS days FROM daily_rollup WHERE district = {} "
            "AND source = '' AND service_date >= {} AND service_date <= {} AND meals > 0 GROUP BY site",
            district_id,
            first,
            last,
        )
        for r in days:
            out.setdefault(r["site"], Base()).serving_days = int(r["days"] or 0)
        for site, diner_days in (await diner_days_by_site(district_id, first, last)).items():
            out.setdefault(site, Base()).diner_days = diner_days
    return out


async def diner_days_by_site(district_id: int, first: dt.date, last: dt.date) -> dict[int, int]:
    """Per site, the distinct elders served a subsidised meal, summed over the days of the range.

    An elder eating lunch and dinner at one point is one diner that day; walk-ins, full-price
    meals and voided meals are no diners. Read from the meal table, one district and range at
    a time (the rollups are summable counts; distinct diners are not)."""
    rows = await Meal.raw(
        "SELECT site, COUNT(*) AS n FROM (SELECT DISTINCT site, elder, service_date FROM meal "
        "WHERE district = {} AND service_date >= {} AND service_date <= {} AND subsidised "
        "AND voided_at IS NULL AND elder IS NOT NULL) AS d GROUP BY site",
        district_id,
        first,
        last,
    )
    return {int(r["site"]): int(r["n"] or 0) for r in rows}


def _rule_applies(rule: dict[str, Any], site_id: int, month: str) -> bool:
    if rule["site"] is not None and rule["site"] != site_id:
        return False
    if month < rule["effective_from"]:
        return False
    return not (rule["effective_until"] and month > rule["effective_until"])


# The kinds of operating subsidy a district pays its points (``OperatingSubsidyRule.kind``):
#   per_meal               per SUBSIDISED meal served (walk-ins and full-price meals earn nothing);
#   per_diner_day          per elder served a subsidised meal, once per day whatever the slots;
#   monthly_per_open_point a fixed amount for each month the point served at all;
#   construction_spread    a one-off grant spread evenly over ``years`` × 12 months.
RULE_KINDS: tuple[str, ...] = ("per_meal", "per_diner_day", "monthly_per_open_point", "construction_spread")
# The kinds whose amount grows with the meals served (the rest is fixed income for break-even).
VARIABLE_RULE_KINDS = frozenset({"per_meal", "per_diner_day"})


def operating_subsidy(rules: list[dict[str, Any]], site_id: int, month: str, base: Base) -> dict[str, int]:
    """Operating subsidies a point earns in a month, by funding source (see ``RULE_KINDS``)."""
    out: dict[str, int] = defaultdict(int)
    for rule in rules:
        if not _rule_applies(rule, site_id, month):
            continue
        kind = rule["kind"]
        if kind == "per_meal":
            out[rule["source"]] += rule["amount_fen"] * base.subsidised
        elif kind == "per_diner_day":
            out[rule["source"]] += rule["amount_fen"] * base.diner_days
        elif kind == "monthly_per_open_point":
            if base.serving_days > 0:
                out[rule["source"]] += rule["amount_fen"]
        elif kind == "construction_spread":
            n = max(1, rule["years"]) * 12
            i = index(month) - index(rule["effective_from"])
            if 0 <= i < n:
                out[rule["source"]] += split_fen(rule["amount_fen"], [1] * n)[i]
    return dict(out)


async def district_rules(district_id: int) -> list[dict[str, Any]]:
    return await OperatingSubsidyRule.select().where(OperatingSubsidyRule.district == district_id)


def _yuan(fen: float) -> str:
    return f"{fen / 100:.1f}"


def _kpis(
    site: dict[str, Any],
    month: str,
    base: Base,
    cost: dict[str, Any] | None,
    rules: list[dict[str, Any]],
    history: list[tuple[Base, dict[str, Any] | None]],
    lang_labels: str = "zh-CN",
) -> PointKpis:
    if cost is not None and not any(int(cost[f] or 0) for f in COST_FIELDS):
        cost = None  # a row of zeros is a month nobody has costed yet: no grade from it
    operating_by_source = operating_subsidy(rules, site["id"], month, base)
    operating = sum(operating_by_source.values())
    # The part of the operating subsidy that grows with the meals served, in fen over the month.
    variable_operating = sum(
        operating_subsidy(
            [r for r in rules if r["kind"] in VARIABLE_RULE_KINDS], site["id"], month, base
        ).values()
    )
    other_income = int(cost["other_income_fen"]) if cost else 0
    income = (
        base.copay_fen
        + base.subsidy_fen
        + base.delivery_fee_fen
        + base.delivery_subsidy_fen
        + operating
        + other_income
    )
    public = base.subsidy_fen + base.delivery_subsidy_fen + operating
    cost_total = sum(int(cost[f]) for f in COST_FIELDS) if cost else 0
    margin = income - cost_total
    meals = base.meals
    days = base.serving_days
    slots = len(site.get("slots") or []) if isinstance(site.get("slots"), list) else 0
    capacity = int(site.get("meals_per_slot") or 0) * max(slots, 1) * days
    mpd = meals / days if days else None
    cpm = round(cost_total / meals) if meals and cost else None
    ipm = round(income / meals) if meals else None

    # Break-even: meals/day at which income covers costs, with today's per-meal income and variable cost.
    be: float | None = None
    if meals and cost and days:
        var_income = (
            base.copay_fen
            + base.subsidy_fen
            + base.delivery_fee_fen
            + base.delivery_subsidy_fen
            + variable_operating
        ) / meals
        var_cost = sum(int(cost[f]) for f in VARIABLE_COSTS) / meals
        fixed_cost = cost_total - sum(int(cost[f]) for f in VARIABLE_COSTS)
        fixed_income = operating - variable_operating + other_income
        contribution = var_income - var_cost
        if contribution > 0:
            be = max(0.0, (fixed_cost - fixed_income) / contribution / days)

    trend_mpd: float | None = None
    trend_margin: int | None = None
    past = [(b, c) for b, c in history if b.serving_days]
    if past and mpd is not None:
        trend_mpd = mpd - sum(b.meals / b.serving_days for b, _ in past) / len(past)
    past_costed = [(b, c) for b, c in past if c is not None]
    if past_costed and cost:
        margins = []
        for b, c in past_costed:
            assert c is not None
            ops = sum(operating_subsidy(rules, site["id"], c["month"], b).values())
            inc = b.copay_fen + b.subsidy_fen + b.delivery_fee_fen + b.delivery_subsidy_fen + ops
            inc += int(c["other_income_fen"])
            margins.append(inc - sum(int(c[f]) for f in COST_FIELDS))
        trend_margin = margin - round(sum(margins) / len(margins))

    util = meals / capacity if capacity else None
    dependence = public / income if income else None
    reasons: list[Reason] = []
    if not meals:
        grade = "N"
        reasons.append(Reason(zh="本月没有供餐记录", en="no meals served this month"))
    elif not cost:
        grade = "N"
        reasons.append(
            Reason(zh="运营方尚未填报本月成本", en="the operator has not entered this month's costs")
        )
    else:
        assert cpm is not None and ipm is not None and mpd is not None
        be_zh = f"盈亏平衡需每日{be:.0f}餐" if be is not None else "按现价无法盈亏平衡"
        be_en = f"break-even at {be:.0f} meals/day" if be is not None else "no break-even at current prices"
        if margin >= 0:
            reasons.append(
                Reason(
                    zh=f"每餐收入{_yuan(ipm)}元，覆盖成本{_yuan(cpm)}元；{be_zh}，实际{mpd:.0f}",
                    en=(
                        f"income per meal {_yuan(ipm)} yuan covers costs {_yuan(cpm)}; "
                        f"{be_en}, serving {mpd:.0f}"
                    ),
                )
            )
            weak = []
            if util is not None and util < A_UTILISATION:
                weak.append(
                    Reason(
                        zh=f"产能利用率仅{util * 100:.0f}%",
                        en=f"utilisation only {util * 100:.0f}% of capacity",
                    )
                )
            if dependence is not None and dependence > A_DEPENDENCE:
                weak.append(
                    Reason(
                        zh=f"收入的{dependence * 100:.0f}%来自财政资金",
                        en=f"{dependence * 100:.0f}% of income is public money",
                    )
                )
            grade = "B" if weak else "A"
            reasons.extend(weak)
        else:
            reasons.append(
                Reason(
                    zh=f"每餐成本{_yuan(cpm)}元高于收入{_yuan(ipm)}元；{be_zh}，实际{mpd:.0f}",
                    en=(
                        f"costs per meal {_yuan(cpm)} yuan above income {_yuan(ipm)}; "
                        f"{be_en}, serving {mpd:.0f}"
                    ),
                )
            )
            cap_per_day = capacity / days if days else 0
            if be is not None and (not capacity or be <= cap_per_day):
                grade = "C"
                reasons.append(
                    Reason(
                        zh="在产能范围内增加就餐人数即可盈亏平衡",
                        en="more diners within capacity would break even",
                    )
                )
            else:
                grade = "D"
                reasons.append(
                    Reason(
                        zh="产能范围内无法盈亏平衡，需调整价格、成本或选址",
                        en="cannot break even within capacity: prices, costs or the location must change",
                    )
                )
    by_cat = [
        CategoryMeals(
            category=c,
            label=category_label(c, lang_labels)
            if c != "none"
            else ("无类别" if lang_labels == "zh-CN" else "none"),
            meals=n,
            share=n / meals if meals else None,
        )
        for c, n in sorted(base.by_category.items(), key=lambda kv: -kv[1])
        if n
    ]
    return PointKpis(
        site_id=site["id"],
        site_name=site["name"],
        operator_id=site.get("operator"),
        point_type=site.get("point_type"),
        month=month,
        serving_days=days,
        meals=meals,
        subsidised_meals=base.subsidised,
        meals_per_day=mpd,
        capacity=capacity,
        utilisation=util,
        subsidised_share=base.subsidised / meals if meals else None,
        by_category=by_cat,
        list_fen=base.list_fen,
        copay_fen=base.copay_fen,
        subsidy_fen=base.subsidy_fen,
        delivery_fee_fen=base.delivery_fee_fen,
        delivery_subsidy_fen=base.delivery_subsidy_fen,
        operating_subsidy_fen=operating,
        other_income_fen=other_income,
        income_fen=income,
        public_fen=public,
        costs_entered=cost is not None,
        cost_fen=cost_total,
        cost_per_meal_fen=cpm,
        income_per_meal_fen=ipm,
        margin_fen=margin,
        margin_per_meal_fen=round(margin / meals) if meals else None,
        subsidy_dependence=dependence,
        break_even_meals_per_day=be,
        trend_meals_per_day=trend_mpd,
        trend_margin_fen=trend_margin,
        grade=grade,
        reasons=reasons,
    )


def _check_read(actor: Principal, district_id: int) -> frozenset[int] | None:
    """None: the whole district; otherwise the operator's own sites."""
    if actor.can_district(district_id):
        return None
    if not actor.site_ids(OPERATOR):
        raise DomainError("forbidden", {"district_id": district_id})
    # An operator reads only its own points, and only in their district: elsewhere nothing exists.
    own = frozenset(s for s in actor.site_ids(OPERATOR) if actor.site_districts.get(s) == district_id)
    if not own:
        raise DomainError("not_found", {"district_id": district_id})
    return own


async def _sites(district_id: int, only: frozenset[int] | None) -> list[dict[str, Any]]:
    q = Site.select(
        Site.id, Site.name, Site.operator, Site.point_type, Site.meals_per_slot, Site.slots, Site.kind
    ).where((Site.district == district_id) & (Site.kind == "meal_point"))
    rows = await q.output(load_json=True).order_by(Site.name)
    return [r for r in rows if only is None or r["id"] in only]


_GRADE_ORDER = {g: i for i, g in enumerate("ABCDN")}


async def viability_report(
    actor: Principal,
    district_id: int,
    month: str,
    *,
    lang: str = "zh-CN",
    site_ids: frozenset[int] | None = None,
) -> ViabilityReport:
    """Every meal point of a district in one month with KPIs and a grade A–D (N: not graded), ranked.

    Reads rollups, costs and rules only (five grouped queries for any size of district).
    Operators get their own points; ``site_ids`` narrows further.
    """
    only = _check_read(actor, district_id)
    if site_ids is not None:
        only = site_ids if only is None else only & site_ids
    report = await _viability_unchecked(district_id, month, only, lang)
    await _attach_quality(district_id, month, report.points)
    points = report.points
    points.sort(key=lambda p: (_GRADE_ORDER[p.grade], -p.margin_fen, p.site_name))
    counts = {g: 0 for g in "ABCDN"}
    for p in points:
        counts[p.grade] += 1
    return ViabilityReport(
        district_id=district_id,
        month=month,
        points=points,
        grade_counts=counts,
        meals=sum(p.meals for p in points),
        public_fen=sum(p.public_fen for p in points),
        income_fen=sum(p.income_fen for p in points),
        cost_fen=sum(p.cost_fen for p in points),
    )


async def _attach_quality(district_id: int, month: str, points: list[PointKpis]) -> None:
    """The quarter's survey results and complaints beside each point's figures (survey #17)."""
    quarter = survey.quarter_of(month_bounds(month)[0])
    first, last = survey.quarter_bounds(quarter)
    tz = get_settings().tz
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    ids = [p.site_id for p in points]
    results = await survey.results_unchecked(district_id, quarter, ids)
    stats = await complaints.stats_unchecked(district_id, start, end, ids)
    for p in points:
        r = results[p.site_id]
        c = stats.get(p.site_id, {})
        p.quality = PointQuality(
            quarter=quarter,
            survey_n=r.n,
            survey_mean=r.mean,
            dimension_means={d.dimension: d.mean for d in r.dimensions},
            complaints_filed=c.get("filed", 0),
            complaints_open=c.get("open", 0),
            mean_days_to_reply=c.get("mean_days_to_reply"),
        )


async def kpis_for(actor: Principal, site_id: int, month: str, *, lang: str = "zh-CN") -> PointKpis:
    """One point's KPIs for one month (the same figures as its row in the viability report)."""
    site = await Site.select(Site.id, Site.district).where(Site.id == site_id).first()
    if site is None:
        raise DomainError("not_found", {"site_id": site_id})
    if not actor.can_site(site_id, site["district"], OPERATOR):
        raise DomainError("forbidden", {"site_id": site_id})
    report = await _viability_unchecked(site["district"], month, frozenset({site_id}), lang)
    if not report.points:
        raise DomainError("not_found", {"site_id": site_id})
    return report.points[0]


async def _viability_unchecked(
    district_id: int, month: str, only: frozenset[int] | None, lang: str
) -> ViabilityReport:
    """The report without the actor check (callers check first)."""
    sites = await _sites(district_id, only)
    rules = await district_rules(district_id)
    months = [month, shift(month, -1), shift(month, -2), shift(month, -3)]
    bases = [await month_base(district_id, m, categories=(i == 0)) for i, m in enumerate(months)]
    cost_rows = await SiteMonthCost.select().where(
        (SiteMonthCost.district == district_id) & SiteMonthCost.month.is_in(months)
    )
    costs = {(c["site"], c["month"]): c for c in cost_rows}
    points = [
        _kpis(
            s,
            month,
            bases[0].get(s["id"], Base()),
            costs.get((s["id"], month)),
            rules,
            [(bases[i].get(s["id"], Base()), costs.get((s["id"], months[i]))) for i in (1, 2, 3)],
            lang,
        )
        for s in sites
    ]
    return ViabilityReport(
        district_id=district_id,
        month=month,
        points=points,
        grade_counts={},
        meals=sum(p.meals for p in points),
        public_fen=sum(p.public_fen for p in points),
        income_fen=sum(p.income_fen for p in points),
        cost_fen=sum(p.cost_fen for p in points),
    )


async def spending_vs_budget(
    actor: Principal, district_id: int, year: int, *, today: dt.date | None = None
) -> SpendingReport:
    """Public money spent in a year by funding source × category × month, against each source's budget.

    Meal subsidies come from the per-source rollup rows; operating subsidies
    (category "operating") from the rules applied to each point's meals.
    Delivery subsidies carry no funding source on the meal and are not included.
    Meals after ``today`` (delivery meals ordered ahead) are not spent yet: the month under
    way is read from the daily rollups up to today.
    """
    if not actor.can_district(district_id):
        raise DomainError("forbidden", {"district_id": district_id})
    today = today or service_today()
    current = f"{today.year:04d}-{today.month:02d}"
    first, last = f"{year:04d}-01", min(f"{year:04d}-12", shift(current, -1))
    month_start = dt.date(today.year, today.month, 1)
    in_year = today.year == year
    rows = await MonthlyRollup.raw(
        "SELECT source, category, month, SUM(subsidy_fen) AS fen FROM monthly_rollup "
        "WHERE district = {} AND month >= {} AND month <= {} AND source <> '' "
        "GROUP BY source, category, month",
        district_id,
        first,
        last,
    )
    if in_year:
        rows += await DailyRollup.raw(
            "SELECT source, category, SUM(subsidy_fen) AS fen FROM daily_rollup "
            "WHERE district = {} AND service_date >= {} AND service_date <= {} AND source <> '' "
            "GROUP BY source, category",
            district_id,
            month_start,
            today,
        )
    cells: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in rows:
        cells[(r["source"], r["category"], r.get("month") or current)] += int(r["fen"] or 0)
    rules = await district_rules(district_id)
    if rules:
        sites = await _sites(district_id, None)
        # Operating subsidies need each point's meals per month and whether it was open (served at all).
        meals: dict[tuple[int, str], int] = defaultdict(int)
        counts = await MonthlyRollup.raw(
            "SELECT site, month, SUM(meals) AS meals FROM monthly_rollup WHERE district = {} "
            "AND month >= {} AND month <= {} AND source = '' GROUP BY site, month",
            district_id,
            first,
            last,
        )
        if in_year:
            counts += await DailyRollup.raw(
                "SELECT site, SUM(meals) AS meals FROM daily_rollup WHERE district = {} "
                "AND service_date >= {} AND service_date <= {} AND source = '' GROUP BY site",
                district_id,
                month_start,
                today,
            )
        for r in counts:
            meals[(r["site"], r.get("month") or current)] += int(r["meals"] or 0)
        for m in range(1, 13):
            month = f"{year:04d}-{m:02d}"
            for s in sites:
                n = meals.get((s["id"], month), 0)
                base = Base(meals=n, serving_days=1 if n > 0 else 0)
                for source, fen in operating_subsidy(rules, s["id"], month, base).items():
                    if fen:
                        cells[(source, "operating", month)] += fen
    budgets = {
        b["source"]: b["budget_fen"]
        for b in await FundingBudget.select().where(
            (FundingBudget.district == district_id) & (FundingBudget.year == year)
        )
    }
    sources = sorted({k[0] for k in cells} | set(budgets))
    out_sources = []
    for src in sources:
        by_month = [
            sum(v for (s, _, mo), v in cells.items() if s == src and mo == f"{year:04d}-{m:02d}")
            for m in range(1, 13)
        ]
        spent = sum(by_month)
        budget = budgets.get(src)
        out_sources.append(
            SourceSpending(
                source=src,
                budget_fen=budget,
                spent_fen=spent,
                share_of_budget=spent / budget if budget else None,
                by_month=by_month,
            )
        )
    return SpendingReport(
        district_id=district_id,
        year=year,
        sources=out_sources,
        cells=[SpendingCell(source=s, category=c, month=m, fen=v) for (s, c, m), v in sorted(cells.items())],
        total_fen=sum(cells.values()),
    )


async def _diners_by_day(district_id: int, first: dt.date, last: dt.date) -> dict[tuple[int, dt.date], int]:
    """Distinct elders served a subsidised meal, per site and day (see ``diner_days_by_site``)."""
    rows = await Meal.raw(
        "SELECT site, service_date, COUNT(DISTINCT elder) AS n FROM meal "
        "WHERE district = {} AND service_date >= {} AND service_date <= {} AND subsidised "
        "AND voided_at IS NULL AND elder IS NOT NULL GROUP BY site, service_date",
        district_id,
        first,
        last,
    )
    return {(int(r["site"]), _as_date(r["service_date"])): int(r["n"] or 0) for r in rows}


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


async def viability_days(
    actor: Principal, district_id: int, month: str, *, site_id: int | None = None
) -> ViabilityDays:
    """Every serving day of a month, per point: the day's meals and income and its share of the
    month's costs (see ``PointDay``). The days of a point add up to its row in
    ``viability_report`` for the month. Officials see the district; operators their own points."""
    only = _check_read(actor, district_id)
    if site_id is not None:
        only = frozenset({site_id}) if only is None else only & {site_id}
    first, last = month_bounds(month)
    last = min(last, service_today())
    sites = await _sites(district_id, only)
    if first > last or not sites:
        return ViabilityDays(district_id=district_id, month=month, days=[])
    rules = await district_rules(district_id)
    rows = await DailyRollup.raw(
        "SELECT site, service_date, SUM(meals) AS meals, SUM(subsidised) AS subsidised, "
        "SUM(subsidy_fen) AS subsidy_fen, SUM(copay_fen) AS copay_fen, SUM(delivery_fee_fen) AS dfee, "
        "SUM(delivery_subsidy_fen) AS dsub FROM daily_rollup WHERE district = {} AND source = '' "
        "AND service_date >= {} AND service_date <= {} GROUP BY site, service_date HAVING SUM(meals) > 0",
        district_id,
        first,
        last,
    )
    diners = await _diners_by_day(district_id, first, last)
    cost_rows = await SiteMonthCost.select().where(
        (SiteMonthCost.district == district_id) & (SiteMonthCost.month == month)
    )
    costs = {c["site"]: c for c in cost_rows if any(int(c[f] or 0) for f in COST_FIELDS)}
    by_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_site[int(r["site"])].append(r)
    out: list[PointDay] = []
    for site in sites:
        days = sorted(by_site.get(int(site["id"]), []), key=lambda r: _as_date(r["service_date"]))
        if not days:
            continue
        n = len(days)
        bases = []
        for r in days:
            b = Base(
                meals=int(r["meals"] or 0),
                subsidised=int(r["subsidised"] or 0),
                subsidy_fen=int(r["subsidy_fen"] or 0),
                copay_fen=int(r["copay_fen"] or 0),
                delivery_fee_fen=int(r["dfee"] or 0),
                delivery_subsidy_fen=int(r["dsub"] or 0),
                serving_days=1,
                diner_days=diners.get((int(site["id"]), _as_date(r["service_date"])), 0),
            )
            bases.append(b)
        month_total = Base(meals=sum(b.meals for b in bases), serving_days=n)
        variable = [r for r in rules if r["kind"] in VARIABLE_RULE_KINDS]
        fixed_rules = [r for r in rules if r["kind"] not in VARIABLE_RULE_KINDS]
        fixed_operating = sum(operating_subsidy(fixed_rules, site["id"], month, month_total).values())
        cost = costs.get(site["id"])
        other_income = int(cost["other_income_fen"]) if cost else 0
        fixed_shares = split_fen(fixed_operating + other_income, [1] * n)
        weights = [b.meals for b in bases]
        if cost:
            variable_cost = sum(int(cost[f]) for f in VARIABLE_COSTS)
            fixed_cost = sum(int(cost[f]) for f in COST_FIELDS) - variable_cost
            cost_shares: list[int | None] = [
                v + f
                for v, f in zip(
                    split_fen(variable_cost, weights), split_fen(fixed_cost, [1] * n), strict=True
                )
            ]
        else:
            cost_shares = [None] * n
        fixed_op_shares = split_fen(fixed_operating, [1] * n)
        for r, b, share, op_share, day_cost in zip(
            days, bases, fixed_shares, fixed_op_shares, cost_shares, strict=True
        ):
            variable_operating = sum(operating_subsidy(variable, site["id"], month, b).values())
            operating = variable_operating + op_share
            # ``share`` is this day's part of the fixed operating subsidies and the other income.
            income = (
                b.copay_fen
                + b.subsidy_fen
                + b.delivery_fee_fen
                + b.delivery_subsidy_fen
                + variable_operating
                + share
            )
            out.append(
                PointDay(
                    site_id=int(site["id"]),
                    site_name=site["name"],
                    day=_as_date(r["service_date"]).isoformat(),
                    meals=b.meals,
                    subsidised_meals=b.subsidised,
                    diners=b.diner_days,
                    income_fen=income,
                    operating_subsidy_fen=operating,
                    cost_fen=day_cost,
                    margin_fen=None if day_cost is None else income - day_cost,
                )
            )
    return ViabilityDays(district_id=district_id, month=month, days=out)
