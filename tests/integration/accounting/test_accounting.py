"""Rollups, the viability report and settlement, checked against sums computed here from the meals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from decimal import Decimal
from typing import Any

from canteen.accounting import exports
from canteen.accounting.kpis import viability_report
from canteen.accounting.settlement import (
    approve_statement,
    draft_statement,
    pay_statement,
    submit_statement,
)
from canteen.accounting.tables import OperatingSubsidyRule, Settlement, SiteMonthCost
from canteen.accounts.services import load_principal
from canteen.core.categories import Category
from canteen.core.clock import utcnow
from canteen.meals import rollups
from canteen.meals.tables import DailyRollup, Meal, MonthlyRollup
from canteen.regions.tables import Site
from tests.factories import World

UTC = dt.UTC
SLOTS = [
    {"slot": "lunch", "start": "11:00", "end": "13:00"},
    {"slot": "dinner", "start": "17:00", "end": "18:30"},
]


async def _meals(w: World, month_first: dt.date, days: int, seed: int = 7) -> list[int]:
    """Meals at sites A and B over ``days`` days: mixed categories, tiers, sources, modes; a few voided."""
    rnd = random.Random(seed)
    await Site.update({Site.slots: SLOTS, Site.meals_per_slot: 40}).where(Site.id.is_in([w.site_a, w.site_b]))
    rows = []
    for d in range(days):
        day = month_first + dt.timedelta(days=d)
        for site in (w.site_a, w.site_b):
            for _ in range(rnd.randint(5, 12)):
                cats = rnd.choice([[], ["dibao"], ["living_alone", "tekun"], ["empty_nest"]])
                sub = 0 if not cats else rnd.choice([300, 500, 800])
                funding = []
                if sub:
                    city = sub * 6 // 10
                    funding = [{"source": "city", "fen": city}, {"source": "district", "fen": sub - city}]
                mode = rnd.choice(["dine_in", "dine_in", "delivery"])
                at = dt.datetime.combine(day, dt.time(4, 0), UTC)
                rows.append(
                    Meal(
                        district=w.district_x,
                        site=site,
                        elder=None,
                        service_date=day,
                        slot=rnd.choice(["lunch", "dinner"]),
                        mode=mode,
                        served_at=at,
                        list_price_fen=1500,
                        subsidy_fen=sub,
                        copay_fen=1500 - sub,
                        funding=funding,
                        delivery_fee_fen=300 if mode == "delivery" else 0,
                        delivery_subsidy_fen=200 if mode == "delivery" else 0,
                        payment="cash",
                        subsidised=bool(sub),
                        tier_code=("t" + str(sub)) if sub else None,
                        categories=cats,
                        operator=w.operator_x,
                        voided_at=at + dt.timedelta(minutes=5) if rnd.random() < 0.05 else None,
                    )
                )
    ids: list[int] = []
    for start in range(0, len(rows), 500):  # PostgreSQL binds at most 32,767 parameters a statement
        ids += [r["id"] for r in await Meal.insert(*rows[start : start + 500]).returning(Meal.id)]
    return ids


async def _rollup_rows() -> list[tuple[Any, ...]]:
    rows = await DailyRollup.select().where(DailyRollup.meals != 0)
    monthly = await MonthlyRollup.select().where(MonthlyRollup.meals != 0)
    month_key = ("site", "month", "mode", "category", "tier", "source", "operator")
    return sorted(tuple(r[k] for k in (*rollups.KEY, *rollups.SUMS)) for r in rows) + sorted(
        tuple(r[k] for k in (*month_key, *rollups.SUMS)) for r in monthly
    )


def test_rollups_incremental_equal_rebuilt_and_report_equals_meal_sums(world: World, run: Any) -> None:
    first = dt.date(2026, 9, 1)
    run(lambda: _meals(world, first, 30))
    run(lambda: rollups.rollup_range(world.district_x, first, dt.date(2026, 9, 30)))
    rebuilt = run(_rollup_rows)
    assert rebuilt
    # Re-running the job changes nothing (idempotent).
    run(lambda: rollups.rollup_day(world.district_x, dt.date(2026, 9, 3)))
    assert run(_rollup_rows) == rebuilt

    async def incremental() -> None:
        await DailyRollup.delete(force=True)
        await MonthlyRollup.delete(force=True)
        meals = await Meal.select(*rollups.MEAL_COLUMNS)
        for m in meals:
            await rollups.apply_meal(m, +1)
            if m["voided_at"] is not None:  # written live, then voided
                await rollups.apply_meal(m, -1)

    run(incremental)
    assert run(_rollup_rows) == rebuilt

    # Costs and an operating subsidy for site A in September, then the report.
    async def setup() -> None:
        await SiteMonthCost.insert(
            SiteMonthCost(
                site=world.site_a,
                district=world.district_x,
                month="2026-09",
                food_fen=200_000,
                labour_fen=300_000,
                rent_fen=100_000,
                utilities_fen=20_000,
                depreciation_fen=10_000,
                delivery_fen=5_000,
                other_fen=1_000,
                other_income_fen=7_000,
                updated_at=utcnow(),
            )
        )
        await OperatingSubsidyRule.insert(
            OperatingSubsidyRule(
                district=world.district_x,
                kind="per_meal",
                amount_fen=100,
                effective_from="2026-01",
                source="district",
                created_at=utcnow(),
            ),
            OperatingSubsidyRule(
                district=world.district_x,
                kind="monthly_per_open_point",
                amount_fen=50_000,
                effective_from="2026-01",
                source="city",
                created_at=utcnow(),
            ),
        )

    run(setup)
    official = run(lambda: load_principal(world.users["official_x"]))
    report = run(lambda: viability_report(official, world.district_x, "2026-09"))
    points = {p.site_id: p for p in report.points}
    assert world.site_a in points and world.site_b in points
    assert all(p.grade in "ABCDN" and p.reasons for p in report.points)

    # Independent sums over site A's live September meals.
    meals = run(
        lambda: (
            Meal.select()
            .where((Meal.site == world.site_a) & Meal.voided_at.is_null() & (Meal.service_date >= first))
            .output(load_json=True)
        )
    )
    p = points[world.site_a]
    n = len(meals)
    days = len({m["service_date"] for m in meals})
    copay = sum(m["copay_fen"] for m in meals)
    sub = sum(m["subsidy_fen"] for m in meals)
    dfee = sum(m["delivery_fee_fen"] for m in meals)
    dsub = sum(m["delivery_subsidy_fen"] for m in meals)
    operating = 100 * sum(1 for m in meals if m["subsidised"]) + 50_000  # per subsidised meal
    income = copay + sub + dfee + dsub + operating + 7_000
    cost = 636_000
    assert (p.meals, p.serving_days) == (n, days)
    assert p.subsidised_meals == sum(1 for m in meals if m["subsidised"])
    assert (p.copay_fen, p.subsidy_fen, p.delivery_fee_fen, p.delivery_subsidy_fen) == (
        copay,
        sub,
        dfee,
        dsub,
    )
    assert p.operating_subsidy_fen == operating
    assert p.income_fen == income and p.cost_fen == cost and p.margin_fen == income - cost
    assert p.public_fen == sub + dsub + operating
    assert p.capacity == 40 * 2 * days
    assert p.cost_per_meal_fen == round(cost / n) and p.income_per_meal_fen == round(income / n)
    assert abs(p.subsidy_dependence - (sub + dsub + operating) / income) < 1e-9  # type: ignore[operator]
    order = {c.value: i for i, c in enumerate(Category)}
    primary: dict[str, int] = {}
    for m in meals:
        c = min(m["categories"], key=order.__getitem__) if m["categories"] else "none"
        primary[c] = primary.get(c, 0) + 1
    assert {c.category: c.meals for c in p.by_category} == primary
    # Break-even meals/day, by hand: contribution per meal against fixed costs net of fixed income.
    var_income = (copay + sub + dfee + dsub + 100 * p.subsidised_meals) / n  # per_meal: subsidised only
    var_cost = (200_000 + 5_000) / n
    fixed = cost - 205_000 - 50_000 - 7_000
    assert p.break_even_meals_per_day is not None
    assert abs(p.break_even_meals_per_day - max(0.0, fixed / (var_income - var_cost) / days)) < 1e-6
    # Site B has no costs entered: listed but not graded.
    assert points[world.site_b].grade == "N" and not points[world.site_b].costs_entered
    print(p.grade, [r.en for r in p.reasons])


def test_settlement_flow_with_late_void_as_next_month_adjustment(
    world: World, run: Any, client: Any, login: Any
) -> None:
    import openpyxl
    import pypdfium2

    run(lambda: _meals(world, dt.date(2026, 9, 1), 10))
    run(lambda: _meals(world, dt.date(2026, 10, 1), 5, seed=9))
    run(lambda: rollups.rollup_range(world.district_x, dt.date(2026, 9, 1), dt.date(2026, 10, 31)))
    admin = run(lambda: load_principal(world.users["admin"]))
    operator = run(lambda: load_principal(world.users["operator_a"]))
    official = run(lambda: load_principal(world.users["official_x"]))
    t0 = dt.datetime(2026, 10, 5, 2, 0, tzinfo=UTC)

    sep = run(lambda: draft_statement(operator, world.operator_x, "2026-09", "city", now=t0))
    live = run(
        lambda: (
            Meal.select()
            .where(
                Meal.voided_at.is_null()
                & (Meal.subsidised == True)  # noqa: E712
                & (Meal.service_date < dt.date(2026, 10, 1))
            )
            .output(load_json=True)
        )
    )
    city = sum(f["fen"] for m in live for f in m["funding"] if f["source"] == "city")
    assert sep.state == "draft" and sep.subsidy_fen == city and sep.meals == len(live)
    sep = run(lambda: submit_statement(operator, sep.id, now=t0 + dt.timedelta(hours=1)))
    try:
        run(lambda: approve_statement(operator, sep.id))
        raise AssertionError("an operator approved its own statement")
    except Exception as exc:
        assert getattr(exc, "code", "") == "forbidden", exc
    sep = run(lambda: approve_statement(official, sep.id, now=t0 + dt.timedelta(hours=2)))
    assert sep.state == "approved" and sep.locked

    # A September meal is voided after approval: it must not change September, but October.
    victim = live[0]
    at = t0 + dt.timedelta(hours=3)

    async def void() -> None:
        await Meal.update({Meal.voided_at: at, Meal.void_reason: "录入错误"}).where(Meal.id == victim["id"])
        await rollups.apply_meal(victim, -1)

    run(void)
    try:
        run(lambda: draft_statement(operator, world.operator_x, "2026-09", "city", now=at))
        raise AssertionError("redrafted a locked statement")
    except Exception as exc:
        assert getattr(exc, "code", "") == "settlement_locked", exc
    paid = run(lambda: pay_statement(admin, sep.id, "BANK-2026-10-0042", now=at + dt.timedelta(hours=1)))
    assert paid.state == "paid" and paid.payment_reference == "BANK-2026-10-0042"
    assert paid.subsidy_fen == city  # unchanged

    octo = run(
        lambda: draft_statement(operator, world.operator_x, "2026-10", "city", now=at + dt.timedelta(days=30))
    )
    adj = [li for li in octo.lines if li.kind == "adjustment"]
    fen = sum(f["fen"] for f in victim["funding"] if f["source"] == "city")
    assert [(li.meal_id, li.amount_fen) for li in adj] == [(victim["id"], -fen)]
    assert octo.adjustment_fen == -fen and octo.total_fen == octo.subsidy_fen + octo.operating_fen - fen
    # Carried once: a redraft of October keeps one line, November has none.
    octo = run(
        lambda: draft_statement(operator, world.operator_x, "2026-10", "city", now=at + dt.timedelta(days=31))
    )
    assert len([li for li in octo.lines if li.kind == "adjustment"]) == 1

    # The October statement over HTTP: money as numbers an accountant can add up, the void as a
    # negative number, codes as the pages' labels.
    off = login("official_x")
    x = client.get(f"/api/v1/settlements/{octo.id}/export", params={"format": "xlsx"}, headers=off)
    assert x.status_code == 200, x.text
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    assert ws is not None
    rows = list(ws.iter_rows())
    assert str(rows[0][0].value).startswith("结算单") and "市级" in str(rows[0][0].value)
    assert [c.value for c in rows[1]][:8] == [
        "类型", "助餐点", "类别", "补贴档次", "餐数", "餐费补贴（元）", "运营补贴（元）", "金额（元）"
    ]  # fmt: skip
    lines, total = rows[2:-1], rows[-1]
    assert len(lines) == len(octo.lines)
    for row in [*lines, total]:
        for cell in row[5:8]:
            assert isinstance(cell.value, int | float) and "0.00" in cell.number_format, cell.value
    (adj_row,) = [r for r in lines if r[8].value == victim["id"]]
    assert adj_row[0].value == "调整" and adj_row[7].value == -fen / 100 < 0
    assert adj_row[7].data_type == "n" and "0.00" in adj_row[7].number_format
    assert {r[0].value for r in lines} <= {"餐费", "运营补贴", "调整"}
    assert all(r[2].value != "dibao" for r in lines)
    stored = run(lambda: Settlement.select(Settlement.total_fen).where(Settlement.id == octo.id).first())
    assert round(sum(float(r[7].value) for r in lines) * 100) == stored["total_fen"] == octo.total_fen
    assert total[0].value == "合计" and round(float(total[7].value) * 100) == octo.total_fen
    # CSV: BOM, zh-CN header by default, English with Accept-Language: en; the void as "-x.xx".
    c = client.get(f"/api/v1/settlements/{octo.id}/export", params={"format": "csv"}, headers=off)
    assert c.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert table[0][0] == "类型" and table[0][7] == "金额（元）"
    (adj_csv,) = [r for r in table if r[8] == str(victim["id"])]
    assert adj_csv[7] == f"-{fen // 100}.{fen % 100:02d}"
    assert sum(Decimal(r[7]) for r in table[1:-1]) * 100 == octo.total_fen
    c = client.get(
        f"/api/v1/settlements/{octo.id}/export",
        params={"format": "csv"},
        headers={**off, "Accept-Language": "en"},
    )
    head, *body = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert head[:2] == ["Line type", "Meal point"] and head[7] == "Amount (yuan)"
    assert {r[0] for r in body[:-1]} <= {"meals", "operating", "adjustment"} and body[-1][0] == "Total"
    pdf = pypdfium2.PdfDocument(exports.statement_pdf(octo))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "结算单" in text and str(victim["id"]) in text

    audits = run(
        lambda: (
            __import__("canteen.core.tables", fromlist=["AuditEntry"])
            .AuditEntry.select()
            .where(
                __import__("canteen.core.tables", fromlist=["AuditEntry"]).AuditEntry.target_type
                == "settlement"
            )
        )
    )
    assert {a["action"] for a in audits} >= {
        "settlement.draft",
        "settlement.submitted",
        "settlement.approved",
        "settlement.paid",
    }
