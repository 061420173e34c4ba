"""Daily rollups of meals, so reports never scan the meal table.

Two ways keep them right, and they agree (a test checks it):
* ``apply_meal(meal, +1 | -1)`` — an incremental upsert called inside the
  check-in transaction (+1) and the void transaction (-1);
* ``rollup_day(district_id, day)`` — an idempotent job that rebuilds one day
  from the meals (delete + insert in one transaction); re-run it for any day to
  repair drift (a crash between writes, a meal fixed by hand).

The schedule rebuilds only what changed: every meal write marks its district-day in
``rollup_dirty`` (:func:`mark_dirty`, in the meal's own transaction), the rebuild claims the
mark in its transaction, and :func:`dirty_days` lists the days still marked. A meal written
while a rebuild runs either waits for it on the rollup row it touches (and lands on the new
rows) or commits first (and is read by the rebuild), so a claimed mark never hides a change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from canteen.core.categories import Category
from canteen.core.db import is_sqlite, write_transaction
from canteen.core.periods import month_bounds, month_of
from canteen.meals.tables import DailyRollup, Meal, MonthlyRollup, RollupDirty

_ORDER = {c.value: i for i, c in enumerate(Category)}
# Each key is split over SHARDS rows by the meal's elder (elder id % SHARDS, walk-ins 0), so the
# check-ins of one busy site do not queue on one rollup row (its lock lasts until the commit's WAL
# flush). A void lands on its meal's shard, a rebuild shards the same way, and every reader sums.
SHARDS = 8
KEY = ("site", "service_date", "slot", "mode", "category", "tier", "source", "operator", "shard")
SUMS = (
    "meals",
    "subsidised",
    "list_fen",
    "subsidy_fen",
    "copay_fen",
    "delivery_fee_fen",
    "delivery_subsidy_fen",
)

# The columns apply_meal and rollup_day read from a meal.
MEAL_COLUMNS = (
    Meal.id,
    Meal.district,
    Meal.site,
    Meal.elder,
    Meal.operator,
    Meal.service_date,
    Meal.slot,
    Meal.mode,
    Meal.categories,
    Meal.tier_code,
    Meal.subsidised,
    Meal.list_price_fen,
    Meal.subsidy_fen,
    Meal.copay_fen,
    Meal.funding,
    Meal.delivery_fee_fen,
    Meal.delivery_subsidy_fen,
    Meal.voided_at,
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def primary_category(categories: Any) -> str:
    """The category a meal is counted under: the most targeted of its snapshot, or 'none'."""
    codes = [c if isinstance(c, str) else c.get("code", "") for c in (_json(categories) or [])]
    codes = [c for c in codes if c]
    if not codes:
        return "none"
    return min(codes, key=lambda c: (_ORDER.get(c, len(_ORDER)), c))[:30]


def rows_for_meal(meal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rollup contributions of one live meal: its meal row and one row per funding source."""
    base = {
        "site": meal["site"],
        "district": meal["district"],
        "operator": meal.get("operator") or 0,
        "service_date": meal["service_date"],
        "slot": meal["slot"],
        "mode": meal.get("mode") or "dine_in",
        "category": primary_category(meal.get("categories")),
        "tier": (meal.get("tier_code") or "")[:40],
        "shard": int(meal.get("elder") or 0) % SHARDS,
    }
    out = [
        {
            **base,
            "source": "",
            "meals": 1,
            "subsidised": 1 if meal.get("subsidised") else 0,
            "list_fen": meal["list_price_fen"],
            "subsidy_fen": meal.get("subsidy_fen") or 0,
            "copay_fen": meal["copay_fen"],
            "delivery_fee_fen": meal.get("delivery_fee_fen") or 0,
            "delivery_subsidy_fen": meal.get("delivery_subsidy_fen") or 0,
        }
    ]
    by_source: dict[str, int] = {}
    for part in _json(meal.get("funding")) or []:
        by_source[str(part["source"])[:40]] = by_source.get(str(part["source"])[:40], 0) + int(part["fen"])
    for source, fen in sorted(by_source.items()):
        out.append(
            {
                **base,
                "source": source,
                "meals": 1,
                "subsidised": 1,
                "list_fen": 0,
                "subsidy_fen": fen,
                "copay_fen": 0,
                "delivery_fee_fen": 0,
                "delivery_subsidy_fen": 0,
            }
        )
    return out


