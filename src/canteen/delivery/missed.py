"""Missed-meal alerts ("no meal today") chosen by the database, one district at a time.

The rule (``raise_missed_meal_alerts``): regular diners at risk who have not eaten by the set
time get one alert per day and slot. A district of a city holds tens of thousands of elders, so
nothing here loads them into Python or binds their ids: the elders are walked in windows of
``CHUNK`` ids (the district's own ids, found by the index), and for each window ONE statement
picks the at-risk regulars who did not eat and inserts their alerts, ``ON CONFLICT DO NOTHING`` on
the alert's unique key (``delivery_alert_missed_once``: elder, day, slot). So a retry, or two
workers on the same district, alert nobody twice; each statement binds a few dozen parameters
whatever the district's size, and Python holds only the alerts a window raised.

Both engines run the same statement (PostgreSQL and SQLite differ in three expressions: a
weekday in a JSON array, building the detail JSON, and casts of the parameters).
"""

# ruff: noqa: S608 - the statements are built from our constants; every value is a bound parameter

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from canteen.core import events
from canteen.core.clock import utcnow
from canteen.core.db import is_sqlite, write_transaction
from canteen.core.errors import DomainError
from canteen.delivery import rules
from canteen.delivery.schemas import MissedMealOut
from canteen.delivery.services import AT_RISK_CATEGORIES, MISSED_MEAL_AFTER
from canteen.delivery.tables import Alert
from canteen.meals.tables import Meal
from canteen.settings import get_settings

# Elders per statement: small enough for a short write transaction (SQLite holds the file lock),
# large enough that a 40,000-elder district is a handful of statements.
CHUNK = 5_000

_PARAM = re.compile(r":([a-z_][a-z0-9_]*)")


