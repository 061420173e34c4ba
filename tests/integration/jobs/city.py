"""A city-sized district on PostgreSQL, written by a handful of INSERT … SELECT generate_series
statements (seconds, not minutes), and the missed-meal alerts the rules give for it.

Elder ``g`` (1…n; ``g`` is kept in the phone column so the statements can classify by it):
- at risk: living alone (``g % 4 != 0``), or with a spouse and a valid ``disabled`` category
  (``g % 8 == 0``); ``g % 8 == 4`` lives with a spouse, and half of those hold an expired one;
- regular: a standing lunch order for every weekday (``g % 10`` in 0…3; 4: a stopped one), or
  dine-in lunch on all of the district's last 20 serving days (5, 6); 7 ate on half of them;
- absent today: ``g % 37 == 0``, everyone else had lunch at the counter. Of the absent standing-
  order regulars, by ``(g // 37) % 4``: 0 a delivered order, 1 a cancelled one, 2 an order not
  delivered (alerted: not_delivered), 3 none (alerted: no_checkin); by ``(g // 37) % 5 == 4``:
  paused (报停) for delivery and the counter today.
"""

# ruff: noqa: S608 - test data statements built from constants and our own ids

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.registry.tables import Elder

DAY = dt.date(2026, 12, 1)  # a Tuesday
AFTER_LUNCH = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)  # 14:00 in Asia/Shanghai


def expected(n: int) -> dict[int, str]:
    """g → the reason of its alert, for every elder the rules alert."""
    out: dict[int, str] = {}
    for g in range(1, n + 1):
        at_risk = g % 4 != 0 or g % 8 == 0
        r = g % 10
        standing, dine_in = r <= 3, r in (5, 6)
        if not (at_risk and (standing or dine_in) and g % 37 == 0):
            continue
        if (g // 37) % 5 == 4:
            continue  # paused
        k = (g // 37) % 4
        if standing and k in (0, 1):
            continue  # delivered, or cancelled by choice
        out[g] = "not_delivered" if standing and k == 2 else "no_checkin"
    return out


# Typed parameters: an INSERT … SELECT list gives asyncpg no column to infer them from.
INT, DATE = "CAST({} AS integer)", "CAST({} AS date)"
G = "CAST(e.phone AS integer)"


async def build(w: Any, n: int) -> dict[int, int]:
    """Write the district (in ``w.district_x``, community ``w.community_x``, site ``w.site_a``);
    return g → elder id."""
    d, c, s = w.district_x, w.community_x, w.site_a
    await Elder.raw(
        "INSERT INTO elder (district, community, name, gender, birth_date, national_id_enc, "
        "national_id_masked, national_id_hash, id_last4, phone, living_situation, status, "
        "created_at, updated_at) "
        f"SELECT {INT}, {INT}, '老人' || g, 'female', DATE '1944-03-01', 'x', '3301**********', "
        "md5(g::text), lpad((g % 10000)::text, 4, '0'), g::text, "
        "CASE WHEN g % 4 = 0 THEN 'with_spouse' ELSE 'alone' END, 'active', now(), now() "
        "FROM generate_series(1, {}) AS g",
        d,
        c,
        n,
    )
    mine = f"FROM elder e WHERE e.community = {int(c)}"
    await Elder.raw(
        "INSERT INTO elder_category (elder, code, valid_from, valid_until, created_at) "
        f"SELECT e.id, 'disabled', DATE '2020-01-01', NULL, now() {mine} AND {G} % 8 = 0 "
        "UNION ALL "
        f"SELECT e.id, 'disabled', DATE '2020-01-01', DATE '2025-12-31', now() {mine} AND {G} % 16 = 4"
    )
    await Elder.raw(
        "INSERT INTO standing_order (elder, site, slot, weekdays, active, created_at, updated_at) "
        f"SELECT e.id, {INT}, 'lunch', '[0, 1, 2, 3, 4, 5, 6]', {G} % 10 <= 3, now(), now() "
        f"{mine} AND {G} % 10 <= 4",
        s,
    )
    # Test data written straight into the table (the services' own writes are tested elsewhere).
    meal = (
        "INSERT INTO meal (district, site, elder, service_date, slot, mode, served_at, list_price_fen, "
        f"copay_fen, payment) SELECT {INT}, {INT}, e.id, "
    )
    paid = "'lunch', 'dine_in', now(), 1500, 1500, 'cash'"
    await Elder.raw(
        meal + f"{DATE} - k, {paid} {mine.replace('WHERE', ', generate_series(1, 20) AS k WHERE')} "
        f"AND ({G} % 10 IN (5, 6) OR ({G} % 10 = 7 AND k % 2 = 0))",
        d,
        s,
        DAY,
    )
    await Elder.raw(meal + f"{DATE}, {paid} {mine} AND {G} % 37 <> 0", d, s, DAY)
    await Elder.raw(
        "INSERT INTO delivery_order (elder, district, site, service_date, slot, meal_set_name, payment, "
        "status, not_delivered_reason, placed_by_kind) "
        f"SELECT e.id, {INT}, {INT}, {DATE}, 'lunch', '套餐A', 'cash', "
        f"CASE ({G} / 37) % 4 WHEN 0 THEN 'delivered' WHEN 1 THEN 'cancelled' ELSE 'not_delivered' END, "
        f"CASE ({G} / 37) % 4 WHEN 2 THEN 'not_home' ELSE '' END, 'staff' "
        f"{mine} AND {G} % 37 = 0 AND {G} % 10 <= 3 AND ({G} / 37) % 4 <= 2",
        d,
        s,
        DAY,
    )
    await Elder.raw(
        "INSERT INTO service_pause (elder, district, delivery, counter, first_day, last_day, reason, "
        f"by_kind, created_at) SELECT e.id, {INT}, true, true, {DATE}, {DATE}, 'hospital', 'staff', now() "
        f"{mine} AND {G} % 37 = 0 AND ({G} / 37) % 5 = 4",
        d,
        DAY,
        DAY,
    )
    # Statistics, as a database that grew day by day has them (a bulk load leaves the planner blind).
    for table in ("elder", "elder_category", "standing_order", "meal", "delivery_order", "service_pause"):
        await Elder.raw(f"ANALYZE {table}")
    rows = await Elder.select(Elder.id, Elder.phone).where(Elder.community == c)
    return {int(r["phone"]): int(r["id"]) for r in rows}
