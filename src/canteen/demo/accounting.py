"""Demo accounting: rollups over the demo history, three months of costs, operating rules and budgets.

Costs are set from each point's capacity, so well-used points (the big canteen) come out viable
and thinly used satellites do not. Safe to run again: every row is inserted only when missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from canteen.accounting.kpis import month_base
from canteen.accounting.tables import FundingBudget, OperatingSubsidyRule, SiteMonthCost
from canteen.core.db import write_transaction
from canteen.core.periods import month_of, shift
from canteen.meals.rollups import rollup_range
from canteen.meals.tables import Meal, MonthlyRollup
from canteen.regions.tables import Site

if TYPE_CHECKING:
    from canteen.demo.district import DemoDistrict

# Fixed costs of a full month (fen): labour, rent, utilities and depreciation share them. A busy
# canteen covers them; a quiet canteen or satellite does not (the demo wants both kinds).
FIXED_PER_MONTH = {"canteen": 1_500_000, "satellite": 600_000, "partner_restaurant": 400_000}
SERVING_DAYS = 26
# Food per meal served (fen); satellites pay the central kitchen's transfer price.
FOOD_PER_MEAL = {"canteen": 800, "satellite": 900, "partner_restaurant": 1000}
PER_MEAL_FEN = 200  # 2 yuan per meal served
PER_OPEN_POINT_FEN = 300_000  # 3,000 yuan per open point and month
CONSTRUCTION_FEN = 20_000_000  # 200,000 yuan, spread over 5 years
BUDGET_FEN = 150_000_000  # 1.5 million yuan per funding source and year


async def load_accounting(district: DemoDistrict, *, today: dt.date, now: dt.datetime) -> None:
    """Rollups over the demo history, then costs (past 3 months), operating rules and budgets."""
    did = district.district_id
    first = (
        await Meal.select(Meal.service_date).where(Meal.district == did).order_by(Meal.service_date).first()
    )
    last = (
        await Meal.select(Meal.service_date)
        .where(Meal.district == did)
        .order_by(Meal.service_date, ascending=False)
        .first()
    )
    if first and last and not await MonthlyRollup.exists().where(MonthlyRollup.district == did):
        await rollup_range(did, first["service_date"], last["service_date"])

    this_month = month_of(today)
    months = [shift(this_month, -2), shift(this_month, -1), this_month]
    sites = (
        await Site.select(Site.id, Site.name, Site.kind, Site.point_type, Site.meals_per_slot, Site.slots)
        .where(Site.district == did)
        .output(load_json=True)
    )
    points = [s for s in sites if s["kind"] == "meal_point"]
    kitchen = next((s for s in sites if s["kind"] == "central_kitchen"), None)

    async with write_transaction():
        for month in months:
            bases = await month_base(did, month, categories=False)
            have = {
                r["site"]
                for r in await SiteMonthCost.select(SiteMonthCost.site).where(
                    (SiteMonthCost.district == did) & (SiteMonthCost.month == month)
                )
            }
            for s in points:
                if s["id"] in have:
                    continue
                await SiteMonthCost.insert(SiteMonthCost(**_costs(s, did, month, bases.get(s["id"]), now)))

        if not await OperatingSubsidyRule.exists().where(OperatingSubsidyRule.district == did):
            start = shift(this_month, -11)
            rules = [
                OperatingSubsidyRule(
                    district=did,
                    kind="per_meal",
                    amount_fen=PER_MEAL_FEN,
                    effective_from=start,
                    source="district",
                    created_at=now,
                ),
                OperatingSubsidyRule(
                    district=did,
                    kind="monthly_per_open_point",
                    amount_fen=PER_OPEN_POINT_FEN,
                    effective_from=start,
                    source="city",
                    created_at=now,
                ),
            ]
            if kitchen is not None:
                rules.append(
                    OperatingSubsidyRule(
                        district=did,
                        site=kitchen["id"],
                        kind="construction_spread",
                        amount_fen=CONSTRUCTION_FEN,
                        years=5,
                        effective_from=start,
                        source="city",
                        created_at=now,
                    )
                )
            await OperatingSubsidyRule.insert(*rules)

        sources = {
            r["source"]
            for r in await MonthlyRollup.select(MonthlyRollup.source)
            .where((MonthlyRollup.district == did) & (MonthlyRollup.source != ""))
            .distinct()
        } | {"district", "city"}
        years = {today.year, int(months[0][:4])}
        for year in sorted(years):
            for source in sorted(sources):
                where = (
                    (FundingBudget.district == did)
                    & (FundingBudget.year == year)
                    & (FundingBudget.source == source)
                )
                if not await FundingBudget.exists().where(where):
                    await FundingBudget.insert(
                        FundingBudget(
                            district=did, year=year, source=source, budget_fen=BUDGET_FEN, updated_at=now
                        )
                    )


def _costs(site: dict[str, Any], district_id: int, month: str, base: Any, now: dt.datetime) -> dict[str, Any]:
    kind = site["point_type"] or "canteen"
    meals = base.meals if base is not None else 0
    days = base.serving_days if base is not None else 0
    # A month the history covers only in part carries its share of the fixed costs.
    fixed = FIXED_PER_MONTH.get(kind, 1_000_000) * min(days, SERVING_DAYS) // SERVING_DAYS if days else 0
    return {
        "site": site["id"],
        "district": district_id,
        "month": month,
        "food_fen": meals * FOOD_PER_MEAL.get(kind, 800),
        "labour_fen": fixed * 60 // 100,
        "rent_fen": fixed * 20 // 100,
        "utilities_fen": fixed * 12 // 100,
        "depreciation_fen": fixed * 8 // 100,
        "delivery_fen": 0,
        "other_fen": 0,
        "other_income_fen": 0,
        "residential_utilities": kind == "satellite",
        "updated_at": now,
    }