def aggregate(meals: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Sum the contributions of many live meals by rollup key."""
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for meal in meals:
        for row in rows_for_meal(meal):
            key = tuple(row[k] for k in KEY)
            have = acc.get(key)
            if have is None:
                acc[key] = row
            else:
                for s in SUMS:
                    have[s] += row[s]
    return acc


# Column names are our constants; every value is a bound parameter.
_COLUMNS = (
    "site", "district", "operator", "service_date", "slot", "mode", "category", "tier", "source", "shard",
)  # fmt: skip
_ROW = "(" + ", ".join(["{}"] * (len(_COLUMNS) + 7)) + ")"


_M_COLUMNS = ("site", "district", "operator", "month", "mode", "category", "tier", "source", "shard")
_M_ROW = "(" + ", ".join(["{}"] * (len(_M_COLUMNS) + 7)) + ")"
_DAILY_CONFLICT = (
    " ON CONFLICT (site, service_date, slot, mode, category, tier, source, operator, shard) DO UPDATE SET "
)
_MONTHLY_CONFLICT = " ON CONFLICT (site, month, mode, category, tier, source, operator, shard) DO UPDATE SET "


def _insert(table: str, columns: tuple[str, ...], row: str, conflict: str, n_rows: int) -> str:
    # Column names are our constants and every value is a bound parameter.
    return (
        f"INSERT INTO {table} ("  # noqa: S608
        + ", ".join((*columns, *SUMS))
        + ") VALUES "
        + ", ".join([row] * n_rows)
        + conflict
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUMS)
    )


def _upsert(n_rows: int) -> str:
    """The daily rows of one meal in one statement."""
    return _insert("daily_rollup", _COLUMNS, _ROW, _DAILY_CONFLICT, n_rows)


def _upsert_monthly(n_rows: int) -> str:
    return _insert("monthly_rollup", _M_COLUMNS, _M_ROW, _MONTHLY_CONFLICT, n_rows)


def _upsert_both(n_rows: int) -> str:
    """PostgreSQL: daily and monthly rows of one meal in ONE statement (a data-modifying CTE)."""
    return f"WITH d AS ({_upsert(n_rows)} RETURNING 1) {_upsert_monthly(n_rows)}"


def json_upsert_sql(kind: str, param: str) -> str:
    """PostgreSQL: upsert the daily or monthly rows given as one JSON array parameter (``param``,
    e.g. ``:daily``) — the form the hot path's one write statement embeds (``meals.hotpath``)."""
    table, columns, conflict = (
        ("daily_rollup", _COLUMNS, _DAILY_CONFLICT)
        if kind == "daily"
        else ("monthly_rollup", _M_COLUMNS, _MONTHLY_CONFLICT)
    )
    cols = ", ".join((*columns, *SUMS))
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols} "  # noqa: S608 - constants; values are parameters
        f"FROM json_populate_recordset(NULL::{table}, CAST({param} AS json))"
        + conflict
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUMS)
    )


def json_rows(meal: Mapping[str, Any], sign: int) -> tuple[str, str]:
    """The daily and monthly rows of one meal as JSON arrays, for :func:`json_upsert_sql`."""
    daily: list[dict[str, Any]] = []
    monthly: list[dict[str, Any]] = []
    for row in rows_for_meal(meal):
        sums = {c: sign * row[c] for c in SUMS}
        day = row["service_date"]
        daily.append({**{c: row[c] for c in _COLUMNS}, "service_date": day.isoformat(), **sums})
        monthly.append({**{c: row[c] for c in _M_COLUMNS if c != "month"}, "month": month_of(day), **sums})
    return msgspec.json.encode(daily).decode(), msgspec.json.encode(monthly).decode()


def _params(rows: list[dict[str, Any]], sign: int, monthly: bool) -> list[Any]:
    params: list[Any] = []
    for row in rows:
        if monthly:
            params.extend({**row, "month": month_of(row["service_date"])}[c] for c in _M_COLUMNS)
        else:
            params.extend(row[c] for c in _COLUMNS)
        params.extend(sign * row[c] for c in SUMS)
    return params


async def apply_meal(meal: Mapping[str, Any], sign: int) -> None:
    """Add (+1) or take away (-1) one meal's contribution to its day's and month's rollups.

    Call it inside the transaction that writes the meal or its void, with the
    meal's row as a dict holding at least ``MEAL_COLUMNS`` (JSON as text or
    loaded). For a void, pass the meal as it was before voiding and sign -1.
    It opens no transaction of its own (it joins the caller's). On PostgreSQL
    a check-in is ONE statement (daily + monthly upserts in a CTE); SQLite,
    which has no data-modifying CTEs, takes two.
    """
    if sign not in (1, -1):
        raise ValueError("sign must be +1 or -1")
    rows = rows_for_meal(meal)
    day = meal["service_date"]
    if isinstance(day, str):
        day = dt.date.fromisoformat(day[:10])
        rows = [{**r, "service_date": day} for r in rows]
    await mark_dirty(meal["district"], day)
    if rows:
        daily = _params(rows, sign, monthly=False)
        monthly = _params(rows, sign, monthly=True)
        if is_sqlite():
            await DailyRollup.raw(_upsert(len(rows)), *daily)
            await DailyRollup.raw(_upsert_monthly(len(rows)), *monthly)
        else:
            await DailyRollup.raw(_upsert_both(len(rows)), *daily, *monthly)
    if sign < 0:
        # A row whose last meal was voided goes away, so increments and rebuilds hold the same rows.
        await DailyRollup.delete().where(
            (DailyRollup.site == meal["site"]) & (DailyRollup.service_date == day) & (DailyRollup.meals <= 0)
        )
        await MonthlyRollup.delete().where(
            (MonthlyRollup.site == meal["site"])
            & (MonthlyRollup.month == month_of(day))
            & (MonthlyRollup.meals <= 0)
        )


