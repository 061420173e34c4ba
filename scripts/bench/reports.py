# ruff: noqa: E501, S608  -- a script of long literal SQL; every interpolated value is ours (ints, constants)
"""Reports benchmark: a district of 200 points × 12 months × ~150 meals a day (~11 M meals) in PostgreSQL.

    .venv/bin/python scripts/bench/reports.py            # full size (minutes on 2 cores)
    .venv/bin/python scripts/bench/reports.py --scale 0.1 # 20 points

It (re)creates the database ``canteen_reports_bench``, applies the migrations,
generates the meals with ``generate_series`` in SQL, builds the daily rollups
with one grouped INSERT … SELECT (the same rows ``rollup_day`` writes; the
generated meals carry a single category each, so ``categories->>0`` is their
primary category), and prints p50 latencies of the dashboard queries from
rollups, the viability report straight from the meal table, and the ratio.
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB = "canteen_reports_bench"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
YEAR = 2025


async def _recreate() -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await conn.execute(f"DROP DATABASE IF EXISTS {DB}")
    await conn.execute(f"CREATE DATABASE {DB}")
    await conn.close()


async def _generate(points: int, per_day: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(URL)
    t: dict[str, float] = {}
    district = await conn.fetchval(
        "INSERT INTO district (name, code, city, lat, lon) VALUES ('基准区', '339999', '基准市', 30.3, 120.1) RETURNING id"
    )
    await conn.execute(
        "INSERT INTO operator (district, name, kind, contact_name, contact_phone) "
        "SELECT $1, '运营方' || g, 'enterprise', '', '' FROM generate_series(1, 10) g",
        district,
    )
    ops = [r["id"] for r in await conn.fetch("SELECT id FROM operator ORDER BY id")]
    await conn.execute(
        "INSERT INTO site (district, operator, name, kind, point_type, address, lat, lon, seats, meals_per_slot, "
        "status, slots, void_window_minutes, phone, note, residential_utilities, created_at, updated_at) "
        "SELECT $1, ($2::int[])[1 + g % 10], '助餐点' || g, 'meal_point', 'canteen', '', 30.3, 120.1, 60, 120, "
        '\'open\', \'[{"slot": "lunch", "start": "11:00", "end": "13:00"}, '
        '{"slot": "dinner", "start": "17:00", "end": "18:30"}]\', 15, \'\', \'\', false, now(), now() '
        "FROM generate_series(1, $3) g",
        district,
        ops,
        points,
    )
    t0 = time.perf_counter()
    # ~per_day meals a day per point (varying by point and day), 80% lunch; 60% subsidised across 4 categories.
    await conn.execute(
        f"""
        INSERT INTO meal (district, site, elder, service_date, slot, mode, served_at, meal_set, items,
            list_price_fen, subsidy_fen, copay_fen, funding, delivery_fee_fen, delivery_subsidy_fen, payment,
            subsidised, policy_version, tier_code, reason_zh, reason_en, categories, operator, cashier_id, device,
            manual_reason, idempotency_key, ledger_txn, voided_at, voided_by, void_reason, void_txn)
        SELECT s.district, s.id, NULL, d::date, CASE WHEN k % 5 = 0 THEN 'dinner' ELSE 'lunch' END,
            CASE WHEN k % 10 = 0 THEN 'delivery' ELSE 'dine_in' END, d + interval '4 hours', NULL, '[]',
            1500, sub, 1500 - sub,
            CASE WHEN sub > 0 THEN json_build_array(json_build_object('source', 'city', 'fen', sub * 6 / 10),
                 json_build_object('source', 'district', 'fen', sub - sub * 6 / 10)) ELSE '[]'::json END,
            CASE WHEN k % 10 = 0 THEN 300 ELSE 0 END, CASE WHEN k % 10 = 0 THEN 200 ELSE 0 END, 'balance',
            sub > 0, 1, CASE WHEN sub > 0 THEN 't' || sub END, '', '',
            (ARRAY['["tekun"]', '["dibao"]', '["living_alone"]', '["empty_nest"]', '[]'])[1 + k % 5]::json,
            s.operator, NULL, '', '', NULL, '', CASE WHEN k % 97 = 0 THEN d + interval '5 hours' END, NULL, '', ''
        FROM site s
        CROSS JOIN generate_series('{YEAR}-01-01'::timestamptz, '{YEAR}-12-31'::timestamptz, interval '1 day') d
        CROSS JOIN LATERAL generate_series(1, {per_day} - 40 + ((s.id * 7 + extract(doy FROM d)::int) % 80)) k
        CROSS JOIN LATERAL (SELECT (ARRAY[1500, 800, 500, 300, 0])[1 + k % 5] AS sub) q
        WHERE s.district = {district}
        """
    )
    t["meals_s"] = time.perf_counter() - t0
    t["meals"] = await conn.fetchval("SELECT count(*) FROM meal")
    t0 = time.perf_counter()
    await conn.execute("ANALYZE meal")
    common = (
        "m.site, m.district, COALESCE(m.operator, 0), m.service_date, m.slot, m.mode, "
        "COALESCE(m.categories->>0, 'none'), COALESCE(m.tier_code, '')"
    )
    await conn.execute(
        f"""INSERT INTO daily_rollup (site, district, operator, service_date, slot, mode, category, tier, source,
            meals, subsidised, list_fen, subsidy_fen, copay_fen, delivery_fee_fen, delivery_subsidy_fen)
        SELECT {common}, '', count(*), count(*) FILTER (WHERE m.subsidised), sum(list_price_fen), sum(subsidy_fen),
            sum(copay_fen), sum(delivery_fee_fen), sum(delivery_subsidy_fen)
        FROM meal m WHERE m.voided_at IS NULL GROUP BY {common.replace("m.", "m.")}"""
    )
    await conn.execute(
        f"""INSERT INTO daily_rollup (site, district, operator, service_date, slot, mode, category, tier, source,
            meals, subsidised, list_fen, subsidy_fen, copay_fen, delivery_fee_fen, delivery_subsidy_fen)
        SELECT {common}, f->>'source', count(*), count(*), 0, sum((f->>'fen')::int), 0, 0, 0
        FROM meal m CROSS JOIN LATERAL json_array_elements(m.funding) f
        WHERE m.voided_at IS NULL GROUP BY {common}, f->>'source'"""
    )
    await conn.execute(
        "INSERT INTO monthly_rollup (site, district, operator, month, mode, category, tier, source, meals, subsidised, "
        "list_fen, subsidy_fen, copay_fen, delivery_fee_fen, delivery_subsidy_fen) "
        "SELECT site, district, operator, to_char(service_date, 'YYYY-MM'), mode, category, tier, source, sum(meals), "
        "sum(subsidised), sum(list_fen), sum(subsidy_fen), sum(copay_fen), sum(delivery_fee_fen), "
        "sum(delivery_subsidy_fen) FROM daily_rollup GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    await conn.execute(
        "INSERT INTO site_month_cost (site, district, month, food_fen, labour_fen, rent_fen, utilities_fen, "
        "depreciation_fen, delivery_fen, other_fen, other_income_fen, residential_utilities, entered_by, updated_at) "
        "SELECT s.id, s.district, to_char(m, 'YYYY-MM'), 3000 * 600 * 30 / 10 * (1 + s.id % 3), "
        "2000000 + (s.id % 7) * 300000, 500000, 80000, 50000, 30000, 20000, 0, s.id % 2 = 0, NULL, now() "
        f"FROM site s CROSS JOIN generate_series('{YEAR}-01-01'::date, '{YEAR}-12-01'::date, interval '1 month') m"
    )
    await conn.execute(
        "INSERT INTO operating_subsidy_rule (district, site, kind, amount_fen, years, effective_from, "
        "effective_until, source, created_at) VALUES "
        f"($1, NULL, 'per_meal', 100, 1, '{YEAR}-01', NULL, 'district', now()), "
        f"($1, NULL, 'monthly_per_open_point', 300000, 1, '{YEAR}-01', NULL, 'city', now())",
        district,
    )
    await conn.execute("ANALYZE")
    t["rollups_s"] = time.perf_counter() - t0
    t["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM daily_rollup")
    t["district"] = district
    await conn.close()
    return t


async def _meal_month_base(district_id: int, month: str) -> int:
    """The viability report's meal-driven figures straight from the meal table (what rollups avoid)."""
    from canteen.core.periods import month_bounds
    from canteen.meals.tables import Meal

    first, last = month_bounds(month)
    rows = await Meal.raw(
        "SELECT site, count(*) AS meals, count(*) FILTER (WHERE subsidised) AS sub, sum(list_price_fen) AS l, "
        "sum(subsidy_fen) AS s, sum(copay_fen) AS c, sum(delivery_fee_fen) AS f, sum(delivery_subsidy_fen) AS ds, "
        "count(DISTINCT service_date) AS days FROM meal WHERE district = {} AND service_date >= {} "
        "AND service_date <= {} AND voided_at IS NULL GROUP BY site",
        district_id,
        first,
        last,
    )
    cats = await Meal.raw(
        "SELECT site, COALESCE(categories->>0, 'none') AS c, count(*) AS n FROM meal WHERE district = {} "
        "AND service_date >= {} AND service_date <= {} AND voided_at IS NULL GROUP BY 1, 2",
        district_id,
        first,
        last,
    )
    return len(rows) + len(cats)


