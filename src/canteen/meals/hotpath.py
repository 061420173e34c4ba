"""The counter's hot path in SQL, PostgreSQL and SQLite side by side (issue #12).

A check-in is ONE read and ONE write:

* :func:`read_counter` — the card, the elder, the categories, the balance, the subsidy usage
  (this slot, this day, this month) and the stored answer of the request's Idempotency-Key,
  in one statement. The site, the menu and the policy come from the per-process caches
  (``regions.lookup``, ``menus.services``, ``subsidies.services``), cleared on change.
* :func:`write_meal` — the meal row, its ledger rows, the balance charge, the subsidy
  counters, the portion of a limited set, the day's and month's rollups and the idempotency
  row. On PostgreSQL that is one data-modifying statement, sent outside any explicit
  transaction when the caller holds none (the statement is its own transaction, so every
  row lock it takes — a limited set's portion, a rollup row — is held for the statement's
  own microseconds, not for a round trip); its refusals are raised inside the statement by
  ``canteen_refuse(code)`` so the whole statement rolls back. An unlimited set's row is
  only read, never locked. On SQLite the same writes run in order inside one IMMEDIATE
  transaction (the file lock serialises writers anyway), through the ledger's and rollups'
  own functions.

Both paths are covered by the same tests (the suite runs once per engine), so the two
engines give the same rows. The refusals, in the order both paths check them:
``sold_out`` (a limited set), the subsidy limit (raised as ``UniqueViolation`` naming
``subsidy_usage_key``, which ``meals.usage.is_subsidy_refusal`` recognises, as the old
unique index's refusal was), ``insufficient_balance``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from piccolo.engine.postgres import PostgresEngine

from canteen.accounts.roles import Principal
from canteen.core.audit import SystemActor
from canteen.core.db import UniqueViolation, engine, is_sqlite, translate_db_error, write_transaction
from canteen.core.errors import DomainError
from canteen.core.tables import IdempotencyRecord
from canteen.meals import rollups
from canteen.meals.tables import Meal, SubsidyUsage
from canteen.meals.usage import SUBSIDY_REFUSAL
from canteen.payments.ledger import charge_elder, post
from canteen.payments.schemas import Movement
from canteen.subsidies.schemas import Usage

try:
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None

Actor = Principal | SystemActor

#: The day-wide counter's slot; a limit of None counts the day without capping it.
DAY = "*"
#: The month's counter: slot "M" on the month's first day, for a policy's monthly meal-count cap
#: (``monthly_cap_meals``); counted for every subsidised meal, capped only when the policy says.
MONTH = "M"
NO_LIMIT = 1000

# ---------------------------------------------------------------------- SQL, both engines

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class _Sql:
    """One statement with ``:name`` parameters, compiled for asyncpg ($n) and Piccolo's raw ({})."""

    pg: str
    pg_names: tuple[str, ...]
    lite: str
    lite_names: tuple[str, ...]


def _sql(pg: str, lite: str | None = None) -> _Sql:
    numbers: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        return f"${numbers.setdefault(m.group(1), len(numbers) + 1)}"

    pg_text = _PARAM.sub(number, pg)
    lite = pg if lite is None else lite
    return _Sql(pg_text, tuple(numbers), _PARAM.sub("{}", lite), tuple(_PARAM.findall(lite)))


async def _pg_fetchrow(sql: _Sql, params: Mapping[str, Any]) -> Any:
    """Run on the caller's transaction's connection, else on a pooled one without BEGIN/COMMIT."""
    db = engine()
    assert isinstance(db, PostgresEngine)
    args = [params[n] for n in sql.pg_names]
    tx = db.current_transaction.get()
    if tx is not None:
        return await tx.connection.fetchrow(sql.pg, *args)
    if db.pool is None:  # a command-line run without the app's pool
        conn = await db.get_new_connection()
        try:
            return await conn.fetchrow(sql.pg, *args)
        finally:
            await conn.close()
    async with db.pool.acquire() as conn:
        return await conn.fetchrow(sql.pg, *args)


