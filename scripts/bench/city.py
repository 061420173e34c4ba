# ruff: noqa: E501, S608 - long literal rows and SQL from our own constants; every value is bound or ours
"""City scale (issue #15): a Shanghai-sized city — ~200,000 meals a day over ~1,500 points —
in PostgreSQL + Redis, and what the nightly jobs, the dashboards and a lunch peak cost there.

Run: ``.venv/bin/python scripts/bench/city.py`` (full size), ``--scale 0.05`` to run small,
``--skip-build`` to reuse the database of the last build; ``--help`` for the rest.
Needs PostgreSQL and Redis on loopback (../shared/NOTES.md), ``wrk`` and ``gcc`` (for
``openloop.c``), like ``checkin.py``, whose process, load-generator and /proc helpers it imports.

1. Build (unless ``--skip-build``): drops and creates ``bench_city``, runs ``canteen migrate``,
   then writes with COPY (asyncpg ``copy_records_to_table``), never row by row: 上海市 with its
   16 districts, streets and communities; 1,500 sites (meal points and one central kitchen in
   25); operators; 400,000 elders (names, encrypted IDs, the registry's category mix: 特困, 低保,
   低收入, 失能, 半失能, 重残, 独居, 空巢 …, 高龄 from the birth date) with a card each and a
   500-yuan cash top-up on the ledger for the prepaid; standing delivery orders for some who may
   have them; the lunch menu of every point for every day of the month (+ today, tomorrow); and
   the previous calendar month plus this month up to yesterday at ~200,000 lunches a day: each
   meal priced by the real pure quote (``meals.pricing.assemble_quote``) under the district's
   published policy on the city's base (both published through ``subsidies.services``), its row,
   its ledger rows, its balance charge and its subsidy counters as ``meals.hotpath`` writes them,
   and the daily rollups from ``meals.rollups.rows_for_meal`` (the monthly ones rebuilt by
   ``rollups.rebuild_month``). Big tables are loaded with their secondary indexes dropped and
   rebuilt after (the same definitions, read from ``pg_indexes``).
2. Measures, each with its target beside it (printed, never asserted):
   - the nightly jobs for the city (rollups of yesterday and missed-meal alerts per district,
     claim checks of last month per district, tomorrow's standing orders, cut-offs), submitted
     through the queue (``queue.submit``) to two real ``canteen worker`` processes: wall time,
     each kind's time, peak RSS of each worker (VmHWM from /proc);
   - the district and city dashboards (pages, signed in with a bearer token of the district's or
     the city's official): p50/p99 with ``wrk``, closed loop, after a warm-up;
   - a lunch peak: check-ins offered at 100/s over 100 points for 60 s, open loop
     (``openloop.c``: latency from the scheduled send time), while a route-planning job and a
     claim-check job run on the workers: p50/p99, non-2xx and 5xx;
   - the floor of this run (``baseline_app.py``, as in ``checkin.py``) so a reader sees the box;
   - how busy the box was during each phase (other people's tests share these CPUs).
Kinds of work that are not registered in this tree (``queue.spec(kind)`` is None) print
"not available". Everything binds to 127.0.0.1; the servers this script starts are stopped on
the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import checkin as cb  # the process, /proc and load-generator helpers of the counter's bench

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "bench_city"
FLOOR_DB = "bench_city_floor"
DB_URL = f"{PG}/{DB_NAME}"
FLOOR_URL = f"{PG}/{FLOOR_DB}"
REDIS_URL = "redis://127.0.0.1:6379/14"
WORK = Path("/tmp/canteen-bench-city")  # noqa: S108 - request files and logs of a loopback bench
STATE = WORK / "state.json"

# checkin.py points the environment at its own database when imported: point it at ours before
# any canteen module is imported (the engine is chosen at the first import of piccolo_conf).
os.environ["CANTEEN_DATABASE_URL"] = DB_URL
os.environ["CANTEEN_REDIS_URL"] = REDIS_URL
os.environ["CANTEEN_LOG_LEVEL"] = "WARNING"
cb.WORK = WORK  # its serving() and run_client() write their logs and outputs there

FULL_POINTS = 1500
FULL_ELDERS = 400_000
FULL_MEALS_PER_DAY = 200_000
KITCHEN_EVERY = 25  # one site in 25 is a central kitchen
PEAK_POINTS = 100
PEAK_RATE = 100
PEAK_SECONDS = 60
COURIERS = 15
TOPUP_FEN = 50_000
SETS = (("套餐A", 1500), ("套餐B", 1200), ("套餐C", 1000))
SET_WEIGHTS = (0.5, 0.3, 0.2)
LUNCH = {"slot": "lunch", "start": "11:00", "end": "13:00", "cutoff": "09:30"}
ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]
WEEKDAY = (1.0, 1.0, 1.03, 1.0, 0.96, 0.72, 0.62)  # Monday … Sunday, as the demo's history
HABITS = ((0.45, 0.9), (0.30, 0.42), (0.15, 0.1), (0.10, 0.0))  # (share of elders, lunch chance)
TARGETS = {
    "nightly": "< 10 min",
    "rss": "< 1 GB per process",
    "dash": "p99 < 300 ms",
    "peak": "p99 < 50 ms with jobs running, zero 5xx",
}
# (name, GB/T 2260 code, lat, lon, weight: how much of the city's points and elders it holds)
DISTRICTS = (
    ("黄浦区", "310101", 31.2317, 121.4846, 0.8),
    ("徐汇区", "310104", 31.1885, 121.4365, 1.1),
    ("长宁区", "310105", 31.2204, 121.4242, 0.8),
    ("静安区", "310106", 31.2500, 121.4560, 1.0),
    ("普陀区", "310107", 31.2495, 121.3970, 1.0),
    ("虹口区", "310109", 31.2646, 121.5052, 0.8),
    ("杨浦区", "310110", 31.2596, 121.5260, 1.1),
    ("闵行区", "310112", 31.1128, 121.3817, 1.6),
    ("宝山区", "310113", 31.4054, 121.4891, 1.4),
    ("嘉定区", "310114", 31.3747, 121.2654, 1.0),
    ("浦东新区", "310115", 31.2215, 121.5447, 3.0),
    ("金山区", "310116", 30.7416, 121.3420, 0.6),
    ("松江区", "310117", 31.0322, 121.2277, 1.0),
    ("青浦区", "310118", 31.1509, 121.1243, 0.7),
    ("奉贤区", "310120", 30.9180, 121.4740, 0.7),
    ("崇明区", "310151", 31.6230, 121.3970, 0.5),
)
STREET_ROOTS = (
    "曹杨新村", "长风新村", "真如镇", "万里", "石泉路", "宜川路", "甘泉路", "长征镇", "桃浦镇", "江宁路",
    "曹家渡", "静安寺", "南京西路", "石门二路", "天目西路", "北站", "宝山路", "共和新路", "大宁路",
    "彭浦新村", "临汾路", "芷江西路", "凌云路", "田林", "虹梅路", "康健新村", "华泾镇", "龙华",
)  # fmt: skip
ROADS = ("兰溪路", "枣阳路", "梅岭北路", "武宁路", "铜川路", "中山北路", "延长路", "平型关路", "广中路",
         "控江路", "黄兴路", "宁国路", "长阳路", "周家嘴路", "浦东南路", "东方路", "张杨路", "龙吴路")  # fmt: skip
OPERATOR_NAMES = ("乐龄", "康乐", "夕阳红", "福寿", "颐养", "悦享", "安康", "长青")


def say(msg: str = "") -> None:
    print(msg, flush=True)


def ms(x: float) -> str:
    return cb.fmt_ms(x)


# --- build ------------------------------------------------------------------------------------


@dataclass
class Scale:
    points: int
    elders: int
    meals_per_day: int

    @classmethod
    def of(cls, s: float) -> Scale:
        return cls(
            max(32, round(FULL_POINTS * s)), max(2000, round(FULL_ELDERS * s)), round(FULL_MEALS_PER_DAY * s)
        )


def history_days(today: dt.date) -> list[dt.date]:
    """The previous calendar month and this month up to yesterday."""
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((today - first).days)]


async def recreate() -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        for name in (DB_NAME, FLOOR_DB):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class Copier:
    """COPY rows of a Piccolo table given as dicts (or tuples in :meth:`columns` order); the
    columns a row leaves out get the Piccolo column's default."""

    def __init__(self, table: Any, *, with_id: bool = True) -> None:
        from piccolo.columns.column_types import JSON

        self.table = table._meta.tablename
        cols = [c for c in table._meta.columns if with_id or not c._meta.primary_key]
        self.names = [c._meta.db_column_name for c in cols]
        self.json = {c._meta.db_column_name for c in cols if isinstance(c, JSON)}
        self.defaults = {}
        for c in cols:
            d = None if c._meta.primary_key else c.get_default_value()
            if hasattr(d, "value"):  # an Enum default
                d = d.value
            if c._meta.db_column_name in self.json and d is not None and not isinstance(d, str):
                d = json.dumps(d)
            self.defaults[c._meta.db_column_name] = d

    def records(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        spec = [(n, self.defaults.get(n), n in self.json) for n in self.names]
        out = []
        for r in rows:
            rec = []
            for name, default, is_json in spec:
                v = r.get(name, default)
                if is_json and v is not None and not isinstance(v, str):
                    v = json.dumps(v, ensure_ascii=False)
                rec.append(v)
            out.append(tuple(rec))
        return out

    async def copy(self, conn: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            await conn.copy_records_to_table(self.table, columns=self.names, records=self.records(rows))


async def set_sequence(conn: Any, table: str) -> None:
    await conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST(1, (SELECT max(id) FROM {table})))"
    )