async def _timings(district_id: int, runs: int) -> None:
    from canteen.accounting.kpis import spending_vs_budget, viability_report
    from canteen.accounts.roles import Grant, Principal
    from canteen.core.periods import shift

    admin = Principal(user_id=0, username="bench", display_name="bench", grants=(Grant("admin"),))
    month = f"{YEAR}-11"

    async def from_meals() -> None:
        for i in range(4):  # the month and the three before it, as the report reads
            await _meal_month_base(district_id, shift(month, -i))

    async def today() -> None:
        from canteen.meals.tables import Meal

        await Meal.raw(
            "SELECT site, count(*) FROM meal WHERE district = {} AND service_date = {} AND voided_at IS NULL "
            "GROUP BY site",
            district_id,
            __import__("datetime").date(YEAR, 11, 20),
        )

    cases = {
        "dashboard: viability report (rollups)": lambda: viability_report(admin, district_id, month),
        "dashboard: spending vs budget, year (rollups)": lambda: spending_vs_budget(admin, district_id, YEAR),
        "dashboard: today per point (meal index)": today,
        "viability figures straight from meals": from_meals,
    }
    p50: dict[str, float] = {}
    for name, fn in cases.items():
        await fn()  # warm
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await fn()
            samples.append((time.perf_counter() - t0) * 1000)
        p50[name] = statistics.median(samples)
        print(f"{name:52s} p50 {p50[name]:9.1f} ms  (max {max(samples):.1f})")
    ratio = p50["viability figures straight from meals"] / p50["dashboard: viability report (rollups)"]
    print(f"{'ratio meals / rollups (viability report)':52s} {ratio:9.1f} ×")
    slow = [n for n, v in p50.items() if n.startswith("dashboard") and v >= 300]
    print("every dashboard query < 300 ms:", "yes" if not slow else f"NO: {slow}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the 200 points (default 1.0)")
    ap.add_argument("--meals-per-day", type=int, default=150)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--keep", action="store_true", help="reuse an existing bench database (skip generation)")
    args = ap.parse_args()
    points = max(2, round(200 * args.scale))
    os.environ["CANTEEN_DATABASE_URL"] = URL
    if not args.keep:
        asyncio.run(_recreate())
        env = {**os.environ, "CANTEEN_DATABASE_URL": URL}
        subprocess.run(
            [str(ROOT / ".venv/bin/piccolo"), "migrations", "forwards", "all"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        t0 = time.perf_counter()
        info = asyncio.run(_generate(points, args.meals_per_day))
        print(
            f"generated {int(info['meals']):,} meals at {points} points in {info['meals_s']:.0f} s; "
            f"{int(info['rollup_rows']):,} rollup rows in {info['rollups_s']:.0f} s "
            f"(total {time.perf_counter() - t0:.0f} s)"
        )
        district = int(info["district"])
    else:
        import asyncpg

        async def d() -> int:
            c = await asyncpg.connect(URL)
            v = await c.fetchval("SELECT id FROM district WHERE code = '339999'")
            await c.close()
            return int(v)

        district = asyncio.run(d())
    sys.path.insert(0, str(ROOT / "src"))

    async def timed() -> None:
        from canteen.core.db import engine

        db = engine()
        await db.start_connection_pool()  # type: ignore[attr-defined]
        try:
            await _timings(district, args.runs)
        finally:
            await db.close_connection_pool()  # type: ignore[attr-defined]

    asyncio.run(timed())


if __name__ == "__main__":
    main()