async def _lite_rows(sql: _Sql, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Meal.raw(sql.lite, *[params[n] for n in sql.lite_names])
    return rows


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _moment(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------- the one read

_CARD_BY_TOKEN = "c.elder = :card_elder AND c.serial = :card_serial"  # noqa: S105 - SQL, not a secret
_CARD_BY_NUMBER = "c.number = :card_number"

_READ = """
SELECT c.id AS card_id, c.elder AS card_elder, c.serial AS card_serial, c.number AS card_number,
       c.revoked_at AS card_revoked_at, c.revoke_reason AS card_revoke_reason,
       e.id AS id, e.name AS name, e.national_id_masked AS national_id_masked,
       CASE WHEN e.national_id_masked = '' THEN e.national_id_enc END AS national_id_enc,
       e.status AS status, e.district AS district, e.diet AS diet, e.birth_date AS birth_date,
       e.allergens AS allergens, e.texture_level AS texture_level,
       co.street AS street_id,
       (SELECT {agg} FROM elder_category k WHERE k.elder = e.id) AS cats,
       (SELECT b.balance_fen FROM elder_balance b WHERE b.elder = e.id) AS balance_fen,
       (SELECT u.n FROM subsidy_usage u
         WHERE u.elder = e.id AND u.service_date = :day AND u.slot = :slot) AS slot_meals,
       (SELECT u.n FROM subsidy_usage u
         WHERE u.elder = e.id AND u.service_date = :day AND u.slot = '*') AS day_meals,
       (SELECT COALESCE(SUM(m.subsidy_fen), 0) FROM meal m WHERE m.elder = e.id
         AND {sd} >= :month_start AND {sd} <= :day AND m.voided_at IS NULL)
         AS month_subsidy_fen,
       (SELECT COUNT(*) FROM meal m WHERE m.elder = e.id AND m.subsidised
         AND {sd} >= :month_start AND {sd} <= :day AND m.voided_at IS NULL)
         AS month_meals,
       i.fingerprint AS idem_fingerprint, i.status_code AS idem_status, i.response AS idem_response
FROM (SELECT 1 AS one) AS one
LEFT JOIN idempotency_record i ON i.scope = :idem_scope AND i.key = :idem_key
LEFT JOIN card c ON {card}
LEFT JOIN elder e ON e.id = {elder}
LEFT JOIN community co ON co.id = e.community
"""
_PG_AGG = (
    "json_agg(json_build_object('code', k.code, 'valid_from', k.valid_from, "
    "'valid_until', k.valid_until) ORDER BY k.code)"
)
# SQLite's json_group_array keeps the rows' order, so the subquery sorts first.
_LITE_AGG = (
    "json_group_array(json_object('code', k.code, 'valid_from', k.valid_from, 'valid_until', k.valid_until))"
)
_LITE_CATS = (
    "(SELECT json_group_array(json_object('code', k.code, 'valid_from', k.valid_from, "
    "'valid_until', k.valid_until)) FROM (SELECT * FROM elder_category WHERE elder = e.id ORDER BY code) k)"
)


def _read_sql(card: str | None) -> _Sql:
    where = card or "FALSE"
    elder = "c.elder" if card else ":elder_id"
    # "service_date + 0": the month's meals are found through the elder (meal_elder_day), never
    # through the date alone — with today's meals not yet in the planner's statistics (every
    # morning), an index range on service_date looks selective and reads every meal of the day.
    pg = _READ.format(agg=_PG_AGG, card=where, elder=elder, sd="m.service_date + 0")
    lite = _READ.format(
        agg=_LITE_AGG, card=where.replace("FALSE", "0"), elder=elder, sd="+m.service_date"
    ).replace(
        f"(SELECT {_LITE_AGG} FROM elder_category k WHERE k.elder = e.id)",  # noqa: S608 - constants
        _LITE_CATS,
    )
    return _sql(pg, lite)


_READS = {"token": _read_sql(_CARD_BY_TOKEN), "number": _read_sql(_CARD_BY_NUMBER), "elder": _read_sql(None)}


@dataclass(frozen=True, slots=True)
class CounterRead:
    """What one scan needs from the database, read in one statement."""

    card: dict[str, Any] | None  # registry.card_services._HIT_COLUMNS' names, or None
    elder: dict[str, Any] | None  # registry.services._counter_rows' columns, or None
    categories: list[dict[str, Any]]
    balance_fen: int
    slot_meals: int  # live subsidised meals of this slot today
    day_meals: int  # … of the whole day
    month_subsidy_fen: int
    month_meals: int  # live subsidised meals this month
    stored: tuple[str, int, Any] | None  # the key's (fingerprint, status, response), if answered


async def read_counter(
    *,
    day: dt.date,
    slot: str,
    card_elder: int | None = None,
    card_serial: int | None = None,
    card_number: str | None = None,
    elder_id: int | None = None,
    idem_scope: str = "",
    idem_key: str | None = None,
) -> CounterRead:
    """The one read of a check-in (see the module's docstring). Give a token's (elder, serial),
    a card number, or an elder id (the manual look-up)."""
    kind = "token" if card_elder is not None else "number" if card_number is not None else "elder"
    params = {
        "card_elder": card_elder,
        "card_serial": card_serial,
        "card_number": card_number,
        "elder_id": elder_id,
        "day": day,
        "slot": slot,
        "month_start": day.replace(day=1),
        "idem_scope": idem_scope,
        "idem_key": idem_key or "",
    }
    sql = _READS[kind]
    if is_sqlite():
        rows = await _lite_rows(sql, params)
        row: dict[str, Any] = rows[0]
    else:
        got = await _pg_fetchrow(sql, params)
        row = dict(got)
    stored = None
    if row["idem_fingerprint"] is not None:
        response = row["idem_response"]
        stored = (
            str(row["idem_fingerprint"]),
            int(row["idem_status"]),
            json.loads(response) if isinstance(response, str | bytes) else response,
        )
    card = None
    if row["card_id"] is not None:
        card = {
            "id": row["card_id"],
            "elder": row["card_elder"],
            "serial": row["card_serial"],
            "number": row["card_number"],
            "revoked_at": _moment(row["card_revoked_at"]),
            "revoke_reason": row["card_revoke_reason"],
            "district": row["district"],
            "elder_status": row["status"],
        }
    elder = None
    if row["id"] is not None:
        diet = row["diet"]
        allergens = row["allergens"]
        elder = {
            "id": row["id"],
            "name": row["name"],
            "national_id_masked": row["national_id_masked"],
            "national_id_enc": row["national_id_enc"],
            "status": row["status"],
            "district": row["district"],
            "diet": json.loads(diet) if isinstance(diet, str | bytes) else diet,
            # The counter refuses a set holding one of these (canteen.menus.rules); the set's own
            # allergens come with the menu from menus.services' cache, so the read stays one.
            "allergens": (json.loads(allergens) if isinstance(allergens, str | bytes) else allergens) or [],
            "texture_level": row["texture_level"],
            "birth_date": _date(row["birth_date"]),
            "street_id": row["street_id"],
        }
    cats_raw = row["cats"]
    cats = json.loads(cats_raw) if isinstance(cats_raw, str | bytes) else (cats_raw or [])
    categories = [
        {
            "elder": row["id"],
            "code": c["code"],
            "valid_from": _date(c["valid_from"]),
            "valid_until": _date(c["valid_until"]),
        }
        for c in cats or []
    ]
    return CounterRead(
        card=card,
        elder=elder,
        categories=categories,
        balance_fen=int(row["balance_fen"] or 0),
        slot_meals=int(row["slot_meals"] or 0),
        day_meals=int(row["day_meals"] or 0),
        month_subsidy_fen=int(row["month_subsidy_fen"] or 0),
        month_meals=int(row["month_meals"] or 0),
        stored=stored,
    )


# ---------------------------------------------------------------------- the one write


@dataclass(frozen=True, slots=True)
class Limits:
    """The policy's limits the counters enforce for a subsidised meal."""

    per_slot: int = 1
    per_day: int | None = None
    per_month: int | None = None  # subsidised meals a calendar month (monthly_cap_meals)


@dataclass(frozen=True, slots=True)
class IdemRow:
    """The idempotency record written with the meal; ``response`` gets ``meal_id`` and
    ``balance_after_fen`` filled in by the write."""

    scope: str
    key: str
    fingerprint: str
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MealWrite:
    row: dict[str, Any]  # every Meal column but id (meals.services.record_meal builds it)
    kind: str  # the ledger txn's kind: meal | delivery
    movements: list[Movement]  # besides the elder's charge
    charge_fen: int  # taken from the elder's balance (0: none)
    limits: Limits | None  # set when the meal is subsidised: its counters to increment
    actor: Actor
    ref: tuple[str, int] | None = None  # what the ledger rows point at; the meal itself by default
    idem: IdemRow | None = None
    balance_before_fen: int = 0  # the read's balance, answered when nothing was charged


@dataclass(frozen=True, slots=True)
class Written:
    meal_id: int
    balance_after_fen: int | None  # set when the balance was charged


def _ledger_rows(w: MealWrite) -> list[dict[str, Any]]:
    elder = w.row["elder"]
    moves = list(w.movements)
    if w.charge_fen:
        moves.insert(0, Movement(f"elder:{elder}", f"revenue:site:{w.row['site']}", w.charge_fen))
    ref_type, ref_id = w.ref or ("meal", None)
    return [
        {
            "txn": w.row["ledger_txn"],
            "seq": i,
            "kind": w.kind[:20],
            "debit": m.debit,
            "credit": m.credit,
            "amount_fen": m.amount_fen,
            "ref_type": ref_type[:20],
            "ref_id": ref_id,
            "site": w.row["site"],
            "elder": elder,
            "at": w.row["served_at"].isoformat(),
            "actor_id": w.actor.user_id,
            "reverses_txn": None,
            "note": "",
        }
        for i, m in enumerate(moves)
    ]


#: The columns a meal is written with (meals.services.record_meal builds exactly these).
MEAL_COLUMNS = (
    "district", "site", "elder", "service_date", "slot", "mode", "served_at", "meal_set", "items",
    "list_price_fen", "subsidy_fen", "copay_fen", "funding", "delivery_fee_fen", "delivery_subsidy_fen",
    "payment", "subsidised", "policy_version", "tier_code", "reason_zh", "reason_en", "categories",
    "operator", "cashier_id", "device", "manual_reason", "idempotency_key", "ledger_txn",
    "policy_district", "delivery_funding",
)  # fmt: skip
_MEAL_COLS = MEAL_COLUMNS
_LEDGER_COLS = (
    "txn, seq, kind, debit, credit, amount_fen, ref_type, ref_id, site, elder, at, actor_id, "
    "reverses_txn, note"
)
_LEDGER_SELECT = _LEDGER_COLS.replace("ref_id,", "COALESCE(l.ref_id, m.id),")

# Column lists are our constants; every value is a bound parameter.
_PG_WRITE = _sql(
    f"""
WITH ms AS (SELECT portions_available FROM meal_set WHERE id = :meal_set),
por AS (
  UPDATE meal_set SET portions_sold = portions_sold + 1
  WHERE id = :meal_set AND portions_available IS NOT NULL AND portions_sold < portions_available
  RETURNING id),
sub AS (
  INSERT INTO subsidy_usage AS u (elder, service_date, slot, n)
  SELECT CAST(:elder AS integer), x.d, x.s, 1
  FROM unnest(CAST(:usage_slots AS text[]), CAST(:usage_days AS date[])) AS x(s, d)
  ON CONFLICT (elder, service_date, slot) DO UPDATE SET n = u.n + 1
  WHERE u.n < CASE u.slot WHEN '*' THEN CAST(:day_limit AS integer)
                          WHEN 'M' THEN CAST(:month_limit AS integer)
                          ELSE CAST(:slot_limit AS integer) END
  RETURNING 1),
bal AS (
  UPDATE elder_balance
  SET balance_fen = balance_fen - CAST(:charge AS integer), updated_at = CAST(:now AS timestamptz)
  WHERE elder = :elder AND CAST(:charge AS integer) > 0 AND balance_fen >= CAST(:charge AS integer)
  RETURNING balance_fen),
m AS (
  INSERT INTO meal ({", ".join(_MEAL_COLS)})
  SELECT {", ".join(_MEAL_COLS)} FROM json_populate_record(NULL::meal, CAST(:meal AS json))
  RETURNING id),
led AS (
  INSERT INTO ledger_entry ({_LEDGER_COLS})
  SELECT {_LEDGER_SELECT} FROM json_populate_recordset(NULL::ledger_entry, CAST(:ledger AS json)) AS l, m
  RETURNING 1),
dr AS ({rollups.json_upsert_sql("daily", ":daily")} RETURNING 1),
mr AS ({rollups.json_upsert_sql("monthly", ":monthly")} RETURNING 1),
dirty AS (
  INSERT INTO rollup_dirty (district, service_date, marked_at)
  VALUES (CAST(:district AS integer), CAST(:day AS date), CAST(:now AS timestamptz))
  ON CONFLICT (district, service_date) DO NOTHING
  RETURNING 1),
idem AS (
  INSERT INTO idempotency_record (scope, key, fingerprint, status_code, response, created_at)
  SELECT CAST(:idem_scope AS text), CAST(:idem_key AS text), CAST(:idem_fp AS text), 201,
         CAST(CAST(:idem_response AS jsonb) || jsonb_build_object('meal_id', m.id, 'balance_after_fen',
              COALESCE((SELECT balance_fen FROM bal), CAST(:balance_before AS integer))) AS json),
         CAST(:now AS timestamptz)
  FROM m WHERE CAST(:idem_key AS text) <> ''
  RETURNING 1),
chk AS (SELECT CASE
  WHEN (SELECT portions_available FROM ms) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM por)
    THEN canteen_refuse('sold_out')
  WHEN (SELECT COUNT(*) FROM sub) < cardinality(CAST(:usage_slots AS text[]))
    THEN canteen_refuse('subsidy_limit')
  WHEN CAST(:charge AS integer) > 0 AND NOT EXISTS (SELECT 1 FROM bal)
    THEN canteen_refuse('insufficient_balance')
  ELSE 0 END AS ok)
SELECT m.id AS meal_id, (SELECT balance_fen FROM bal) AS balance_after, chk.ok FROM m, chk
"""  # noqa: S608
)

_REFUSED = re.compile(r"canteen_refuse:(\w+)")


def counters_of(meal: Mapping[str, Any]) -> list[tuple[str, dt.date]]:
    """The subsidy counters one subsidised meal counts in: (slot, day), the day's and the month's."""
    day = _date(meal["service_date"])
    assert day is not None
    return [(meal["slot"], day), (DAY, day), (MONTH, day.replace(day=1))]


def _limit(limits: Limits, slot: str) -> int:
    if slot == DAY:
        return limits.per_day or NO_LIMIT
    if slot == MONTH:
        return limits.per_month or NO_LIMIT
    return limits.per_slot


def _usage_slots(w: MealWrite) -> list[tuple[str, dt.date]]:
    if w.limits is None or w.row["elder"] is None:
        return []
    return counters_of(w.row)


def _refusal(code: str, w: MealWrite) -> Exception:
    if code == "sold_out":
        return DomainError("sold_out", {"meal_set_id": w.row["meal_set"]})
    if code == "subsidy_limit":
        return UniqueViolation(SUBSIDY_REFUSAL)
    return DomainError(
        "insufficient_balance",
        {"elder_id": w.row["elder"], "balance_fen": w.balance_before_fen, "needed_fen": w.charge_fen},
    )


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()}


async def _write_pg(w: MealWrite) -> Written:
    meal = w.row
    assert tuple(meal) == MEAL_COLUMNS, "record_meal builds the meal row with MEAL_COLUMNS"
    limits = w.limits or Limits()
    daily, monthly = rollups.json_rows(meal, +1)
    params = {
        "meal_set": meal["meal_set"] or 0,
        "elder": meal["elder"] or 0,
        "day": meal["service_date"],
        "district": meal["district"],
        "usage_slots": [slot for slot, _ in _usage_slots(w)],
        "usage_days": [day for _, day in _usage_slots(w)],
        "slot_limit": limits.per_slot,
        "day_limit": limits.per_day or NO_LIMIT,
        "month_limit": limits.per_month or NO_LIMIT,
        "charge": w.charge_fen,
        "now": meal["served_at"],
        "meal": msgspec.json.encode(_jsonable(meal)).decode(),
        "ledger": msgspec.json.encode(_ledger_rows(w)).decode(),
        "daily": daily,
        "monthly": monthly,
        "idem_scope": w.idem.scope if w.idem else "",
        "idem_key": w.idem.key if w.idem else "",
        "idem_fp": w.idem.fingerprint if w.idem else "",
        "idem_response": msgspec.json.encode(w.idem.response if w.idem else {}).decode(),
        "balance_before": w.balance_before_fen,
    }
    try:
        row = await _pg_fetchrow(_PG_WRITE, params)
    except Exception as exc:
        if asyncpg is not None and isinstance(exc, asyncpg.exceptions.RaiseError):
            m = _REFUSED.search(str(exc))
            if m:
                raise _refusal(m.group(1), w) from None
        translated = translate_db_error(exc)
        if translated is None:
            raise
        raise translated from exc
    after = row["balance_after"]
    return Written(int(row["meal_id"]), int(after) if after is not None else None)


async def _write_lite(w: MealWrite) -> Written:
    meal = w.row
    async with write_transaction():
        if meal["meal_set"]:
            await _take_portion_lite(w)
        limits = w.limits or Limits()
        for slot, day in _usage_slots(w):
            got = await SubsidyUsage.raw(
                "INSERT INTO subsidy_usage (elder, service_date, slot, n) VALUES ({}, {}, {}, 1) "
                "ON CONFLICT (elder, service_date, slot) DO UPDATE SET n = n + 1 WHERE n < {} RETURNING n",
                meal["elder"],
                day,
                slot,
                _limit(limits, slot),
            )
            if not got:
                raise _refusal("subsidy_limit", w)
        rows = await Meal.insert(Meal(**meal)).returning(Meal.id)
        meal_id = int(rows[0]["id"])
        await rollups.apply_meal({**meal, "id": meal_id, "voided_at": None}, +1)
        ref_type, ref_id = w.ref or ("meal", meal_id)
        after: int | None = None
        if w.charge_fen:
            try:
                _, after = await charge_elder(
                    meal["elder"],
                    w.charge_fen,
                    f"revenue:site:{meal['site']}",
                    kind=w.kind,
                    ref_type=ref_type,
                    ref_id=ref_id,
                    site_id=meal["site"],
                    actor=w.actor,
                    now=meal["served_at"],
                    extra=w.movements,
                    txn=meal["ledger_txn"],
                )
            except DomainError as err:
                if err.code == "insufficient_balance":
                    raise _refusal("insufficient_balance", w) from None
                raise
        elif w.movements:
            await post(
                w.kind,
                w.movements,
                ref_type=ref_type,
                ref_id=ref_id,
                site_id=meal["site"],
                elder_id=meal["elder"],
                actor=w.actor,
                now=meal["served_at"],
                txn=meal["ledger_txn"],
            )
        if w.idem is not None:
            response = {
                **w.idem.response,
                "meal_id": meal_id,
                "balance_after_fen": after if after is not None else w.balance_before_fen,
            }
            await IdempotencyRecord.insert(
                IdempotencyRecord(
                    scope=w.idem.scope,
                    key=w.idem.key,
                    fingerprint=w.idem.fingerprint,
                    status_code=201,
                    response=response,
                    created_at=meal["served_at"],
                )
            )
    return Written(meal_id, after)


async def _take_portion_lite(w: MealWrite) -> None:
    taken = await SubsidyUsage.raw(
        "UPDATE meal_set SET portions_sold = portions_sold + 1 WHERE id = {} "
        "AND portions_available IS NOT NULL AND portions_sold < portions_available RETURNING id",
        w.row["meal_set"],
    )
    if taken:
        return
    limited = await SubsidyUsage.raw(
        "SELECT 1 AS one FROM meal_set WHERE id = {} AND portions_available IS NOT NULL", w.row["meal_set"]
    )
    if limited:
        raise _refusal("sold_out", w)


async def write_meal(w: MealWrite) -> Written:
    """The one write of a meal (see the module's docstring). Joins the caller's write
    transaction when there is one (a delivery order), else is its own."""
    if is_sqlite():
        return await _write_lite(w)
    return await _write_pg(w)


# ---------------------------------------------------------------------- a void, and bulk loads


async def give_back(meal: Mapping[str, Any]) -> None:
    """A voided meal's portion (limited sets only) and subsidy counters, given back inside the
    void's transaction."""
    if meal.get("meal_set"):
        await SubsidyUsage.raw(
            "UPDATE meal_set SET portions_sold = portions_sold - 1 "
            "WHERE id = {} AND portions_available IS NOT NULL AND portions_sold > 0",
            meal["meal_set"],
        )
    if meal.get("subsidised") and meal.get("elder"):
        (slot, day), _, (_, first) = counters_of(meal)
        await SubsidyUsage.raw(
            "UPDATE subsidy_usage SET n = n - 1 WHERE elder = {} AND n > 0 "
            "AND ((service_date = {} AND (slot = {} OR slot = '*')) OR (service_date = {} AND slot = 'M'))",
            meal["elder"],
            day,
            slot,
            first,
        )


async def count_usage(meals: Sequence[Mapping[str, Any]]) -> None:
    """Add already written subsidised meals (a bulk history load) to the counters."""
    acc: dict[tuple[int, dt.date, str], int] = {}
    for m in meals:
        if m.get("subsidised") and m.get("elder") and m.get("voided_at") is None:
            for slot, day in counters_of(m):
                k = (int(m["elder"]), day, slot)
                acc[k] = acc.get(k, 0) + 1
    for (elder, day, slot), n in acc.items():
        await SubsidyUsage.raw(
            "INSERT INTO subsidy_usage (elder, service_date, slot, n) VALUES ({}, {}, {}, {}) "
            "ON CONFLICT (elder, service_date, slot) DO UPDATE SET n = subsidy_usage.n + excluded.n",
            elder,
            day,
            slot,
            n,
        )


def usage_of(read: CounterRead) -> Usage:
    """The rules' Usage from the one read: every field the struct has (issue #11 adds fields;
    the ones this version of the struct lacks are left out)."""
    values = {
        "slot_meals_today": read.slot_meals,
        "day_meals_today": read.day_meals,
        "month_subsidy_fen": read.month_subsidy_fen,
        "month_meals": read.month_meals,
    }
    return Usage(**{k: v for k, v in values.items() if k in _USAGE_FIELDS})


_USAGE_FIELDS = frozenset(Usage.__struct_fields__)

_STORED = _sql(
    "SELECT fingerprint, status_code, response FROM idempotency_record WHERE scope = :scope AND key = :key"
)


async def stored_answer(scope: str, key: str) -> tuple[str, int, Any] | None:
    """The stored (fingerprint, status, response) of an Idempotency-Key, or None."""
    params = {"scope": scope, "key": key}
    if is_sqlite():
        rows = await _lite_rows(_STORED, params)
        row = rows[0] if rows else None
    else:
        got = await _pg_fetchrow(_STORED, params)
        row = dict(got) if got is not None else None
    if row is None:
        return None
    response = row["response"]
    return (
        str(row["fingerprint"]),
        int(row["status_code"]),
        json.loads(response) if isinstance(response, str | bytes) else response,
    )