async def apply_meal_id(meal_id: int, sign: int) -> None:
    """``apply_meal`` for a meal id: reads the row first (inside the caller's transaction)."""
    meal = await Meal.select(*MEAL_COLUMNS).where(Meal.id == meal_id).first()
    if meal is not None:
        await apply_meal(meal, sign)


# The mark of a meal's district-day: one index probe when the day is already marked (no row lock,
# so the check-ins of a busy day do not queue on it).
MARK_SQL = (
    "INSERT INTO rollup_dirty (district, service_date, marked_at) VALUES ({}, {}, {}) "
    "ON CONFLICT (district, service_date) DO NOTHING"
)


async def mark_dirty(district_id: int, day: dt.date, now: dt.datetime | None = None) -> None:
    """Mark a district-day's rollups for the next rebuild (inside the meal's transaction)."""
    await RollupDirty.raw(MARK_SQL, district_id, day, now or dt.datetime.now(dt.UTC))


async def dirty_days(before: dt.date, *, limit: int = 1000) -> list[tuple[int, dt.date]]:
    """District-days before ``before`` whose meals changed since their last rebuild, oldest first."""
    rows = (
        await RollupDirty.select(RollupDirty.district, RollupDirty.service_date)
        .where(RollupDirty.service_date < before)
        .order_by(RollupDirty.service_date)
        .order_by(RollupDirty.district)
        .limit(limit)
    )
    return [(int(r["district"]), r["service_date"]) for r in rows]


async def rollup_day(district_id: int, day: dt.date) -> int:
    """Rebuild one district-day of rollups from its live meals; returns the rows written. Idempotent.

    Claims the day's dirty mark first; then deletes the day's rows BEFORE reading the meals, so a
    check-in still holding one of those rows is waited for and read (PostgreSQL), and one that
    comes after waits for this rebuild and adds itself to the new rows."""
    async with write_transaction():
        await RollupDirty.delete().where(
            (RollupDirty.district == district_id) & (RollupDirty.service_date == day)
        )
        await DailyRollup.delete().where(
            (DailyRollup.district == district_id) & (DailyRollup.service_date == day)
        )
        meals = await Meal.select(*MEAL_COLUMNS).where(
            (Meal.district == district_id) & (Meal.service_date == day) & Meal.voided_at.is_null()
        )
        rows = list(aggregate(meals).values())
        for start in range(0, len(rows), 500):
            await DailyRollup.insert(*(DailyRollup(**r) for r in rows[start : start + 500]))
        await rebuild_month(district_id, month_of(day))
    return len(rows)


_SUM_SQL = ", ".join(f"SUM({c})" for c in SUMS)


async def rebuild_month(district_id: int, month: str) -> None:
    """Rebuild one district-month of monthly rows from its daily rows (inside the caller's transaction)."""
    first, last = month_bounds(month)
    await MonthlyRollup.delete().where(
        (MonthlyRollup.district == district_id) & (MonthlyRollup.month == month)
    )
    cols = ", ".join((*_M_COLUMNS, *SUMS))
    await MonthlyRollup.raw(
        f"INSERT INTO monthly_rollup ({cols}) "  # noqa: S608 - constants; values are parameters
        f"SELECT site, district, operator, {{}}, mode, category, tier, source, shard, {_SUM_SQL} "
        "FROM daily_rollup WHERE district = {} AND service_date >= {} AND service_date <= {} "
        "GROUP BY site, district, operator, mode, category, tier, source, shard HAVING SUM(meals) > 0",
        month,
        district_id,
        first,
        last,
    )


async def rollup_range(district_id: int, start: dt.date, end: dt.date) -> int:
    """``rollup_day`` for every day from start to end inclusive (one transaction per day)."""
    n = 0
    day = start
    while day <= end:
        n += await rollup_day(district_id, day)
        day += dt.timedelta(days=1)
    return n