def _compile(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` parameters to Piccolo's positional ``{}`` (a name used twice is bound twice)."""
    args: list[Any] = []

    def take(m: re.Match[str]) -> str:
        args.append(params[m.group(1)])
        return "{}"

    return _PARAM.sub(take, sql), args


def _p(name: str, pg_type: str) -> str:
    # asyncpg needs the type of a parameter that only a SELECT list or a comparison sees; SQLite
    # must not get a CAST (``CAST(x AS date)`` gives it a number).
    return f":{name}" if is_sqlite() else f"CAST(:{name} AS {pg_type})"


def _weekday_in(column: str) -> str:
    if is_sqlite():
        return f"EXISTS (SELECT 1 FROM json_each({column}) AS w WHERE w.value = :weekday)"
    return f"CAST({column} AS jsonb) @> to_jsonb(CAST(:weekday AS integer))"


def _detail() -> str:
    fn = "json_object" if is_sqlite() else "json_build_object"
    return (
        f"CASE WHEN f.id IS NULL THEN {fn}('regular', r.why, 'reason', 'no_checkin') "
        f"ELSE {fn}('regular', r.why, 'reason', 'not_delivered', 'order_id', f.id, "
        "'order_status', f.status, 'not_delivered_reason', f.not_delivered_reason) END"
    )


def _regulars_sql(served_days: Sequence[dt.date], upper: bool) -> str:
    """The CTEs naming this window's regular diners at risk (``regular``: id, community, why)."""
    day, slot, district = _p("day", "date"), _p("slot", "text"), _p("district", "integer")
    codes = ", ".join(f":cat{i}" for i in range(len(_AT_RISK)))
    in_effect = (
        f"p.elder = r.id AND p.first_day <= {day} AND p.last_day >= {day} "
        f"AND (p.ended_on IS NULL OR p.ended_on > {day})"
    )
    dine_in = "SELECT id, community FROM at_risk WHERE 1 = 0"
    if served_days:
        days = ", ".join(_p(f"served{i}", "date") for i in range(len(served_days)))
        dine_in = (
            "SELECT r.id, r.community FROM at_risk r JOIN meal m ON m.elder = r.id "
            f"WHERE m.slot = {slot} AND m.mode = 'dine_in' AND m.voided_at IS NULL "
            f"AND m.service_date IN ({days}) "
            "GROUP BY r.id, r.community HAVING COUNT(DISTINCT m.service_date) >= :need"
        )
    return f"""
WITH at_risk AS (
  SELECT e.id, e.community FROM elder e
  WHERE e.district = {district} AND e.status = 'active' AND e.id > :lo {"AND e.id <= :hi" if upper else ""}
    AND (e.living_situation = 'alone' OR EXISTS (
      SELECT 1 FROM elder_category c
      WHERE c.elder = e.id AND c.code IN ({codes}) AND c.valid_from <= {day}
        AND (c.valid_until IS NULL OR c.valid_until >= {day})))
),
standing AS (
  SELECT r.id, r.community FROM at_risk r
  WHERE EXISTS (
    SELECT 1 FROM standing_order so
    WHERE so.elder = r.id AND so.slot = {slot} AND so.active
      AND (so.until IS NULL OR so.until >= {day}) AND {_weekday_in("so.weekdays")})
),
dine AS ({dine_in}),
regular AS (
  SELECT s.id, s.community, 'standing_order' AS why FROM standing s
  WHERE NOT EXISTS (SELECT 1 FROM service_pause p WHERE {in_effect.replace("r.id", "s.id")} AND p.delivery)
  UNION ALL
  SELECT r.id, r.community, 'dine_in' AS why FROM dine r
  WHERE NOT EXISTS (SELECT 1 FROM standing s WHERE s.id = r.id)
    AND NOT EXISTS (SELECT 1 FROM service_pause p WHERE {in_effect} AND p.counter)
)"""


def _insert_sql(served_days: Sequence[dt.date], upper: bool) -> str:
    day, slot = _p("day", "date"), _p("slot", "text")
    return (
        _regulars_sql(served_days, upper)
        + f""",
ord AS (
  SELECT o.elder,
         MAX(CASE WHEN o.status = 'delivered' THEN 1 ELSE 0 END) AS delivered,
         MIN(CASE WHEN o.status <> 'cancelled' THEN o.id END) AS failed_id
  FROM delivery_order o JOIN regular r ON r.id = o.elder
  WHERE o.service_date = {day} AND o.slot = {slot}
  GROUP BY o.elder
)
INSERT INTO delivery_alert (district, community, elder, kind, service_date, slot, detail, raised_at,
                            status, resolution_note)
SELECT {_p("district", "integer")}, r.community, r.id, 'missed_meal', {day}, {slot}, {_detail()},
       {_p("now", "timestamptz")}, 'open', ''
FROM regular r
LEFT JOIN ord ON ord.elder = r.id
LEFT JOIN delivery_order f ON f.id = ord.failed_id
WHERE NOT EXISTS (
    SELECT 1 FROM meal m
    WHERE m.elder = r.id AND m.service_date = {day} AND m.slot = {slot}
      AND m.mode = 'dine_in' AND m.voided_at IS NULL)
  AND (ord.elder IS NULL OR (ord.delivered = 0 AND ord.failed_id IS NOT NULL))
ORDER BY r.id
ON CONFLICT (elder, service_date, slot) WHERE kind = 'missed_meal' DO NOTHING
RETURNING id, elder, community"""
    )


def _count_sql(served_days: Sequence[dt.date], upper: bool) -> str:
    return _regulars_sql(served_days, upper) + "\nSELECT COUNT(*) AS n FROM regular"


_AT_RISK: tuple[str, ...] = tuple(sorted(AT_RISK_CATEGORIES))


async def _served_days(district_id: int, day: dt.date, slot: str) -> list[dt.date]:
    """The district's last (up to) ``REGULAR_DAYS`` serving days of this slot before ``day``."""
    rows = (
        await Meal.select(Meal.service_date)
        .where(
            (Meal.district == district_id)
            & (Meal.slot == slot)
            & (Meal.service_date < day)
            & Meal.voided_at.is_null()
        )
        .distinct()
        .order_by(Meal.service_date, ascending=False)
        .limit(rules.REGULAR_DAYS)
    )
    return [r["service_date"] for r in rows]


async def _window_end(district_id: int, after: int) -> int | None:
    """The id that closes the window of ``CHUNK`` active elders after ``after`` (None: the rest)."""
    rows = await Alert.raw(
        "SELECT id FROM elder WHERE district = {} AND status = 'active' AND id > {} "
        "ORDER BY id LIMIT 1 OFFSET {}",
        district_id,
        after,
        CHUNK - 1,
    )
    return int(rows[0]["id"]) if rows else None


async def raise_missed_meal_alerts(
    district_id: int, day: dt.date, slot: str, *, now: dt.datetime | None = None
) -> MissedMealOut:
    """Raise "no meal today" for regular diners at risk who have not eaten by the set time.

    At risk: living alone (the ``living_alone`` category or the registry's living
    situation) or disabled (``disabled``, ``semi_disabled``, ``severe_disability``).
    Regular: an active standing order for this slot and weekday, or dine-in on at least
    60% of the district's last (up to) 20 serving days in this slot. Missed: no dine-in
    meal (not voided) and no delivered order for the day and slot; an order the elder
    cancelled counts as a choice, not a miss. A delivery pause (报停) quiets a standing-order
    regular, a counter pause a dine-in regular. Runs after ``MISSED_MEAL_AFTER[slot]``
    (local time, ``missed_meal_too_early`` before); raising twice alerts once.
    """
    now = now or utcnow()
    at = MISSED_MEAL_AFTER.get(slot)
    if at is None:
        raise DomainError("validation_failed", {"field": "slot"})
    if now < dt.datetime.combine(day, at, get_settings().tz):
        raise DomainError("missed_meal_too_early", {"after": at.isoformat(timespec="minutes")})
    served = await _served_days(district_id, day, slot)
    n = len(served)
    need = next((k for k in range(n + 1) if rules.is_regular(k, n)), None)
    if need is None:  # too few serving days for a habit: only standing orders make a regular
        served = []
    params: dict[str, Any] = {
        "district": district_id,
        "day": day,
        "slot": slot,
        "weekday": day.weekday(),
        "now": now,
        "need": need or 0,
        **{f"cat{i}": c for i, c in enumerate(_AT_RISK)},
        **{f"served{i}": d for i, d in enumerate(served)},
    }
    raised: list[int] = []
    checked = 0
    lo = 0
    while True:
        hi = await _window_end(district_id, lo)
        window = {**params, "lo": lo, "hi": hi}
        sql, args = _compile(_count_sql(served, hi is not None), window)
        checked += int((await Alert.raw(sql, *args))[0]["n"])
        sql, args = _compile(_insert_sql(served, hi is not None), window)
        async with write_transaction():
            rows = await Alert.raw(sql, *args)
        for r in rows:
            raised.append(int(r["id"]))
            events.publish(
                [events.district_channel(district_id)],
                {
                    "type": "alert",
                    "alert_id": int(r["id"]),
                    "kind": "missed_meal",
                    "elder_id": int(r["elder"]),
                    "community_id": r["community"],
                },
            )
        if hi is None:
            break
        lo = hi
    return MissedMealOut(raised=sorted(raised), checked=checked)