@contextmanager
def timed(label: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    say(f"  {label}: {time.monotonic() - t0:.1f} s")


class IndexesOff:
    """Drop a table's secondary indexes (not those behind a constraint) for a bulk load and
    build them again after, from their own definitions."""

    def __init__(self, conn: Any, tables: list[str]) -> None:
        self.conn, self.tables, self.defs = conn, tables, []

    async def __aenter__(self) -> IndexesOff:
        rows = await self.conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = (quote_ident(i.indexname))::regclass)",
            self.tables,
        )
        self.defs = [(r["indexname"], r["indexdef"]) for r in rows]
        for name, _ in self.defs:
            await self.conn.execute(f'DROP INDEX "{name}"')
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in self.defs:
            await self.conn.execute(definition)


async def build(scale: Scale, today: dt.date, now: dt.datetime, seed: int) -> dict[str, Any]:
    import asyncpg

    from canteen.accounts.roles import Grant, Principal
    from canteen.core.db import close_pool, open_pool
    from canteen.subsidies import services as policies
    from canteen.subsidies.demo import demo_policy, publish_city_base

    t_build = time.monotonic()
    with timed("drop and create bench_city, bench_city_floor"):
        await recreate()
    with timed("canteen migrate"):
        subprocess.run(  # noqa: ASYNC221 - nothing else runs while the schema is made
            [sys.executable, "-m", "canteen.cli", "migrate"],
            env={**os.environ},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    await cb.prepare_floor(cb.FLOOR_ACCOUNTS, FLOOR_URL)
    await open_pool(1, 4)
    conn = await asyncpg.connect(DB_URL)
    rng = random.Random(seed)
    try:
        with timed("city, districts, streets, communities, operators, sites (COPY)"):
            geo = await load_regions(conn, scale, now, rng)
        admin = Principal(user_id=0, username="bench", display_name="bench", grants=(Grant("admin"),))
        with timed("policies: the city's base and 16 districts' (subsidies.services, published)"):
            await publish_city_base(geo["city_id"], now=now, effective_from=dt.date(2025, 1, 1))
            for d in geo["districts"]:
                name = next(x[0] for x in DISTRICTS if x[1] == d["code"])
                doc = demo_policy(district_id=d["id"], effective_from=dt.date(2025, 1, 1))
                doc.name = f"{name}老年助餐补贴政策（基准）"
                draft = await policies.create_policy(admin, d["id"], doc, now=now)
                await policies.publish_policy(admin, draft.id, now=now)
        with timed(f"{scale.elders:,} elders, categories, cards, top-ups, balances (COPY)"):
            people = await load_elders(conn, scale, geo, today, now, seed)
        days = history_days(today)
        with timed(f"{len(days)} days of lunches at ~{scale.meals_per_day:,} a day, ledger, rollups (COPY)"):
            meals = await load_meals(conn, scale, geo, people, days, today, now, seed)
        with timed("standing delivery orders (COPY)"):
            standing = await load_standing_orders(conn, geo, people, today, now, rng)
        with timed("ANALYZE"):
            await conn.execute("ANALYZE")
        with timed("users and tokens (accounts.services)"):
            tokens = await load_users(conn, geo, now)
    finally:
        await conn.close()
        await close_pool()
    state = {
        "scale": scale.__dict__,
        "today": today.isoformat(),
        "built_at": now.isoformat(),
        "city_id": geo["city_id"],
        "districts": [d["id"] for d in geo["districts"]],
        "peak_sites": geo["peak_sites"],
        "kitchens": geo["kitchens"],
        "tokens": tokens,
        "peak_cards": people["peak_cards"],
        "meals": meals,
        "standing_orders": standing,
        "build_s": round(time.monotonic() - t_build),
    }
    STATE.write_text(json.dumps(state))
    return state


async def load_regions(conn: Any, scale: Scale, now: dt.datetime, rng: random.Random) -> dict[str, Any]:
    from canteen.regions.tables import Community, District, Operator, Site, Street

    city_id = await conn.fetchval("INSERT INTO city (name, code) VALUES ('上海市', '310100') RETURNING id")
    total_w = sum(d[4] for d in DISTRICTS)
    districts, streets, communities, operators, sites = [], [], [], [], []
    kitchens: list[int] = []
    left = scale.points
    site_id = community_id = street_id = operator_id = 0
    for n, (name, code, lat, lon, w) in enumerate(DISTRICTS):
        d_id = n + 1
        points = left if n == len(DISTRICTS) - 1 else round(scale.points * w / total_w)
        left -= points
        districts.append(
            {"id": d_id, "name": name, "code": code, "city": "上海市", "city_id": city_id, "lat": lat,
             "lon": lon, "service_radius_m": 1000, "meal_types": "[]", "points": points, "weight": w}
        )  # fmt: skip
        n_streets = max(2, min(len(STREET_ROOTS), points // 7))
        my_comms: list[dict[str, Any]] = []
        for s in range(n_streets):
            street_id += 1
            streets.append(
                {
                    "id": street_id,
                    "district": d_id,
                    "name": STREET_ROOTS[(s + n * 3) % len(STREET_ROOTS)] + "街道",
                }
            )
            for c in range(max(2, points * 2 // n_streets)):
                community_id += 1
                road = ROADS[(c + s) % len(ROADS)]
                row = {
                    "id": community_id, "street": street_id, "district": d_id, "name": f"{road}第{c + 1}居委会",
                    "lat": round(lat + rng.gauss(0, 0.03), 6), "lon": round(lon + rng.gauss(0, 0.035), 6),
                }  # fmt: skip
                communities.append(row)
                my_comms.append(row)
        ops = []
        for k in range(max(1, min(len(OPERATOR_NAMES), points // 10))):
            operator_id += 1
            operators.append(
                {"id": operator_id, "district": d_id, "name": f"{name}{OPERATOR_NAMES[k]}餐饮服务有限公司",
                 "kind": "enterprise", "contact_name": "", "contact_phone": f"021-{rng.randint(50000000, 69999999)}"}
            )  # fmt: skip
            ops.append(operator_id)
        for p in range(points):
            site_id += 1
            comm = my_comms[p * len(my_comms) // points]
            kitchen = p % KITCHEN_EVERY == 0
            if kitchen:
                kitchens.append(site_id)
                block_kitchen = site_id
            sites.append(
                {
                    "id": site_id, "district": d_id, "street": comm["street"], "community": comm["id"],
                    "operator": ops[p % len(ops)], "kitchen": None if kitchen else block_kitchen,
                    "name": f"{name}中央厨房{p // KITCHEN_EVERY + 1}号" if kitchen else f"{comm['name']}长者食堂",
                    "kind": "central_kitchen" if kitchen else "meal_point",
                    "point_type": None if kitchen else "canteen",
                    "address": f"{name}{ROADS[p % len(ROADS)]}{rng.randint(1, 999)}号",
                    "lat": comm["lat"], "lon": comm["lon"], "seats": 80, "meals_per_slot": 300, "status": "open",
                    "slots": json.dumps([LUNCH]), "void_window_minutes": 15, "phone": "", "note": "",
                    "residential_utilities": False, "created_at": now, "updated_at": now,
                }
            )  # fmt: skip
    await Copier(District).copy(
        conn, [{k: v for k, v in d.items() if k not in ("points", "weight")} for d in districts]
    )
    await Copier(Street).copy(conn, streets)
    await Copier(Community).copy(conn, communities)
    await Copier(Operator).copy(conn, operators)
    await Copier(Site).copy(conn, sites)
    for t in ("district", "street", "community", "operator", "site"):
        await set_sequence(conn, t)
    meal_points = [s for s in sites if s["kind"] == "meal_point"]
    # The lunch peak's points: spread over the districts, serving all day (the bench runs at any hour).
    peak = [s["id"] for s in meal_points[:: max(1, len(meal_points) // PEAK_POINTS)]][:PEAK_POINTS]
    await conn.execute("UPDATE site SET slots = $1 WHERE id = ANY($2::int[])", json.dumps(ALL_DAY), peak)
    return {
        "city_id": city_id,
        "districts": districts,
        "sites": sites,
        "meal_points": meal_points,
        "communities": communities,
        "kitchens": kitchens,
        "peak_sites": peak,
    }


def _stable_band(birth: dt.date, first: dt.date, last: dt.date) -> dt.date:
    """The birth date moved to just after the window when an 80th or 90th birthday falls in it,
    so an elder's age tier holds for every meal of the window (one quote per kind of elder)."""

    def age(on: dt.date) -> int:
        return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))

    band = lambda a: 2 if a >= 90 else 1 if a >= 80 else 0  # noqa: E731
    if band(age(first)) == band(age(last)):
        return birth
    after = last + dt.timedelta(days=10)
    try:
        return birth.replace(month=after.month, day=after.day)
    except ValueError:
        return birth.replace(month=after.month, day=28)


async def load_elders(
    conn: Any, scale: Scale, geo: dict[str, Any], today: dt.date, now: dt.datetime, seed: int
) -> dict[str, Any]:
    from canteen.demo.people import DemoCommunity, make_people
    from canteen.payments.tables import ElderBalance, LedgerEntry
    from canteen.registry import services as reg
    from canteen.registry.cards import CardKeys, issue_token, new_card_number
    from canteen.registry.tables import Card, Elder, ElderCategory
    from canteen.settings import get_settings

    days = history_days(today)
    first, last = days[0], today + dt.timedelta(days=2)
    total_w = sum(d["weight"] for d in geo["districts"])
    sites_by_comm: dict[int, list[dict[str, Any]]] = defaultdict(list)
    points_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in geo["meal_points"]:
        sites_by_comm[s["community"]].append(s)
        points_of[s["district"]].append(s)
    rng = random.Random(seed + 1)
    elders, cats, cards, balances, topups = [], [], [], [], []
    info: dict[str, list[Any]] = defaultdict(list)
    numbers: set[str] = set()
    left, eid = scale.elders, 0
    valid_from = today - dt.timedelta(days=400)
    for n, d in enumerate(geo["districts"]):
        k = left if n == len(geo["districts"]) - 1 else round(scale.elders * d["weight"] / total_w)
        left -= k
        comms = [c for c in geo["communities"] if c["district"] == d["id"] and sites_by_comm.get(c["id"])]
        demo = [DemoCommunity(c["id"], c["name"], "", c["lat"], c["lon"], ROADS[:3]) for c in comms]
        street_of = {c["id"]: c["street"] for c in comms}
        for p in make_people(k, demo, seed=seed + 100 + n, today=today, region=d["code"]):
            eid += 1
            birth = _stable_band(p.birth_date, first, last)
            home = rng.choice(sites_by_comm[p.community_id])
            second = rng.choice(points_of[d["id"]])
            elders.append(
                {
                    "id": eid, "district": d["id"], "community": p.community_id, "name": p.name,
                    "gender": p.gender, "birth_date": birth, "national_id_enc": reg.encrypt_id(p.national_id),
                    "national_id_masked": reg.mask_national_id(p.national_id),
                    "national_id_hash": reg.id_hash(p.national_id), "id_last4": p.national_id[-4:],
                    "phone": p.phone or "", "address": p.address or "", "lat": p.lat, "lon": p.lon,
                    "living_situation": p.living_situation, "diet": list(p.diet),
                    "diet_note": p.diet_note or "", "allergies": p.allergies or "",
                    "emergency_name": p.emergency_name or "", "emergency_phone": p.emergency_phone or "",
                    "status": "active", "created_at": now, "updated_at": now,
                }
            )  # fmt: skip
            valid = []
            for c in p.categories:
                until = c.valid_until
                if until is not None and first <= until <= last:
                    until = first - dt.timedelta(days=1)  # lapsed before the window: one quote a month
                cats.append(
                    {"elder": eid, "code": c.code, "valid_from": valid_from, "valid_until": until, "created_at": now}
                )  # fmt: skip
                if until is None or until > last:
                    valid.append(c.code)
            number = new_card_number(rng)
            while number in numbers:
                number = new_card_number(rng)
            numbers.add(number)
            cards.append({"elder": eid, "serial": 1, "number": number, "issued_at": now})
            r, lunch_p = rng.random(), 0.0
            for share, chance in HABITS:
                if r < share:
                    lunch_p = chance
                    break
                r -= share
            prepaid = lunch_p > 0.05 and rng.random() < 0.85
            if prepaid:
                topups.append(
                    {"txn": uuid.uuid4().hex, "seq": 0, "kind": "topup_cash",
                     "debit": f"cash:site:{home['id']}:{first.isoformat()}", "credit": f"elder:{eid}",
                     "amount_fen": TOPUP_FEN, "ref_type": "elder", "ref_id": eid, "site": home["id"], "elder": eid,
                     "at": dt.datetime.combine(first, dt.time(1, 30), tzinfo=dt.UTC), "note": ""}
                )  # fmt: skip
            info["district"].append(d["id"])
            info["street"].append(street_of[p.community_id])
            info["home"].append(home["id"])
            info["second"].append(second["id"])
            info["lunch_p"].append(lunch_p)
            info["prepaid"].append(prepaid)
            info["birth"].append(birth)
            info["cats"].append(tuple(sorted(valid)))
            info["all_cats"].append(tuple(sorted(c.code for c in p.categories)))
    await Copier(Elder).copy(conn, elders)
    await set_sequence(conn, "elder")
    await Copier(ElderCategory, with_id=False).copy(conn, cats)
    await Copier(Card, with_id=False).copy(conn, cards)
    await Copier(LedgerEntry, with_id=False).copy(conn, topups)
    keys = CardKeys.from_hex(get_settings().card_signing_key)
    # Cards for the lunch peak: prepaid elders of the peak points who will be scanned once each.
    peak_set = set(geo["peak_sites"])
    peak_elders = [i + 1 for i, h in enumerate(info["home"]) if h in peak_set and info["prepaid"][i]]
    rng.shuffle(peak_elders)
    need = 3 * (PEAK_RATE * PEAK_SECONDS + 300)  # three runs' worth (--skip-build runs again)
    peak_cards = [(info["home"][e - 1], issue_token(keys, e, 1)) for e in peak_elders[:need]]
    del balances, ElderBalance
    return {"info": info, "peak_cards": peak_cards, "prepaid_topup": TOPUP_FEN}


async def load_meals(
    conn: Any,
    scale: Scale,
    geo: dict[str, Any],
    people: dict[str, Any],
    days: list[dt.date],
    today: dt.date,
    now: dt.datetime,
    seed: int,
) -> dict[str, Any]:
    import numpy as np

    from canteen.meals import rollups
    from canteen.meals.pricing import assemble_quote
    from canteen.meals.services import funding_parts
    from canteen.meals.tables import DailyRollup, Meal
    from canteen.menus.tables import DailyMenu, MealSet
    from canteen.payments.ledger import cash_account, receivable_account, revenue_account
    from canteen.payments.tables import ElderBalance
    from canteen.settings import get_settings
    from canteen.subsidies.schemas import CategoryGrant, ElderFacts, Usage
    from canteen.subsidies.services import policy_for

    tz = get_settings().tz
    info = people["info"]
    n = len(info["home"])
    site_of = {s["id"]: s for s in geo["sites"]}
    policy = {d["id"]: await policy_for(d["id"], days[0]) for d in geo["districts"]}
    # Menus: every cooking site, the month + today + tomorrow (+ the day after), lunch, three sets.
    menu_days = [*days, today, today + dt.timedelta(days=1), today + dt.timedelta(days=2)]
    menu_id: dict[tuple[int, dt.date], int] = {}
    for s in geo["sites"]:
        for day in menu_days:
            menu_id[(s["id"], day)] = len(menu_id) + 1
    sold: Counter[int] = Counter()

    # The meal's columns in the order the loop builds them: what varies per meal, then what a kind
    # of quote fixes, then what no bench meal sets (columns added since are filled with defaults).
    var_cols = ["id", "district", "site", "elder", "service_date", "served_at", "meal_set", "items", "payment",
                "operator", "ledger_txn"]  # fmt: skip
    shape_cols = ["slot", "mode", "list_price_fen", "subsidy_fen", "copay_fen", "funding", "policy_district",
                  "delivery_fee_fen", "delivery_subsidy_fen", "delivery_funding", "subsidised", "policy_version",
                  "tier_code", "reason_zh", "reason_en", "categories"]  # fmt: skip
    fixed_cols = ["cashier_id", "device", "manual_reason", "idempotency_key", "voided_at", "voided_by",
                  "void_reason", "void_txn"]  # fmt: skip
    have = {
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'meal'"
        )
    }
    missing = [c for c in (*var_cols, *shape_cols, *fixed_cols) if c not in have]
    if missing:
        raise RuntimeError(f"the meal table lost columns this bench writes: {missing}")
    meal_copier = Copier(Meal)
    extra = [c for c in meal_copier.names if c in have and c not in (*var_cols, *shape_cols, *fixed_cols)]
    fixed = (None, "bench-city", "", None, None, None, "", "", *tuple(meal_copier.defaults[c] for c in extra))
    meal_cols = [*var_cols, *shape_cols, *fixed_cols, *extra]
    led_cols = ["txn", "seq", "kind", "debit", "credit", "amount_fen", "ref_type", "ref_id", "site", "elder",
                "at", "actor_id", "reverses_txn", "note"]  # fmt: skip

    e_district, e_street, e_cats = info["district"], info["street"], info["cats"]
    e_home, e_second, e_prepaid = info["home"], info["second"], info["prepaid"]
    e_profile = [(e_district[i], e_cats[i], _band(info["birth"][i], days[0])) for i in range(n)]
    quotes: dict[tuple[Any, ...], dict[str, Any]] = {}
    shapes: dict[int, dict[str, Any]] = {}

    def shape(i: int, site: dict[str, Any], k: int) -> dict[str, Any]:
        key = (e_profile[i], k, e_street[i] == site["street"], site["district"])
        got = quotes.get(key)
        if got is not None:
            return got
        facts = ElderFacts(
            member=True,
            birth_date=info["birth"][i],
            categories=[
                CategoryGrant(code=c, valid_from=days[0] - dt.timedelta(days=400)) for c in e_cats[i]
            ],
            home_street_id=e_street[i],
            home_district_id=e_district[i],
        )
        q = assemble_quote(
            site_district_id=site["district"], site_street_id=site["street"], facts=facts,
            policy=policy[site["district"]], usage=Usage(slot_meals_today=0, month_subsidy_fen=0), day=days[0],
            slot="lunch", mode="dine_in", list_price_fen=SETS[k][1],
        )  # fmt: skip
        funding = funding_parts(q)
        got = {
            "q": q,
            "id": len(shapes),
            "funding": funding,
            "cats": list(e_cats[i]),
            "due": q.total_due_fen,
            "subsidised": q.subsidy_fen > 0,
            "moves": [(f.source, f.fen) for f in [*q.funding, *q.delivery_funding] if f.fen],
            "const": (
                "lunch", "dine_in", q.list_price_fen, q.subsidy_fen, q.copay_fen,
                json.dumps(funding, ensure_ascii=False), q.policy_district_id, q.delivery_fee_fen,
                q.delivery_subsidy_fen, "[]", q.subsidy_fen > 0, q.policy_version or None, q.tier_code,
                q.reason_zh[:300], q.reason_en[:300], json.dumps(list(e_cats[i])),
            ),
            "items": '[{"meal_set_id": %d, "name": "' + SETS[k][0] + f'", "list_price_fen": {q.list_price_fen}}}]',
        }  # fmt: skip
        quotes[key] = got
        shapes[got["id"]] = got
        return got

    subsidy_moves: dict[tuple[int, int], list[tuple[str, str, int]]] = {}

    def moves_of(sh: dict[str, Any], site: dict[str, Any]) -> list[tuple[str, str, int]]:
        key = (sh["id"], site["id"])
        got = subsidy_moves.get(key)
        if got is None:
            revenue, op = revenue_account(site["id"]), site["operator"] or 0
            got = subsidy_moves[key] = [
                (receivable_account(src, op), revenue, fen) for src, fen in sh["moves"]
            ]
        return got

    rng = np.random.default_rng(seed)
    prng = random.Random(seed + 7)
    lunch_p = np.array(info["lunch_p"])
    mean_wd = sum(WEEKDAY) / 7
    k_scale = scale.meals_per_day / max(1.0, float(lunch_p.sum()) * mean_wd)
    spent: Counter[int] = Counter()
    month_usage: Counter[tuple[int, dt.date]] = Counter()
    rollup_copier = Copier(DailyRollup, with_id=False)
    rollup_rows = usage_rows = 0
    meal_no = 0
    total = ledger_rows = 0
    set_choice = [0, 1, 2]
    shards = rollups.SHARDS
    t_loop = time.monotonic()
    async with IndexesOff(conn, ["meal", "ledger_entry", "daily_rollup", "subsidy_usage"]):
        for day_no, day in enumerate(days):
            wd = WEEKDAY[day.weekday()] * (0.9 + 0.1 * day_no / max(1, len(days) - 1)) / 0.95
            eaters = np.nonzero(rng.random(n) < np.minimum(0.97, lunch_p * k_scale * wd))[0].tolist()
            start = dt.datetime.combine(day, dt.time(11, 0), tzinfo=tz).astimezone(dt.UTC)
            offsets = rng.triangular(0, 2500, 7200, size=len(eaters)).tolist()
            picks = prng.choices(set_choice, SET_WEIGHTS, k=len(eaters))
            away = (rng.random(len(eaters)) < 0.08).tolist()
            meals, ledger, usage = [], [], []
            roll: Counter[tuple[int, int, int]] = Counter()
            day_iso = day.isoformat()
            first_of_month = day.replace(day=1)
            menu_of = {sid: mid * 3 for (sid, d), mid in menu_id.items() if d == day}
            for j, i in enumerate(eaters):
                elder = i + 1
                site = site_of[e_second[i] if away[j] else e_home[i]]
                k = picks[j]
                sh = shape(i, site, k)
                meal_no += 1
                sid = site["id"]
                set_id = menu_of[sid] + k
                sold[set_id] += 1
                at = start + dt.timedelta(seconds=offsets[j])
                txn = f"c17e{meal_no:028x}"
                due = sh["due"]
                prepaid = e_prepaid[i]
                meals.append(
                    (meal_no, site["district"], sid, elder, day, at, set_id, sh["items"] % set_id,
                     "balance" if prepaid else "cash", site["operator"], txn)
                    + sh["const"]
                    + fixed
                )  # fmt: skip
                seq = 0
                if prepaid and due > 0:
                    ledger.append((txn, 0, "meal", f"elder:{elder}", revenue_account(sid), due, "meal", meal_no,
                                   sid, elder, at, None, None, ""))  # fmt: skip
                    spent[elder] += due
                    seq = 1
                for debit, credit, fen in moves_of(sh, site):
                    ledger.append((txn, seq, "meal", debit, credit, fen, "meal", meal_no, sid, elder, at, None,
                                   None, ""))  # fmt: skip
                    seq += 1
                if not prepaid and due > 0:
                    ledger.append((txn, seq, "meal", cash_account(sid, day), revenue_account(sid), due, "meal",
                                   meal_no, sid, elder, at, None, None, ""))  # fmt: skip
                if sh["subsidised"]:  # one lunch an elder a day: the slot's and the day's counters are 1
                    usage.append((elder, day, "lunch", 1))
                    usage.append((elder, day, "*", 1))
                    month_usage[(elder, first_of_month)] += 1
                roll[(sid, sh["id"], elder % shards)] += 1
            await conn.copy_records_to_table("meal", columns=meal_cols, records=meals)
            await conn.copy_records_to_table("ledger_entry", columns=led_cols, records=ledger)
            await conn.copy_records_to_table(
                "subsidy_usage", columns=["elder", "service_date", "slot", "n"], records=usage
            )
            day_rows = rollup_rows_of(roll, day, shapes, site_of)
            await rollup_copier.copy(conn, day_rows)
            rollup_rows += len(day_rows)
            usage_rows += len(usage)
            total += len(meals)
            ledger_rows += len(ledger)
            if day_no % 5 == 0 or day_no == len(days) - 1:
                say(
                    f"    {day_iso}: {len(meals):,} meals ({total:,} so far, {len(quotes)} kinds of quote, "
                    f"{time.monotonic() - t_loop:.0f} s)"
                )
        say("    rebuilding the meal and ledger indexes …")
    say(f"    meals, ledger and their indexes: {time.monotonic() - t_loop:.0f} s")
    await set_sequence(conn, "meal")
    from canteen.core.periods import month_of

    with timed("monthly rollups (rollups.rebuild_month) and the month's subsidy counters"):
        for d in geo["districts"]:
            for month in sorted({month_of(x) for x in days}):
                await rollups.rebuild_month(d["id"], month)
        # The counter marks each meal's district-day for the night's rebuild; the nights before
        # claimed theirs, so yesterday's marks are what is left.
        if await conn.fetchval("SELECT to_regclass('rollup_dirty') IS NOT NULL"):
            await conn.executemany(
                "INSERT INTO rollup_dirty (district, service_date, marked_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(d["id"], days[-1], now) for d in geo["districts"]],
            )
        await conn.copy_records_to_table(
            "subsidy_usage",
            columns=["elder", "service_date", "slot", "n"],
            records=[(e, first, "M", c) for (e, first), c in month_usage.items()],
        )
        usage_rows += len(month_usage)
    balances = [
        {"elder": i + 1, "balance_fen": TOPUP_FEN - spent[i + 1], "updated_at": now}
        for i in range(n)
        if info["prepaid"][i]
    ]
    await Copier(ElderBalance, with_id=False).copy(conn, balances)
    menus, sets = [], []
    for (sid, day), mid in menu_id.items():
        cutoff = dt.datetime.combine(day, dt.time(9, 30), tzinfo=tz).astimezone(dt.UTC)
        menus.append({"id": mid, "site": sid, "service_date": day, "slot": "lunch", "cutoff_at": cutoff,
                      "published": True, "updated_at": now})  # fmt: skip
        for k, (name, price) in enumerate(SETS):
            sets.append({"id": mid * 3 + k, "menu": mid, "name": name, "list_price_fen": price,
                         "portions_sold": sold[mid * 3 + k], "sort_order": k})  # fmt: skip
    await Copier(DailyMenu).copy(conn, menus)
    await Copier(MealSet).copy(conn, sets)
    await set_sequence(conn, "daily_menu")
    await set_sequence(conn, "meal_set")
    return {
        "meals": total,
        "ledger_rows": ledger_rows + sum(1 for p in info["prepaid"] if p),
        "daily_rollup_rows": rollup_rows,
        "subsidy_usage_rows": usage_rows,
        "quote_kinds": len(quotes),
        "menus": len(menus),
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
    }


def rollup_rows_of(
    roll: Counter[tuple[int, int, int]], day: dt.date, shapes: dict[int, Any], site_of: dict[int, Any]
) -> list[dict[str, Any]]:
    """A day's daily rollup rows: the real contributions (``rollups.rows_for_meal``) of one meal of
    each kind at each site and shard, times how many there were."""
    from canteen.meals import rollups

    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (sid, shape_id, shard), count in roll.items():
        sh, site = shapes[shape_id], site_of[sid]
        q = sh["q"]
        meal = {
            "site": sid, "district": site["district"], "operator": site["operator"], "service_date": day,
            "slot": "lunch", "mode": "dine_in", "categories": sh["cats"], "tier_code": q.tier_code,
            "subsidised": sh["subsidised"], "list_price_fen": q.list_price_fen, "subsidy_fen": q.subsidy_fen,
            "copay_fen": q.copay_fen, "funding": sh["funding"], "delivery_fee_fen": q.delivery_fee_fen,
            "delivery_subsidy_fen": q.delivery_subsidy_fen, "elder": shard,  # the shard is elder % SHARDS
        }  # fmt: skip
        for r in rollups.rows_for_meal(meal):
            key = tuple(r[c] for c in rollups.KEY)
            have = acc.get(key)
            if have is None:
                acc[key] = {**r, **{s: r[s] * count for s in rollups.SUMS}}
            else:
                for s in rollups.SUMS:
                    have[s] += r[s] * count
    return list(acc.values())


def _band(birth: dt.date, day: dt.date) -> int:
    a = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return 2 if a >= 90 else 1 if a >= 80 else 0


async def load_standing_orders(
    conn: Any,
    geo: dict[str, Any],
    people: dict[str, Any],
    today: dt.date,
    now: dt.datetime,
    rng: random.Random,
) -> int:
    """Daily lunch delivery for about a third of those who may have it (失能, 重残, 特困 or 90+)."""
    from canteen.orders.tables import StandingOrder

    info = people["info"]
    rows = []
    for i, home in enumerate(info["home"]):
        eligible = set(info["cats"][i]) & {"disabled", "severe_disability", "tekun"} or (
            _band(info["birth"][i], today) == 2
        )
        if eligible and info["prepaid"][i] and rng.random() < 0.33:
            rows.append(
                {"elder": i + 1, "site": home, "slot": "lunch", "weekdays": [0, 1, 2, 3, 4, 5, 6],
                 "meal_set_name": "", "payment": "balance", "active": True, "placed_by_kind": "staff",
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
    await Copier(StandingOrder, with_id=False).copy(conn, rows)
    return len(rows)


async def load_users(conn: Any, geo: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A city official, an official per district, a cashier per peak point and an admin, each with
    a device token (``accounts.services.create_api_token``). The users and grants go in with COPY
    under one password hash: argon2 hashes on purpose slowly, and nobody signs in with a password."""
    from canteen.accounts.passwords import hash_password
    from canteen.accounts.services import create_api_token
    from canteen.accounts.tables import RoleGrant, StaffUser
    from canteen.core.audit import SystemActor

    people: list[tuple[str, str, dict[str, Any], str]] = [
        ("bench-city", "压测市级", {"role": "city_official", "city": geo["city_id"]}, "city"),
        ("bench-admin", "压测管理员", {"role": "admin"}, "admin"),
    ]
    people += [
        (f"bench-official-{d['id']}", f"压测区级 {d['name']}", {"role": "official", "district": d["id"]},
         f"districts:{d['id']}")
        for d in geo["districts"]
    ]  # fmt: skip
    people += [
        (f"bench-cashier-{s}", f"压测收银 {s}", {"role": "cashier", "site": s}, f"cashiers:{s}")
        for s in geo["peak_sites"]
    ]
    # Couriers of the kitchen whose points have the most standing orders: the routing job's.
    routing_site = int(
        await conn.fetchval(
            "SELECT s.kitchen FROM standing_order o JOIN site s ON s.id = o.site WHERE s.kitchen IS NOT NULL "
            "GROUP BY s.kitchen ORDER BY count(*) DESC, s.kitchen LIMIT 1"
        )
        or geo["kitchens"][0]
    )
    people += [
        (f"bench-courier-{k}", f"压测配送员 {k}", {"role": "courier", "site": routing_site}, f"couriers:{k}")
        for k in range(COURIERS)
    ]
    password = hash_password(uuid.uuid4().hex + "x9")
    first = int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM staff_user")) + 1
    users = [
        {"id": first + k, "username": u, "display_name": name, "password_hash": password,
         "created_at": now, "password_changed_at": now}
        for k, (u, name, _, _) in enumerate(people)
    ]  # fmt: skip
    await Copier(StaffUser).copy(conn, users)
    await set_sequence(conn, "staff_user")
    await Copier(RoleGrant, with_id=False).copy(
        conn, [{"user": first + k, **grant} for k, (_, _, grant, _) in enumerate(people)]
    )
    actor = SystemActor("bench")
    out: dict[str, Any] = {"districts": {}, "cashiers": {}, "couriers": {}, "routing_site": routing_site}
    for k, (u, _, _, where) in enumerate(people):
        token, _ = await create_api_token(actor, user_id=first + k, name=f"bench {u}")
        if where.startswith("couriers:"):
            out["couriers"][where[9:]] = first + k  # the job takes their user ids
        elif ":" in where:
            group, key = where.split(":")
            out[group][key] = token
        else:
            out[where] = token
    return out


# --- processes --------------------------------------------------------------------------------


def box() -> tuple[float, float]:
    return cb.box_busy_seconds(), time.monotonic()


def box_share(start: tuple[float, float]) -> str:
    busy, t0 = start
    cpus = os.cpu_count() or 1
    wall = max(1e-6, time.monotonic() - t0)
    return f"box {(cb.box_busy_seconds() - busy) / wall / cpus:.0%} busy of {cpus} CPUs"


def vm(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Workers:
    """``n`` real ``canteen worker`` processes (no cron: the bench submits the work itself)."""

    def __init__(self, n: int, concurrency: int) -> None:
        self.n, self.concurrency = n, concurrency
        self.procs: list[subprocess.Popen[bytes]] = []
        self.peak: dict[int, float] = defaultdict(float)

    def __enter__(self) -> Workers:
        env = {
            **os.environ,
            "CANTEEN_JOBS_SCHEDULE": "false",
            "CANTEEN_JOBS_CONCURRENCY": str(self.concurrency),
            "CANTEEN_LOG_LEVEL": "WARNING",
        }
        for k in range(self.n):
            log = open(WORK / f"worker-{k}.log", "wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "canteen.cli", "worker"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        return self

    def sample(self) -> None:
        for p in self.procs:
            for pid in cb.descendants(p.pid):
                self.peak[p.pid] = max(self.peak[p.pid], cb.rss_mb(pid), vm(pid, "VmHWM"))

    def restart(self) -> None:
        self.__exit__()
        self.procs = []
        self.__enter__()
        time.sleep(3)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # the group this script created for it
                p.wait(timeout=5)


async def submit_all(jobs: list[tuple[str, dict[str, Any], int | None]]) -> list[str]:
    from canteen import jobs as _jobs  # registers every kind of work
    from canteen.core import queue
    from canteen.core.db import close_pool, open_pool

    del _jobs
    await open_pool(1, 4)
    try:
        async with queue.opened():
            ids = []
            for kind, args, district in jobs:
                run = await queue.submit(
                    kind, args, user_id=None, district_id=district, key=f"bench-{uuid.uuid4().hex[:8]}"
                )
                ids.append(run.id)
            return ids
    finally:
        await close_pool()


def available(kind: str) -> Any:
    from canteen import jobs as _jobs  # registers every kind of work
    from canteen.core import queue

    del _jobs
    return queue.spec(kind)


def fill_args(kind: str, candidates: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The job's keyword arguments from ``candidates`` by name; None (and why) when the kind is
    not registered or needs an argument the bench cannot give."""
    spec = available(kind)
    if spec is None:
        return None, "not available (not registered in this tree)"
    params = inspect.signature(spec.fn).parameters
    args, missing = {}, []
    for name, p in params.items():
        if name == "ctx" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if name in candidates:
            args[name] = candidates[name]
        elif p.default is p.empty:
            missing.append(name)
    if missing:
        return None, f"not available (needs {', '.join(missing)}, which the bench does not know)"
    return args, ""


async def runs_of(ids: list[str]) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(DB_URL)
    try:
        rows = await conn.fetch(
            "SELECT id, kind, status, error_code, attempts, started_at, finished_at, created_at, result "
            "FROM job_run WHERE id = ANY($1::text[])",
            ids,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


def wait_runs(ids: list[str], workers: Workers, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        workers.sample()
        rows = asyncio.run(runs_of(ids))
        if all(r["status"] in ("done", "failed") for r in rows) or time.monotonic() > deadline:
            return rows
        if not workers.alive():
            say("  a worker exited: see " + str(WORK / "worker-*.log"))
            return rows
        time.sleep(0.5)


def by_kind(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r)
    for kind, rs in sorted(kinds.items()):
        done = [r for r in rs if r["started_at"] and r["finished_at"]]
        busy = sum((r["finished_at"] - r["started_at"]).total_seconds() for r in done)
        span = (
            (max(r["finished_at"] for r in done) - min(r["created_at"] for r in rs)).total_seconds()
            if done
            else 0.0
        )
        status = Counter(r["status"] + (f":{r['error_code']}" if r["error_code"] else "") for r in rs)
        longest = max(((r["finished_at"] - r["started_at"]).total_seconds() for r in done), default=0.0)
        results = []
        for r in rs[:1]:
            res = r["result"]
            res = json.loads(res) if isinstance(res, str) else res
            results.append(json.dumps(res, ensure_ascii=False)[:120])
        out.append(
            f"    {kind:<26} {len(rs):>3} run(s) {dict(status)}; sum of run times {busy:7.1f} s, longest "
            f"{longest:6.1f} s, submitted → last done {span:6.1f} s; e.g. {results[0] if results else ''}"
        )
    return out


# --- load -------------------------------------------------------------------------------------

GET_LUA = r"""
-- GET each line's path with its bearer token, in turn (thread i takes lines i, i+T, ...).
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function init(args)
  local n = tonumber(args[2]); reqs = {}; local i = 0
  for line in io.lines(args[1]) do
    if i % n == tid then
      local path, auth = line:match("^([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. auth})
    end
    i = i + 1
  end
  used = 0; statuses = {}
end
function request() used = used % #reqs + 1; return reqs[used] end
function response(status) local k = tostring(status); statuses[k] = (statuses[k] or 0) + 1 end
function done(summary, latency, requests)
  local status = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do status[k] = (status[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(status) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format('BENCH_JSON {"requests": %d, "duration_us": %d, "p50_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "timeouts": %d, "status_counts": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.timeout, table.concat(parts, ", ")))
end
"""


def wrk_get(wrk: str, port: int, lines: list[str], conc: int, seconds: int) -> dict[str, Any]:
    path = WORK / f"get-{uuid.uuid4().hex[:6]}.txt"
    lines = lines * max(1, -(-4 // len(lines)))  # every wrk thread gets lines of its own
    path.write_text("\n".join(lines) + "\n")
    lua = WORK / "get.lua"
    lua.write_text(GET_LUA)
    threads = min(2, conc)
    cmd = [wrk, f"-t{threads}", f"-c{conc}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua)]
    cmd += [f"http://127.0.0.1:{port}", "--", str(path), str(threads)]
    text, _ = cb.run_client(cmd, seconds + 60)
    line = next((x for x in text.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{text[-2000:]}")
    res = json.loads(line.removeprefix("BENCH_JSON "))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


def timed_get(port: int, path: str, token: str, timeout: float) -> tuple[int, float]:
    """One GET with a bearer token: (status, milliseconds); status 0 when it timed out."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        return r.status, (time.perf_counter() - t0) * 1000
    except TimeoutError:
        return 0, (time.perf_counter() - t0) * 1000
    finally:
        conn.close()


async def count_sql(sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(DB_URL)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def codes_line(statuses: dict[str, int]) -> str:
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    fives = sum(v for k, v in statuses.items() if k.startswith("5"))
    other = {k: v for k, v in statuses.items() if not k.startswith("2")}
    return f"{ok:,} 2xx, {fives} 5xx" + (f", other {other}" if other else "")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the city (default 1.0)")
    ap.add_argument("--skip-build", action="store_true", help="reuse bench_city from the last build")
    ap.add_argument("--seed", type=int, default=2026_12_01)
    ap.add_argument("--workers", type=int, default=2, help="canteen worker processes (default 2)")
    ap.add_argument("--concurrency", type=int, default=2, help="CANTEEN_JOBS_CONCURRENCY of each worker")
    ap.add_argument("--dash-seconds", type=int, default=15)
    ap.add_argument(
        "--nightly-cap", type=float, default=900, help="seconds to wait for the nightly jobs (default 900)"
    )
    ap.add_argument("--single-timeout", type=float, default=240, help="a dashboard request's timeout")
    ap.add_argument("--peak-seconds", type=int, default=PEAK_SECONDS)
    ap.add_argument("--port", type=int, default=8790, help="Canteen; the floor gets +1")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    wrk = cb.ensure_wrk()
    openloop = cb.build_openloop()

    from canteen.core.clock import utcnow
    from canteen.registry.services import today_of

    now = utcnow()
    today = today_of(now)
    if args.skip_build:
        state = json.loads(STATE.read_text())
        if state["today"] != today.isoformat():
            say(f"note: built for {state['today']}, today is {today}: the history ends before yesterday")
        say(f"reusing {DB_NAME} (built at {state['built_at']}, scale {state['scale']})")
    else:
        scale = Scale.of(args.scale)
        say(
            f"building {DB_NAME}: {scale.points:,} points, {scale.elders:,} elders, "
            f"~{scale.meals_per_day:,} lunches a day (scale {args.scale:g})"
        )
        state = asyncio.run(build(scale, today, now, args.seed))
        say(f"build: {state['build_s']} s; {json.dumps(state['meals'])}")
    today = dt.date.fromisoformat(state["today"])
    month_last = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    yesterday = today - dt.timedelta(days=1)
    tomorrow = today + dt.timedelta(days=1)
    districts = state["districts"]
    figures: dict[str, Any] = {}
    env_c = {
        "CANTEEN_DATABASE_URL": DB_URL,
        "CANTEEN_REDIS_URL": REDIS_URL,
        "CANTEEN_LOG_LEVEL": "WARNING",
        "CANTEEN_JOBS_WORKER": "external",
    }
    canteen = cb.Server(
        "city-canteen",
        [sys.executable, "-m", "canteen.cli", "serve", "--host", "127.0.0.1", "--port", str(args.port),
         "--workers", "2"],
        env_c, args.port, DB_NAME,
    )  # fmt: skip
    floor = cb.Server(
        "city-floor",
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "baseline_app:app", "--host", "127.0.0.1",
         "--port", str(args.port + 1), "--workers", "2", "--log-level", "warning", "--no-access-log"],
        {"BENCH_DATABASE_URL": FLOOR_URL}, args.port + 1, FLOOR_DB,
    )  # fmt: skip

    with Workers(args.workers, args.concurrency) as workers:
        time.sleep(3)
        # 1. The nightly jobs.
        say("")
        say(f"nightly jobs for the city: {len(districts)} districts, month {month_last}, day {yesterday}")
        at = utcnow().isoformat()
        plan: list[tuple[str, dict[str, Any], int | None]] = []
        skipped: list[str] = []
        for kind, per_district, candidates in (
            ("schedule.rollups", True, {"day": yesterday.isoformat()}),
            ("schedule.missed_meals", True, {"day": today.isoformat(), "now": at}),
            ("quality.claim_checks", True, {"month": month_last}),
            ("schedule.standing_orders", False, {"day": tomorrow.isoformat(), "now": at}),
            ("schedule.cutoffs", False, {"now": at}),
        ):
            for d in districts if per_district else [None]:
                cand = {**candidates, **({"district_id": d} if d is not None else {})}
                job_args, why = fill_args(kind, cand)
                if job_args is None:
                    skipped.append(f"    {kind:<26} {why}")
                    break
                plan.append((kind, job_args, d))
        b0 = box()
        t0 = time.monotonic()
        ids = asyncio.run(submit_all(plan))
        rows = wait_runs(ids, workers, args.nightly_cap)
        nightly_s = time.monotonic() - t0
        unfinished = [r for r in rows if r["status"] not in ("done", "failed")]
        cap_note = ""
        if unfinished:
            placed = asyncio.run(count_sql("SELECT count(*) FROM delivery_order"))
            cap_note = (
                f"NOT FINISHED after the {args.nightly_cap:.0f} s cap: "
                + ", ".join(sorted({r["kind"] for r in unfinished}))
                + f" ({placed:,} delivery orders placed by then); the workers are restarted so the rest "
                "of the bench does not compete with them"
            )
            say("  " + cap_note)
            workers.restart()
        figures["nightly"] = {
            "wall_s": nightly_s,
            "lines": by_kind(rows) + skipped,
            "rss": dict(workers.peak),
            "box": box_share(b0),
            "runs": len(rows),
            "cap_note": cap_note,
        }
        say(f"  {len(rows)} runs in {nightly_s:.1f} s ({figures['nightly']['box']})")
        for line in figures["nightly"]["lines"]:
            say(line)

        with cb.serving(canteen):
            # 2. Dashboards.
            say("")
            say("dashboards (pages, bearer tokens of the officials), wrk closed loop, 2 threads")
            tok = state["tokens"]
            dist_lines = [
                f"/official/districts/{d}/dashboard?month={month_last}\t{tok['districts'][str(d)]}"
                for d in districts
            ]
            city_lines = [f"/official/cities/{state['city_id']}?month={month_last}\t{tok['city']}"]
            api_lines = [f"/api/v1/cities/{state['city_id']}/overview?month={month_last}\t{tok['city']}"]
            figures["dash"] = {}
            for label, lines, conc in (
                ("district dashboard", dist_lines, 4),
                ("city dashboard", city_lines, 4),
                ("city overview API", api_lines, 4),
            ):
                # One request each first (the first of the day fills the caches), with a long timeout:
                # a page that takes longer than wrk's 10 s would only show as timeouts.
                b0 = box()
                singles = []
                for line in lines[:2]:
                    path, token = line.split("\t")
                    singles.append(timed_get(args.port, path, token, args.single_timeout))
                slowest = max(x for _, x in singles)
                if slowest < 5000:
                    res = wrk_get(wrk, args.port, lines, conc, args.dash_seconds)
                else:
                    res = {
                        "rps": 0.0,
                        "p50_ms": slowest,
                        "p99_ms": slowest,
                        "status_counts": {},
                        "only_single": True,
                    }
                res["box"] = box_share(b0)
                res["singles"] = singles
                figures["dash"][label] = res
                first = ", ".join(f"{code} in {ms(t)} ms" for code, t in singles)
                if res.get("only_single"):
                    say(
                        f"  {label:<20} single requests: {first}: too slow for a load run (wrk's 10 s timeout)"
                    )
                else:
                    say(
                        f"  {label:<20} c={conc}: {res['rps']:6.1f} req/s p50 {ms(res['p50_ms'])} ms p99 "
                        f"{ms(res['p99_ms'])} ms ({codes_line(res['status_counts'])}; {res['box']}; "
                        f"first requests {first})"
                    )

            # 3. The lunch peak with a routing job and a claim check running.
            say("")
            # Cards never scanned before: each run takes the next ones (a second scan of the day
            # would be refused as already served).
            cursor = int(state.get("card_cursor", 0))
            n_req = PEAK_RATE * args.peak_seconds
            cards = state["peak_cards"][cursor:]
            warm_n = min(300, max(0, len(cards) - n_req))
            warm_cards, cards = cards[:warm_n], cards[warm_n : warm_n + n_req]
            state["card_cursor"] = cursor + warm_n + len(cards)
            STATE.write_text(json.dumps(state))
            if len(cards) < n_req:
                say(f"  note: only {len(cards)} unscanned cards left at the peak points (rebuild for more)")

            def request_file(name: str, chosen: list[list[Any]]) -> Path:
                out = []
                for site, card in chosen:
                    body = json.dumps({"site_id": site, "card": card, "payment": "balance"})
                    out.append(f"/api/v1/checkins\t{tok['cashiers'][str(site)]}\t{uuid.uuid4().hex}\t{body}")
                path = WORK / name
                path.write_text("\n".join(out) + "\n")
                return path

            req_file = request_file("peak.txt", cards)
            # The morning's first scans fill the per-process caches (each point's site and menu):
            # a warm-up at 20/s over the same points, not counted.
            warm = cb.run_client(
                [str(openloop), str(args.port), "20", str(max(1, warm_n // 20)), "32", "5",
                 str(request_file("warm.txt", warm_cards))], 120,
            )[0] if warm_n else ""  # fmt: skip
            if warm:
                w = json.loads(warm.strip().splitlines()[-1])
                say(f"  warm-up: {w['completed']} check-ins at 20/s, p99 {ms(w['p99_ms'])} ms, {w['status']}")
            peak_jobs: list[tuple[str, dict[str, Any], int | None]] = []
            peak_skipped = []
            kitchen = tok["routing_site"]
            couriers = sorted(tok["couriers"].values())
            for kind, cand, d in (
                ("delivery.plan_rounds",
                 {"site_id": kitchen, "day": tomorrow.isoformat(), "slot": "lunch", "couriers": couriers,
                  "include_placed": True}, None),
                ("quality.claim_checks", {"district_id": districts[-6], "month": month_last}, districts[-6]),
            ):  # fmt: skip
                job_args, why = fill_args(kind, cand)
                if job_args is None:
                    peak_skipped.append(f"    {kind:<26} {why}")
                else:
                    peak_jobs.append((kind, job_args, d))
            say(
                f"lunch peak: {PEAK_RATE} check-ins/s offered over {len(state['peak_sites'])} points for "
                f"{args.peak_seconds} s (openloop.c), with {len(peak_jobs)} job(s) submitted at the start"
            )
            b0 = box()
            peak_ids = asyncio.run(submit_all(peak_jobs)) if peak_jobs else []
            cmd = [
                str(openloop),
                str(args.port),
                str(PEAK_RATE),
                str(args.peak_seconds),
                "64",
                "2",
                str(req_file),
            ]
            text, _ = cb.run_client(cmd, args.peak_seconds + 60)
            workers.sample()
            peak = json.loads(text.strip().splitlines()[-1])
            peak["box"] = box_share(b0)
            peak_rows = wait_runs(peak_ids, workers, 1800) if peak_ids else []
            figures["peak"] = {"res": peak, "jobs": by_kind(peak_rows) + peak_skipped}
            say(
                f"  {peak['completed_in_window'] / peak['seconds']:.1f}/s answered, p50 {ms(peak['p50_ms'])} ms "
                f"p99 {ms(peak['p99_ms'])} ms; {codes_line({str(k): v for k, v in peak['status'].items()})}; "
                f"{peak.get('errors', 0)} transport errors; {peak['box']}"
            )
            for s in peak.get("samples", [])[:3]:
                say(f"    e.g. {s[:150]}")
            for line in figures["peak"]["jobs"]:
                say(line)
            figures["web_rss"] = [cb.rss_mb(p) for p in canteen.workers()]
            figures["web_hwm"] = [vm(p, "VmHWM") for p in canteen.workers()]
            _, body = cb.http_get(args.port, "/readyz")
            figures["readyz"] = body.decode(errors="replace")
        figures["worker_rss"] = dict(workers.peak)

    # 4. The floor.
    floor_lines = [
        f"/checkin\t{'x' * 40}\t{uuid.uuid4().hex}\t" + json.dumps({"account": 1 + i % cb.FLOOR_ACCOUNTS})
        for i in range(20_000)
    ]
    (WORK / "floor.txt").write_text("\n".join(floor_lines) + "\n")
    with cb.serving(floor):
        cmd = [wrk, "-t2", "-c32", "-d10s", "--timeout", "10s", "-s", str(HERE / "checkin.lua")]
        cmd += [f"http://127.0.0.1:{floor.port}", "--", str(WORK / "floor.txt"), "2", "1"]
        cb.run_client(cmd, 40)  # warm-up
        b0 = box()
        text, _ = cb.run_client(cmd, 40)
        fl = json.loads(
            next(x for x in text.splitlines() if x.startswith("BENCH_JSON ")).removeprefix("BENCH_JSON ")
        )
        fl["rps"] = sum(int(v) for v in fl["status_counts"].values()) / (fl["duration_us"] / 1e6)
        fl["box"] = box_share(b0)
    report(state, figures, fl, args, time.monotonic() - t_start)


def report(state: dict[str, Any], f: dict[str, Any], fl: dict[str, Any], args: Any, total_s: float) -> None:
    sc, m = state["scale"], state["meals"]
    say("")
    say("=" * 110)
    say(
        f"Canteen city bench, {dt.date.today().isoformat()}: {sc['points']:,} points, {sc['elders']:,} elders, "
        f"{m['meals']:,} lunches over {m['days']} days ({m['first_day']} … {m['last_day']}),\n"
        f"{m['ledger_rows']:,} ledger rows, {m['daily_rollup_rows']:,} daily rollup rows, "
        f"{state['standing_orders']:,} standing delivery orders; build {state['build_s']} s. "
        f"PostgreSQL + Redis on loopback, {os.cpu_count()} CPUs shared\nwith other people's test suites "
        "(see 'box … busy' beside each figure: the share of both CPUs anything used)."
    )
    n = f["nightly"]
    rss = ", ".join(f"{v:.0f}" for v in n["rss"].values())
    say("")
    say(
        f"NIGHTLY JOBS ({args.workers} × canteen worker, concurrency {args.concurrency}): {n['runs']} runs, "
        f"wall {n['wall_s']:.1f} s [target {TARGETS['nightly']}]; {n['box']}"
    )
    for line in n["lines"]:
        say(line)
    say(f"  peak RSS per worker process (VmHWM): {rss} MB [target {TARGETS['rss']}]")
    if n.get("cap_note"):
        say("  " + n["cap_note"])
    say("")
    say("DASHBOARDS (wrk, closed loop, 2 threads, after a warm-up)")
    for label, r in f["dash"].items():
        if r.get("only_single"):
            first = ", ".join(f"{code} in {ms(t)} ms" for code, t in r["singles"])
            say(f"  {label:<20} single requests {first} [target {TARGETS['dash']}]; {r['box']}")
            continue
        say(
            f"  {label:<20} p50 {ms(r['p50_ms']):>6} ms  p99 {ms(r['p99_ms']):>6} ms  {r['rps']:6.1f} req/s "
            f"[target {TARGETS['dash']}]; {codes_line(r['status_counts'])}; {r['box']}"
        )
    p = f["peak"]["res"]
    say("")
    say(
        f"LUNCH PEAK: {PEAK_RATE}/s offered over {len(state['peak_sites'])} points for {args.peak_seconds} s, "
        "open loop (latency from the scheduled send)"
    )
    say(
        f"  p50 {ms(p['p50_ms'])} ms  p99 {ms(p['p99_ms'])} ms  "
        f"{codes_line({str(k): v for k, v in p['status'].items()})} [target {TARGETS['peak']}]; {p['box']}"
    )
    for line in f["peak"]["jobs"]:
        say(line)
    say(
        "  web workers RSS now "
        + ", ".join(f"{x:.0f}" for x in f["web_rss"])
        + " MB, peak "
        + ", ".join(f"{x:.0f}" for x in f["web_hwm"])
        + f" MB [target {TARGETS['rss']}]; worker processes' peak "
        + ", ".join(f"{v:.0f}" for v in f["worker_rss"].values())
        + " MB"
    )
    say("")
    say("CACHES: canteen.core.cache.stats() is per process and no endpoint of `canteen serve` reports it;")
    cache = [c for c in json.loads(f["readyz"]).get("checks", []) if "cache" in json.dumps(c)]
    say("  /readyz: " + (json.dumps(cache, ensure_ascii=False) if cache else "no cache figures"))
    say("")
    say(
        f"FLOOR (baseline_app.py, wrk c=32 closed loop, 10 s): {fl['rps']:,.0f} req/s p50 {ms(fl['p50_ms'])} ms "
        f"p99 {ms(fl['p99_ms'])} ms; {fl['box']}"
    )
    say(f"(total {total_s:.0f} s; logs in {WORK})")


if __name__ == "__main__":
    main()
