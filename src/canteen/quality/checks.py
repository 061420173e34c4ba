"""The claim checks as SQL, one statement per check over one district-month, both engines.

The database groups, counts and compares (GROUP BY, window functions); Python only receives the
findings — the anomalous meals, never the month — and, where a check needs a policy (over limit,
category expired), decides on the few candidate groups the SQL narrowed it to. Every statement
binds a handful of parameters whatever the district's size: lists go in as ONE JSON parameter.

The engine differences live in the small helpers at the top (``_ids``, ``_epoch``, ``_ts``,
``_local_minute``, ``_json_rows``); the statements themselves are written once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from canteen.core.db import any_of, is_sqlite
from canteen.meals.tables import Meal
from canteen.quality.rules import VOID_RATE_FACTOR, VOID_RATE_FLOOR, Thresholds, open_windows
from canteen.regions.tables import Site
from canteen.registry.tables import ElderCategory
from canteen.subsidies.services import policy_for

CHUNK = 2000


@dataclass
class Finding:
    kind: str
    fingerprint: str
    meal_ids: list[int]
    detail: str
    site: int | None = None
    elder: int | None = None
    operator: int | None = None


# --- per-engine pieces -------------------------------------------------------------------------


def _ids(expr: str) -> str:
    """The ids of a group as JSON text."""
    return f"json_group_array({expr})" if is_sqlite() else f"json_agg({expr})::text"


def _epoch(col: str) -> str:
    """Seconds since 1970 of a timestamptz (SQLite stores them as UTC ISO text)."""
    return f"((julianday({col}) - 2440587.5) * 86400.0)" if is_sqlite() else f"extract(epoch from {col})"


def _ts(col: str) -> str:
    """A timestamptz made comparable (ISO text with and without fractions does not sort)."""
    return f"julianday({col})" if is_sqlite() else col


def _local_minute(col: str, tz: dt.tzinfo, first: dt.date) -> str:
    """Minute of the day in the service zone. PostgreSQL knows the zone; SQLite gets the zone's
    UTC offset on the month's first day (the service zone, Asia/Shanghai, has no daylight saving;
    a zone that changes offset mid-month would be off by an hour on SQLite, the demo engine)."""
    if not is_sqlite():
        name = str(getattr(tz, "key", "UTC")).replace("'", "")
        local = f"({col} AT TIME ZONE '{name}')"
        hour, minute = f"extract(hour from {local})", f"extract(minute from {local})"
        return f"(CAST({hour} AS integer) * 60 + CAST({minute} AS integer))"
    offset = dt.datetime(first.year, first.month, first.day, 12, tzinfo=tz).utcoffset() or dt.timedelta()
    mod = f"'{int(offset.total_seconds() // 60):+d} minutes'"
    hour, minute = f"strftime('%H', {col}, {mod})", f"strftime('%M', {col}, {mod})"
    return f"(CAST({hour} AS INTEGER) * 60 + CAST({minute} AS INTEGER))"


def _json_rows(columns: dict[str, str], alias: str) -> str:
    """A table from ONE JSON parameter (a list of objects): ``json_each`` / ``json_to_recordset``."""
    if is_sqlite():
        cols = ", ".join(f"json_extract(value, '$.{c}') AS {c}" for c in columns)
        return f"(SELECT {cols} FROM json_each({{}})) AS {alias}"  # noqa: S608 - column names are ours
    spec = ", ".join(f"{c} {t}" for c, t in columns.items())
    return f"json_to_recordset({{}}::json) AS {alias}({spec})"


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    return list(await Meal.raw(sql, *args))


def _day(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


def _jl(v: Any) -> list[Any]:
    if isinstance(v, str | bytes):
        return list(json.loads(v or "[]"))
    return list(v or [])


def _sorted_ids(v: Any) -> list[int]:
    return sorted({int(i) for i in _jl(v) if i is not None})


BASE = "m.district = {} AND m.service_date >= {} AND m.service_date <= {}"


def _base(district: int, first: dt.date, last: dt.date) -> tuple[int, dt.date, dt.date]:
    return (district, first, last)


# --- the checks --------------------------------------------------------------------------------


async def two_points(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """The same elder at two points within ``two_points_minutes``, in one slot of one service
    day: neighbours in time (LAG over the elder's slot) at different sites."""
    sql = f"""
    WITH live AS (
      SELECT m.id, m.site, m.elder, m.service_date, m.slot, m.operator, m.served_at,
             {_epoch("m.served_at")} AS t
      FROM meal m WHERE {BASE} AND m.voided_at IS NULL AND m.elder IS NOT NULL
    ), w AS (
      SELECT live.*, LAG(id) OVER p AS prev_id, LAG(site) OVER p AS prev_site, LAG(t) OVER p AS prev_t
      FROM live WINDOW p AS (PARTITION BY elder, service_date, slot ORDER BY served_at, id)
    ), paired AS (
      SELECT id AS mid FROM w WHERE prev_id IS NOT NULL AND site <> prev_site AND t - prev_t <= {{}}
      UNION
      SELECT prev_id FROM w WHERE prev_id IS NOT NULL AND site <> prev_site AND t - prev_t <= {{}}
    )
    SELECT l.id, l.site, l.elder, l.service_date, l.slot, l.operator
    FROM paired p JOIN live l ON l.id = p.mid ORDER BY l.elder, l.service_date, l.slot, l.served_at, l.id
    """  # noqa: S608 - fragments are ours, values are bound
    seconds = th.two_points_minutes * 60
    rows = await _raw(sql, *_base(district, first, last), seconds, seconds)
    groups: dict[tuple[int, dt.date, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(int(r["elder"]), _day(r["service_date"]), str(r["slot"]))].append(r)
    out = []
    for (elder, day, slot), ms in groups.items():
        out.append(
            Finding(
                "two_points",
                f"two_points:{elder}:{day}:{slot}",
                sorted(int(m["id"]) for m in ms),
                f"elder #{elder} served {slot} at {len({m['site'] for m in ms})} points "
                f"within {th.two_points_minutes} minutes on {day}",
                site=int(ms[0]["site"]),
                elder=elder,
                operator=ms[0]["operator"],
            )
        )
    return out


async def over_limit(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """More subsidised meals for one elder in one slot of a day than the pricing policy allows.
    Every policy allows at least one, so the SQL hands over only groups of two or more."""
    sql = f"""
    SELECT m.elder, m.service_date, m.slot, count(*) AS n, min(m.policy_district) AS pd,
           min(m.site) AS site, min(m.operator) AS operator, {_ids("m.id")} AS ids
    FROM meal m WHERE {BASE} AND m.voided_at IS NULL AND m.subsidised AND m.elder IS NOT NULL
    GROUP BY m.elder, m.service_date, m.slot HAVING count(*) > 1
    """  # noqa: S608
    out = []
    for r in await _raw(sql, *_base(district, first, last)):
        day = _day(r["service_date"])
        # The policy that priced the meals: the elder's home district's (补贴跟着人走).
        policy = await policy_for(int(r["pd"] or district), day)
        limit = policy.per_slot_daily_limit if policy else 1
        if int(r["n"]) > limit:
            elder, slot = int(r["elder"]), str(r["slot"])
            out.append(
                Finding(
                    "over_limit",
                    f"over_limit:{elder}:{day}:{slot}",
                    _sorted_ids(r["ids"]),
                    f"{r['n']} subsidised {slot} meals on {day}; the policy allows {limit}",
                    site=int(r["site"]),
                    elder=elder,
                    operator=r["operator"],
                )
            )
    return out


async def outside_hours(
    district: int, first: dt.date, last: dt.date, th: Thresholds, tz: dt.tzinfo
) -> list[Finding]:
    """Counter meals recorded outside the site's serving hours for their slot (hours plus the
    counter's grace window: :func:`canteen.quality.rules.open_windows`)."""
    windows: list[dict[str, Any]] = []
    for s in await Site.select(Site.id, Site.slots).where(Site.district == district):
        windows.extend(open_windows(int(s["id"]), _jl(s["slots"])))
    win = _json_rows({"site": "int", "slot": "text", "lo": "int", "hi": "int"}, "w")
    minute = _local_minute("m.served_at", tz, first)
    sql = f"""
    SELECT m.site, m.service_date, s.operator, count(*) AS n, {_ids("m.id")} AS ids
    FROM meal m JOIN site s ON s.id = m.site AND s.district = m.district
    WHERE {BASE} AND m.voided_at IS NULL AND m.mode = 'dine_in'
      AND NOT EXISTS (SELECT 1 FROM {win} WHERE w.site = m.site AND w.slot = m.slot
                      AND {minute} BETWEEN w.lo AND w.hi)
    GROUP BY m.site, m.service_date, s.operator
    """  # noqa: S608
    rows = await _raw(sql, *_base(district, first, last), json.dumps(windows))
    return [
        Finding(
            "outside_hours",
            f"outside_hours:{r['site']}:{_day(r['service_date'])}",
            _sorted_ids(r["ids"]),
            f"{r['n']} meals recorded outside serving hours on {_day(r['service_date'])}",
            site=int(r["site"]),
            operator=r["operator"],
        )
        for r in rows
    ]


async def identical_counts(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """The same daily meal count at a point for ``identical_days`` serving days running
    (gaps and islands: days with meals, numbered overall and within each count)."""
    sql = f"""
    WITH daily AS (
      SELECT m.site, m.service_date, count(*) AS n FROM meal m
      WHERE {BASE} AND m.voided_at IS NULL GROUP BY m.site, m.service_date
    ), r AS (
      SELECT site, service_date, n,
             ROW_NUMBER() OVER (PARTITION BY site ORDER BY service_date)
             - ROW_NUMBER() OVER (PARTITION BY site, n ORDER BY service_date) AS grp
      FROM daily
    ), runs AS (
      SELECT site, n, grp, min(service_date) AS first_day, count(*) AS days FROM r
      GROUP BY site, n, grp HAVING count(*) >= {{}}
    )
    SELECT runs.site, runs.n, runs.first_day, runs.days, s.operator, {_ids("m.id")} AS ids
    FROM runs JOIN r ON r.site = runs.site AND r.n = runs.n AND r.grp = runs.grp
    JOIN meal m ON m.site = r.site AND m.service_date = r.service_date AND m.district = {{}}
      AND m.voided_at IS NULL
    JOIN site s ON s.id = runs.site
    GROUP BY runs.site, runs.n, runs.first_day, runs.days, s.operator
    """  # noqa: S608
    rows = await _raw(sql, *_base(district, first, last), th.identical_days, district)
    return [
        Finding(
            "identical_counts",
            f"identical_counts:{r['site']}:{_day(r['first_day'])}",
            _sorted_ids(r["ids"]),
            f"exactly {r['n']} meals a day for {r['days']} serving days from {_day(r['first_day'])}",
            site=int(r["site"]),
            operator=r["operator"],
        )
        for r in rows
    ]


async def fast_scans(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """One cashier recording more than ``fast_scan_count`` counter meals within any
    ``fast_scan_seconds``: a sliding window counts each meal's burst (RANGE … PRECEDING), a
    second one marks every meal inside a burst over the limit (RANGE … FOLLOWING)."""
    span = f"{int(th.fast_scan_seconds)}.0"  # an int from the settings' bounds, never text
    sql = f"""
    WITH s AS (
      SELECT m.id, m.site, m.operator, m.cashier_id, m.service_date, {_epoch("m.served_at")} AS t
      FROM meal m WHERE {BASE} AND m.voided_at IS NULL AND m.cashier_id IS NOT NULL
        AND m.mode = 'dine_in'
    ), c AS (
      SELECT s.*, count(*) OVER (PARTITION BY cashier_id, service_date ORDER BY t
                                 RANGE BETWEEN {span} PRECEDING AND CURRENT ROW) AS burst
      FROM s
    ), f AS (
      SELECT c.*, max(burst) OVER (PARTITION BY cashier_id, service_date ORDER BY t
                                   RANGE BETWEEN CURRENT ROW AND {span} FOLLOWING) AS reach
      FROM c
    )
    SELECT cashier_id, service_date, min(site) AS site, min(operator) AS operator,
           max(burst) AS peak, count(*) AS n, {_ids("id")} AS ids
    FROM f WHERE reach > {{}} GROUP BY cashier_id, service_date
    """  # noqa: S608
    rows = await _raw(sql, *_base(district, first, last), th.fast_scan_count)
    return [
        Finding(
            "fast_scans",
            f"fast_scans:{r['cashier_id']}:{_day(r['service_date'])}",
            _sorted_ids(r["ids"]),
            f"cashier #{r['cashier_id']} recorded {r['peak']} meals within {th.fast_scan_seconds} s "
            f"on {_day(r['service_date'])} (more than {th.fast_scan_count}; {r['n']} meals in such bursts)",
            site=int(r["site"]),
            operator=r["operator"],
        )
        for r in rows
    ]


async def void_rate(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """A point voiding more than 3× the district's rate and more than 5% of its meals."""
    sql = f"""
    WITH per AS (
      SELECT m.site, count(*) AS n, sum(CASE WHEN m.voided_at IS NOT NULL THEN 1 ELSE 0 END) AS v
      FROM meal m WHERE {BASE} GROUP BY m.site
    ), tot AS (SELECT sum(n) AS n, sum(v) AS v FROM per)
    SELECT per.site, per.n, per.v, tot.n AS tn, tot.v AS tv, s.operator,
           (SELECT {_ids("x.id")} FROM meal x WHERE x.site = per.site AND x.district = {{}}
              AND x.service_date >= {{}} AND x.service_date <= {{}} AND x.voided_at IS NOT NULL) AS ids
    FROM per CROSS JOIN tot JOIN site s ON s.id = per.site
    WHERE per.v * 1.0 / per.n > {VOID_RATE_FLOOR}
      AND per.v * 1.0 / per.n > {VOID_RATE_FACTOR} * tot.v * 1.0 / tot.n
    """  # noqa: S608 - module constants
    rows = await _raw(sql, *_base(district, first, last), *_base(district, first, last))
    out = []
    for r in rows:
        rate, district_rate = int(r["v"]) / int(r["n"]), int(r["tv"]) / int(r["tn"])
        out.append(
            Finding(
                "void_rate",
                f"void_rate:{r['site']}",
                _sorted_ids(r["ids"]),
                f"voided {rate:.1%} of its meals; the district voided {district_rate:.1%}",
                site=int(r["site"]),
                operator=r["operator"],
            )
        )
    return out


async def over_capacity(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """More counter meals in a slot than the point's ``meals_per_slot``."""
    sql = f"""
    SELECT m.site, m.service_date, m.slot, s.meals_per_slot AS cap, s.operator, count(*) AS n,
           {_ids("m.id")} AS ids
    FROM meal m JOIN site s ON s.id = m.site
    WHERE {BASE} AND m.voided_at IS NULL AND m.mode = 'dine_in' AND s.meals_per_slot > 0
    GROUP BY m.site, m.service_date, m.slot, s.meals_per_slot, s.operator
    HAVING count(*) > s.meals_per_slot
    """  # noqa: S608
    return [
        Finding(
            "over_capacity",
            f"over_capacity:{r['site']}:{_day(r['service_date'])}:{r['slot']}",
            _sorted_ids(r["ids"]),
            f"{r['n']} {r['slot']} meals on {_day(r['service_date'])}; capacity {r['cap']}",
            site=int(r["site"]),
            operator=r["operator"],
        )
        for r in await _raw(sql, *_base(district, first, last))
    ]


async def after_status(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """Subsidised meals after the elder's latest status (as of the meal) became deceased or moved."""
    sql = f"""
    WITH sub AS (
      SELECT m.id, m.elder, m.site, m.operator, m.served_at FROM meal m
      WHERE {BASE} AND m.voided_at IS NULL AND m.subsidised AND m.elder IS NOT NULL
        AND m.elder IN (SELECT e.elder FROM elder_status_event e WHERE e.status IN ('deceased', 'moved'))
    ), st AS (
      SELECT sub.*, (SELECT e.status FROM elder_status_event e
                     WHERE e.elder = sub.elder AND {_ts("e.at")} <= {_ts("sub.served_at")}
                     ORDER BY {_ts("e.at")} DESC, e.id DESC LIMIT 1) AS state
      FROM sub
    )
    SELECT elder, min(state) AS state, min(site) AS site, min(operator) AS operator,
           count(*) AS n, {_ids("id")} AS ids
    FROM st WHERE state IN ('deceased', 'moved') GROUP BY elder
    """  # noqa: S608
    return [
        Finding(
            "after_status",
            f"after_status:{r['elder']}",
            _sorted_ids(r["ids"]),
            f"{r['n']} subsidised meals after the elder was recorded as {r['state']}",
            site=int(r["site"]),
            elder=int(r["elder"]),
            operator=r["operator"],
        )
        for r in await _raw(sql, *_base(district, first, last))
    ]


async def _expired_candidates(
    district: int, first: dt.date, last: dt.date
) -> AsyncIterator[list[dict[str, Any]]]:
    """Subsidised meals whose elder holds a category row NOT valid that day, in id order, in
    chunks: the only meals that can be ``category_expired`` (a superset the policy then decides)."""
    after = 0
    while True:
        sql = f"""
        SELECT m.id, m.elder, m.site, m.operator, m.service_date, m.tier_code, m.policy_district,
               m.categories
        FROM meal m
        WHERE {BASE} AND m.voided_at IS NULL AND m.subsidised AND m.elder IS NOT NULL AND m.id > {{}}
          AND EXISTS (SELECT 1 FROM elder_category c WHERE c.elder = m.elder
                      AND (c.valid_from > m.service_date
                           OR (c.valid_until IS NOT NULL AND c.valid_until < m.service_date)))
        ORDER BY m.id LIMIT {CHUNK}
        """  # noqa: S608
        rows = await _raw(sql, *_base(district, first, last), after)
        if not rows:
            return
        yield rows
        after = int(rows[-1]["id"])
        if len(rows) < CHUNK:
            return


async def category_expired(district: int, first: dt.date, last: dt.date, th: Thresholds) -> list[Finding]:
    """Subsidised meals whose tier needed a category the elder held but no longer (or not yet)
    held validly that day."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    async for chunk in _expired_candidates(district, first, last):
        elders = sorted({int(m["elder"]) for m in chunk})
        cats: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in await ElderCategory.select(
            ElderCategory.elder, ElderCategory.code, ElderCategory.valid_from, ElderCategory.valid_until
        ).where(any_of(ElderCategory.elder, elders)):
            cats[int(c["elder"])].append(c)
        for m in chunk:
            day = _day(m["service_date"])
            policy = await policy_for(int(m["policy_district"] or district), day)
            tier = next((t for t in (policy.tiers if policy else []) if t.code == m["tier_code"]), None)
            # The tier's categories when the policy is known; otherwise the categories the counter
            # recorded as valid for this meal (the snapshot it was subsidised on).
            needed = set(tier.categories) if tier is not None else {str(c) for c in _jl(m["categories"])}
            held = [c for c in cats.get(int(m["elder"]), []) if c["code"] in needed]
            valid = any(
                c["valid_from"] <= day and (c["valid_until"] is None or c["valid_until"] >= day) for c in held
            )
            if held and not valid:
                found[int(m["elder"])].append(m)
    return [
        Finding(
            "category_expired",
            f"category_expired:{elder}",
            sorted(int(m["id"]) for m in ms),
            f"{len(ms)} subsidised meals after the category evidence for tier {ms[0]['tier_code']} expired",
            site=int(ms[0]["site"]),
            elder=elder,
            operator=ms[0]["operator"],
        )
        for elder, ms in found.items()
    ]


CHECKS = (
    ("two_points", two_points),
    ("over_limit", over_limit),
    ("outside_hours", outside_hours),
    ("identical_counts", identical_counts),
    ("fast_scans", fast_scans),
    ("void_rate", void_rate),
    ("over_capacity", over_capacity),
    ("after_status", after_status),
    ("category_expired", category_expired),
)
