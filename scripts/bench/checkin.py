"""Load the counter: Canteen's ``POST /api/v1/checkins`` beside a floor, measured by C load generators.

Run: ``.venv/bin/python scripts/bench/checkin.py`` (or ``make bench``); ``--help`` for longer runs.
Needs PostgreSQL and Redis on loopback (see ../shared/NOTES.md), ``wrk`` (installed with apt-get
when missing and run as root, else it says how) and ``gcc`` (for ``openloop.c``). About 4
minutes of load rounds with the defaults; setup and the rounds' settling take longer on a busy box
(8.5 minutes in all while other test suites held 86% of the 2 CPUs). It

1. recreates two databases on 127.0.0.1:5432: ``bench_checkin`` (migrated; the demo district
   without its history; three meal points with their own menus — 卖鱼桥幸福食堂, 小河老年食堂,
   知味观湖墅店 — serving lunch all day from unlimited sets; one cashier and device token per
   site; ``--elders`` elders with a card and a 500-yuan balance each, topped up after the
   warm-up when Canteen's rate says the run will scan more) and
   ``bench_checkin_floor`` (the floor's two tables);
2. serves both with 2 uvicorn workers, at the same time: Canteen with ``canteen serve --workers 2``
   on PostgreSQL + Redis (db 15), and the floor, ``baseline_app.py`` (raw ASGI, one asyncpg
   transaction with a SELECT and an INSERT: the least a check-in must do);
3. closed loop (``wrk``, 2 threads, ``checkin.lua``): c=32 and c=64, every request at one site and
   spread over the three; open loop (``openloop.c``): 200, 400, 600 requests/s offered, latency
   from each request's *scheduled* send time. Every request carries its own card (never one
   scanned before) and Idempotency-Key. The two servers take turns in interleaved rounds
   (``--rounds``, ``--seconds`` each; who goes first alternates); a line is the median of its
   rounds, with the floor's own figure beside Canteen's. After each round the script waits until
   the server is idle again (what the client left in flight is finished and its CPU counted) so
   the next round does not compete with it;
4. counts, per check-in: server CPU (utime + stime of the uvicorn processes, /proc/<pid>/stat),
   PostgreSQL backend CPU, RSS per worker (VmRSS), meals written (``SELECT count(*) FROM meal``)
   against 2xx answers, transactions and rows from ``pg_stat_database``, and the round trips
   (pg_stat_statements when the server has it loaded, otherwise counted at asyncpg's and
   redis-py's client level by ``counted_server.py`` in a separate single-worker pass);
5. profiles a Canteen worker with py-spy during one extra round when py-spy is installed
   (``.venv/bin/pip install py-spy``), and samples ``pg_stat_activity`` wait events during the
   Canteen rounds: "where the time goes".

Before printing a ratio it checks the load generator is not the bottleneck: its own ceiling —
``THREADS`` × 1000 / its CPU ms per request, measured (wait4's rusage) in the floor's rounds, the
fastest it is ever asked to go — must be at least 10× the Canteen figure it is compared with, and
the floor must outrun Canteen (closed loop); in the open loop the floor must achieve the offered
rate. If not, the line says WARNING and that its ratio is not meaningful. (The floor itself is
printed beside every figure, so a reader sees how far Canteen is from it.)

Everything binds to 127.0.0.1; every load is bounded in time; the servers this script started
are stopped on the way out (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "bench_checkin"
FLOOR_DB = "bench_checkin_floor"
DB_URL = f"{PG}/{DB_NAME}"
FLOOR_URL = f"{PG}/{FLOOR_DB}"
REDIS_URL = "redis://127.0.0.1:6379/15"
# The three meal points of the demo district that cook their own menus (the satellites eat the
# central kitchen's): the first is "one site".
SITE_NAMES = ["卖鱼桥幸福食堂", "小河老年食堂", "知味观湖墅店（合作餐厅）"]
ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]
BALANCE_FEN = 50_000
WORK = Path("/tmp/canteen-bench")  # noqa: S108 - request files and logs of a loopback bench
CLK_TCK = os.sysconf("SC_CLK_TCK")
THREADS = 2  # wrk threads
FLOOR_ACCOUNTS = 20_000
FLOOR_IS = (
    "(baseline_app.py: raw ASGI, one asyncpg transaction with a SELECT and an INSERT: "
    "the least a check-in does)."
)

# The engine is chosen when piccolo_conf is first imported: point it at the bench database first.
os.environ["CANTEEN_DATABASE_URL"] = DB_URL
os.environ["CANTEEN_REDIS_URL"] = REDIS_URL
os.environ.setdefault("CANTEEN_LOG_LEVEL", "WARNING")


def say(msg: str) -> None:
    print(msg, flush=True)


# --- tools ------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk is missing: apt-get install -y wrk")
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("this bench needs wrk (a C load generator): sudo apt-get install wrk  (Debian/Ubuntu)")


def build_openloop() -> Path:
    src, out = HERE / "openloop.c", WORK / "openloop"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        sys.exit("this bench needs a C compiler for openloop.c: sudo apt-get install gcc")
    subprocess.run([cc, "-O2", "-o", str(out), str(src)], check=True)
    return out


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


# --- setup ------------------------------------------------------------------------------------


@dataclass
class Site:
    id: int
    name: str
    token: str


@dataclass
class Fixture:
    sites: list[Site]
    cards: list[str]


async def recreate_databases() -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        for name in (DB_NAME, FLOOR_DB):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class Seeder:
    """What adding elders needs; kept so the run can add more once it knows Canteen's rate."""

    district: Any
    site_id: int
    today: dt.date
    now: dt.datetime
    seed: int = 4242
    taken: set[str] = field(default_factory=set)


async def prepare() -> tuple[list[Site], Seeder]:
    """Schema, demo district, three all-day sites with one cashier and device token each."""
    from canteen.accounts.roles import Grant
    from canteen.accounts.services import create_api_token, create_user
    from canteen.core.audit import SystemActor
    from canteen.core.clock import utcnow
    from canteen.core.migrate import migrate
    from canteen.demo.district import load_district
    from canteen.demo.elders import load_elders
    from canteen.demo.menus import load_menus
    from canteen.demo.policy_cards import load_policy_and_cards
    from canteen.menus.tables import DailyMenu, MealSet
    from canteen.regions.tables import Site as SiteTable
    from canteen.registry import services as reg
    from canteen.registry.tables import Elder

    await migrate(quiet=True)
    now = utcnow()
    today = reg.today_of(now)
    actor = SystemActor("bench")
    district = await load_district(now)
    await load_elders(district, today=today, now=now)
    await load_policy_and_cards(district, now=now)
    await load_menus(district, today=today, now=now)
    site_ids = [district.site_ids[name] for name in SITE_NAMES]
    await SiteTable.update({SiteTable.slots: ALL_DAY}).where(SiteTable.id.is_in(site_ids))
    menus = await DailyMenu.select(DailyMenu.id).where(
        DailyMenu.site.is_in(site_ids)
        & (DailyMenu.slot == "lunch")
        & DailyMenu.service_date.is_in([today, today + dt.timedelta(days=1)])
    )
    if len(menus) < len(site_ids):
        raise RuntimeError(f"expected a lunch menu today at each of {SITE_NAMES}, found {len(menus)}")
    await MealSet.update({MealSet.portions_available: None}).where(
        MealSet.menu.is_in([int(m["id"]) for m in menus])
    )
    sites = []
    for n, (site_id, name) in enumerate(zip(site_ids, SITE_NAMES, strict=True)):
        user_id = await create_user(
            actor,
            username=f"bench-cashier-{n}",
            password=uuid.uuid4().hex + "x9",
            display_name=f"压测收银 {n + 1}",
            grants=[Grant("cashier", None, site_id)],
        )
        token, _ = await create_api_token(actor, user_id=user_id, name=f"bench scanner, {name}")
        sites.append(Site(site_id, name, token))
    taken = {r["national_id_hash"] for r in await Elder.select(Elder.national_id_hash)}
    return sites, Seeder(district, site_ids[0], today, now, taken=taken)


async def copy_in(conn: Any, rows: list[Any]) -> None:
    """COPY Piccolo Table objects (not yet saved) into their table; ids come from the sequence."""
    import enum

    from piccolo.columns.column_types import JSON

    if not rows:
        return
    meta = type(rows[0])._meta
    cols = [c for c in meta.columns if not c._meta.primary_key]

    def value(col: Any, v: Any) -> Any:
        if isinstance(v, enum.Enum):
            v = v.value
        if isinstance(col, JSON) and v is not None and not isinstance(v, str):
            v = json.dumps(v)
        return v

    records = [tuple(value(c, getattr(r, c._meta.name)) for c in cols) for r in rows]
    await conn.copy_records_to_table(
        meta.tablename, columns=[c._meta.db_column_name for c in cols], records=records
    )


async def seed_elders(seeder: Seeder, n_elders: int) -> list[str]:
    """``n_elders`` new elders with categories, a 500-yuan balance (and its ledger entry) and a
    card each; returns their card tokens."""
    import asyncpg

    from canteen.core.audit import SystemActor
    from canteen.core.db import engine
    from canteen.demo.elders import demo_communities
    from canteen.demo.people import make_people
    from canteen.payments.tables import ElderBalance, LedgerEntry
    from canteen.registry import services as reg
    from canteen.registry.card_services import issue_missing_cards
    from canteen.registry.cards import CardKeys, issue_token
    from canteen.registry.tables import Card, Elder, ElderCategory
    from canteen.settings import get_settings

    district, today, now = seeder.district, seeder.today, seeder.now
    people = make_people(n_elders, demo_communities(district), seed=seeder.seed, today=today)
    seeder.seed += 1
    cash = f"cash:site:{seeder.site_id}:{today.isoformat()}"
    rows, cats = [], []
    for p in people:
        h = reg.id_hash(p.national_id)
        if h in seeder.taken:
            continue
        seeder.taken.add(h)
        rows.append(
            Elder(
                district=district.district_id,
                community=p.community_id,
                name=p.name,
                gender=p.gender,
                birth_date=p.birth_date,
                national_id_enc=reg.encrypt_id(p.national_id),
                national_id_masked=reg.mask_national_id(p.national_id),
                national_id_hash=h,
                id_last4=p.national_id[-4:],
                address=p.address or "",
                lat=p.lat,
                lon=p.lon,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        cats.append([c.code for c in p.categories])
    # The rows are built by Piccolo (its defaults) and written with COPY: Piccolo's INSERT of
    # thousands of rows spends seconds building the statement.
    conn = await asyncpg.connect(DB_URL)
    try:
        async with conn.transaction():
            await copy_in(conn, rows)
            hashes = [e.national_id_hash for e in rows]
            found = await conn.fetch(
                "SELECT id, national_id_hash FROM elder WHERE national_id_hash = ANY($1::text[])", hashes
            )
            by_hash = {r["national_id_hash"]: int(r["id"]) for r in found}
            new_ids = [by_hash[h] for h in hashes]
            valid_from = today - dt.timedelta(days=400)
            await copy_in(
                conn,
                [
                    ElderCategory(elder=i, code=c, valid_from=valid_from, created_at=now)
                    for i, codes in zip(new_ids, cats, strict=True)
                    for c in codes
                ],
            )
            await copy_in(
                conn,
                [
                    LedgerEntry(
                        txn=uuid.uuid4().hex,
                        seq=0,
                        kind="topup_cash",
                        debit=cash,
                        credit=f"elder:{i}",
                        amount_fen=BALANCE_FEN,
                        ref_type="elder",
                        ref_id=i,
                        site=seeder.site_id,
                        elder=i,
                        at=now,
                    )
                    for i in new_ids
                ],
            )
            await copy_in(
                conn, [ElderBalance(elder=i, balance_fen=BALANCE_FEN, updated_at=now) for i in new_ids]
            )
    finally:
        await conn.close()
    actor = SystemActor("bench")
    serials: dict[int, int] = {}
    for start in range(0, len(new_ids), 5000):
        chunk = new_ids[start : start + 5000]
        await issue_missing_cards(actor, chunk, now=now, note="bench")
        for r in await Card.select(Card.elder, Card.serial).where(
            Card.elder.is_in(chunk) & Card.revoked_at.is_null()
        ):
            serials[int(r["elder"])] = int(r["serial"])
    await engine().run_ddl("ANALYZE")
    keys = CardKeys.from_hex(get_settings().card_signing_key)
    return [issue_token(keys, i, serials[i]) for i in new_ids]


async def prepare_floor(accounts: int, url: str = FLOOR_URL) -> None:
    """The floor's two tables in the (empty) database at ``url`` (city.py passes its own)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE bench_account (id integer PRIMARY KEY, balance_fen integer NOT NULL)"
        )
        await conn.execute(
            "CREATE TABLE bench_meal (id bigserial PRIMARY KEY, account integer NOT NULL, "
            "served_at timestamptz NOT NULL DEFAULT now(), amount_fen integer NOT NULL)"
        )
        await conn.execute(
            "INSERT INTO bench_account SELECT g, $1 FROM generate_series(1, $2::int) g", BALANCE_FEN, accounts
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def setup(n_elders: int) -> tuple[Fixture, Seeder]:
    from canteen.core.db import close_pool, open_pool

    await recreate_databases()
    await prepare_floor(FLOOR_ACCOUNTS)
    await open_pool(1, 4)
    try:
        sites, seeder = await prepare()
        return Fixture(sites, await seed_elders(seeder, n_elders)), seeder
    finally:
        await close_pool()


async def more_elders(seeder: Seeder, n_elders: int) -> list[str]:
    from canteen.core.db import close_pool, open_pool

    await open_pool(1, 4)
    try:
        return await seed_elders(seeder, n_elders)
    finally:
        await close_pool()


# --- processes --------------------------------------------------------------------------------


def _ppid_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        kids[int(stat[stat.rindex(")") + 2 :].split()[1])].append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _ppid_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def box_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (from /proc/stat), to see the others."""
    parts = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def http_get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    db: str
    proc: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

    def workers(self) -> list[int]:
        """The uvicorn workers (not the master, nor multiprocessing's resource tracker)."""
        assert self.proc is not None
        out = []
        for p in self.pids():
            try:
                cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
            except OSError:
                continue
            if p != self.proc.pid and b"resource_tracker" not in cmdline:
                out.append(p)
        return out


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Start the server in its own process group, wait until /readyz answers 200, stop it after."""
    log = open(WORK / f"{server.name.split()[0].lower()}-{server.port}.log", "wb")
    proc = subprocess.Popen(
        server.cmd, env={**os.environ, **server.env}, cwd=ROOT, start_new_session=True, stdout=log, stderr=log
    )
    server.proc = proc
    try:
        deadline = time.monotonic() + 90
        migrated, body = False, b""
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {proc.returncode}: see {log.name}")
            try:
                status, body = http_get(server.port, "/readyz")
                if status == 200:
                    break
                if b"pending" in body and server.db == DB_NAME and not migrated:
                    # A migration landed in the tree since setup (the tree is shared and busy): apply it.
                    say(f"{server.name}: {body.decode(errors='replace')[:200]} -> canteen migrate")
                    subprocess.run(
                        [sys.executable, "-m", "canteen.cli", "migrate"],
                        env={**os.environ, **server.env},
                        cwd=ROOT,
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                    migrated = True
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} not ready after 90 s ({body[:300]!r}): see {log.name}")
            time.sleep(0.3)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this script created for it
                proc.wait(timeout=5)
        log.close()


class Monitor:
    """An asyncpg connection to the ``postgres`` database on a thread of its own (so its queries
    count in neither bench database's statistics), plus a pg_stat_activity sampler."""

    def __init__(self) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn = self.call(asyncpg.connect(f"{PG}/postgres"))
        self.sampler_conn = self.call(asyncpg.connect(f"{PG}/postgres"))
        self.samples: Counter[tuple[str, str]] = Counter()
        self.lock_queries: Counter[str] = Counter()
        self.lock_waits: dict[str, Counter[str]] = {}
        self.sample_count = 0
        self._sampling: asyncio.Future[None] | None = None
        self._stop = threading.Event()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(self.call(self.conn.fetch(sql, *args)))

    def backends(self, db: str) -> list[int]:
        rows = self.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", db)
        return [int(r["pid"]) for r in rows]

    def db_stats(self, db: str) -> dict[str, int]:
        rows = self.fetch(
            "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, "
            "tup_deleted, blks_hit, blks_read FROM pg_stat_database WHERE datname = $1",
            db,
        )
        return {k: int(v) for k, v in dict(rows[0]).items()}

    def wait_no_backends(self, db: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.backends(db) and time.monotonic() < deadline:
            time.sleep(0.2)

    async def _sample(self, db: str) -> None:
        while not self._stop.is_set():
            rows = await self.sampler_conn.fetch(
                "SELECT state, wait_event_type, wait_event, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q "
                "FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
                db,
            )
            self.sample_count += 1
            for r in rows:
                state = r["state"] or "?"
                if state == "idle":
                    continue
                wait = f"{r['wait_event_type']}:{r['wait_event']}" if r["wait_event_type"] else "on CPU"
                self.samples[(state, wait)] += 1
                if r["wait_event_type"] == "Lock":
                    self.lock_queries[r["q"]] += 1
            await asyncio.sleep(0.1)

    @contextmanager
    def sampling(self, db: str, into: dict[str, Counter[tuple[str, str]]], tag: str) -> Iterator[None]:
        self.samples, self.sample_count, self.lock_queries = Counter(), 0, Counter()
        self._stop.clear()
        fut = asyncio.run_coroutine_threadsafe(self._sample(db), self.loop)
        try:
            yield
        finally:
            self._stop.set()
            fut.result(10)
            into.setdefault(tag, Counter()).update(self.samples)
            self.lock_waits.setdefault(tag, Counter()).update(self.lock_queries)
            into.setdefault(tag + " #samples", Counter())[("", "")] += self.sample_count

    def close(self) -> None:
        self.call(self.conn.close())
        self.call(self.sampler_conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# --- load -------------------------------------------------------------------------------------


@dataclass
class Round:
    server: str
    kind: str  # "closed" | "open"
    label: str
    rps: float  # closed: answers/s over the run; open: answers within the window / window
    p50: float
    p99: float
    answered: int
    ok: int
    non2xx: int
    errors: int
    sent: int
    server_cpu: float
    pg_cpu: float
    client_cpu: float
    box_cpu: float
    wall: float
    p99_lower_bound: bool = False
    p50_lower_bound: bool = False
    unfinished: int = 0
    exhausted: bool = False
    codes: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def run_client(cmd: list[str], timeout: float) -> tuple[str, float]:
    """Run a load generator; returns its stdout and the CPU seconds it used (wait4's rusage)."""
    out_path = WORK / "client.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, ru = os.wait4(proc.pid, 0)
                proc.returncode = -9
                break
            time.sleep(0.05)
    text = out_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{text[-2000:]}")
    return text, ru.ru_utime + ru.ru_stime


def settle(server: Server, timeout: float = 8) -> None:
    """Wait until the server has finished what the client left in flight at the end of a round
    (its CPU stops moving), so that work is counted in this round's CPU, and the other server's
    next round does not compete with it."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(server.pids())
    while time.monotonic() < deadline:
        time.sleep(0.15)
        now = cpu_seconds(server.pids())
        if now - last < 0.011:
            return
        last = now


def codes_of(samples: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for s in samples:
        try:
            out[str(json.loads(s).get("code", "?"))] += 1
        except (ValueError, AttributeError):
            out[s[:40]] += 1
    return out


class Bench:
    def __init__(self, args: argparse.Namespace, fx: Fixture, wrk: str, openloop: Path, mon: Monitor) -> None:
        self.args, self.fx, self.wrk, self.openloop, self.mon = args, fx, wrk, openloop, mon
        self.cursor = 0  # next unused card
        self.rate_seen = 0.0  # the highest Canteen answers/s so far, to size the next round's file
        self.total_sent: Counter[str] = Counter()
        self.total_ok: Counter[str] = Counter()
        self.total_answered: Counter[str] = Counter()
        self.waits: dict[str, Counter[tuple[str, str]]] = {}
        self.short_of_cards = False
        fake = "x" * len(fx.sites[0].token)
        self.floor_lines = [
            f"/checkin\t{fake}\t{uuid.uuid4().hex}\t" + json.dumps({"account": 1 + i % FLOOR_ACCOUNTS})
            for i in range(max(20_000, int(max(args.rates, default=0) * args.seconds) + 10))
        ]
        (WORK / "floor.txt").write_text("\n".join(self.floor_lines) + "\n")

    # requests files

    def canteen_file(self, n: int, spread: bool) -> tuple[Path, int]:
        n = min(n, len(self.fx.cards) - self.cursor)
        sites = self.fx.sites if spread else self.fx.sites[:1]
        lines = []
        for i, card in enumerate(self.fx.cards[self.cursor : self.cursor + n]):
            s = sites[i % len(sites)]
            body = json.dumps({"site_id": s.id, "card": card, "payment": "balance"})
            lines.append(f"/api/v1/checkins\t{s.token}\t{uuid.uuid4().hex}\t{body}")
        path = WORK / "canteen.txt"
        path.write_text("\n".join(lines) + "\n")
        return path, n

    # one round

    def measure(
        self,
        server: Server,
        kind: str,
        label: str,
        run: Callable[[], tuple[dict[str, Any], float]],
        sample: str | None,
    ) -> Round:
        pids, backends = server.pids(), self.mon.backends(server.db)
        cpu0, pg0, box0, t0 = cpu_seconds(pids), cpu_seconds(backends), box_busy_seconds(), time.monotonic()
        with ExitStack() as stack:
            if sample:
                stack.enter_context(self.mon.sampling(server.db, self.waits, sample))
            res, client_cpu = run()
            settle(server)
        wall = time.monotonic() - t0
        backends = sorted(set(backends) | set(self.mon.backends(server.db)))
        cpu1, pg1, box1 = cpu_seconds(server.pids()), cpu_seconds(backends), box_busy_seconds()
        if kind == "closed":
            statuses = Counter({k: int(v) for k, v in res["status_counts"].items()})
            ok = sum(v for k, v in statuses.items() if k.startswith("2"))
            answered = sum(statuses.values())
            errs = sum(int(v) for k, v in res["errors"].items() if k != "status")
            r = Round(
                server.name,
                kind,
                label,
                answered / (res["duration_us"] / 1e6),
                res["p50_ms"],
                res["p99_ms"],
                answered,
                ok,
                answered - ok,
                errs,
                int(res.get("sent", res["used"])),
                cpu1 - cpu0,
                pg1 - pg0,
                client_cpu,
                box1 - box0,
                wall,
                exhausted=bool(res["exhausted_threads"]),
                samples=list(res["samples"]),
                raw=res,
            )
        else:
            statuses = Counter({k: int(v) for k, v in res["status"].items()})
            ok = sum(v for k, v in statuses.items() if k.startswith("2"))
            answered = int(res["completed"])
            unfinished = int(res["unsent"]) + int(res["inflight_abandoned"])
            r = Round(
                server.name,
                kind,
                label,
                res["completed_in_window"] / res["seconds"],
                res["p50_ms"],
                res["p99_ms"],
                answered,
                ok,
                answered - ok,
                int(res["errors"]),
                int(res["sent"]),
                cpu1 - cpu0,
                pg1 - pg0,
                client_cpu,
                box1 - box0,
                wall,
                p99_lower_bound=res["censored"] > 0.01 * res["scheduled"],
                p50_lower_bound=res["censored"] > 0.5 * res["scheduled"],
                unfinished=unfinished,
                exhausted=bool(res["exhausted"]),
                samples=list(res["samples"]),
                raw=res,
            )
        r.codes = codes_of(r.samples)
        self.short_of_cards |= r.exhausted and server.db == DB_NAME
        self.total_sent[server.name] += r.sent
        self.total_ok[server.name] += r.ok
        self.total_answered[server.name] += r.answered
        return r

    def closed(
        self, server: Server, conc: int, spread: bool, seconds: float, label: str, sample: str | None
    ) -> Round:
        canteen = server.db == DB_NAME
        if canteen:
            need = int(max(self.rate_seen, 300) * seconds * 2.5) + 8 * conc
            path, n = self.canteen_file(need, spread)
        else:
            path, n = WORK / "floor.txt", len(self.floor_lines)
        cmd = [self.wrk, f"-t{THREADS}", f"-c{conc}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        cmd += ["-s", str(HERE / "checkin.lua"), f"http://127.0.0.1:{server.port}", "--", str(path)]
        cmd += [str(THREADS), "0" if canteen else "1"]

        def run() -> tuple[dict[str, Any], float]:
            text, cpu = run_client(cmd, seconds + 30)
            line = next((x for x in text.splitlines() if x.startswith("BENCH_JSON ")), None)
            if line is None:
                raise RuntimeError(f"wrk printed no figures:\n{text[-2000:]}")
            return json.loads(line.removeprefix("BENCH_JSON ")), cpu

        r = self.measure(server, "closed", label, run, sample)
        if canteen:
            self.cursor += min(n, THREADS * int(r.raw["used_max_per_thread"]))
            self.rate_seen = max(self.rate_seen, r.rps)
        return r

    def open(
        self, server: Server, rate: int, seconds: float, label: str, grace: float | None = None
    ) -> Round:
        canteen = server.db == DB_NAME
        grace = self.args.grace if grace is None else grace
        path = self.canteen_file(int(rate * seconds), True)[0] if canteen else WORK / "floor.txt"
        cmd = [str(self.openloop), str(server.port), str(rate), str(seconds), str(self.args.open_conns)]
        cmd += [str(grace), str(path)]

        def run() -> tuple[dict[str, Any], float]:
            text, cpu = run_client(cmd, seconds + grace + 30)
            return json.loads(text.strip().splitlines()[-1]), cpu

        r = self.measure(server, "open", label, run, None)
        if canteen:
            self.cursor += r.sent
        return r


# --- figures ----------------------------------------------------------------------------------


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else 0.0


def fmt_ms(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def per_req_ms(rounds: list[Round], attr: str) -> float:
    """CPU per request sent: a request left in flight when a round ended is finished (and its CPU
    counted) while the round settles."""
    n = sum(r.sent for r in rounds)
    return sum(getattr(r, attr) for r in rounds) / n * 1000 if n else 0.0


def line_of(rounds: list[Round]) -> dict[str, Any]:
    p99 = med([r.p99 for r in rounds])
    return {
        "rps": med([r.rps for r in rounds]),
        "each": " ".join(f"{r.rps:,.0f}" for r in rounds),
        "p50": med([r.p50 for r in rounds]),
        "p99": p99,
        "p99_ge": any(r.p99_lower_bound for r in rounds),
        "p50_ge": any(r.p50_lower_bound for r in rounds),
        "non2xx": sum(r.non2xx for r in rounds),
        "errors": sum(r.errors for r in rounds),
        "unfinished": sum(r.unfinished for r in rounds),
        "cpu": per_req_ms(rounds, "server_cpu"),
        "pg": per_req_ms(rounds, "pg_cpu"),
        "codes": sum((r.codes for r in rounds), Counter()),
        "exhausted": any(r.exhausted for r in rounds),
    }


def cell(x: dict[str, Any]) -> str:
    p99 = ("≥" if x["p99_ge"] else "") + fmt_ms(x["p99"])
    p50 = ("≥" if x["p50_ge"] else "") + fmt_ms(x["p50"])
    return f"{x['rps']:>7,.0f} {p50:>7} {p99:>8} {x['non2xx']:>7} {x['cpu']:>6.2f}"


def notes(c: dict[str, Any], f: dict[str, Any]) -> str:
    out = ""
    for name, x in (("Canteen", c), ("floor", f)):
        if x["errors"]:
            out += f"; {name} transport errors {x['errors']}"
        if x["unfinished"]:
            out += f"; {name} unfinished {x['unfinished']}"
        if x["non2xx"]:
            out += f"; {name} refusals seen {dict(x['codes'])}"
    return out


def summarize_pyspy(paths: list[Path], top: int) -> list[str]:
    """Collapsed stacks (py-spy --format raw) → shares by package of the running frame and the
    canteen functions on the stack."""
    leaf_pkg: Counter[str] = Counter()
    leaf_fn: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = threaded = 0

    def pkg(frame: str) -> str:
        path = frame[frame.rfind("(") + 1 :]
        for name in ("canteen", "piccolo", "litestar", "asyncpg", "msgspec", "redis", "uvicorn", "asyncio"):
            if f"/{name}/" in path or path.startswith(f"{name}/"):
                return name
        top = path.split("/", 1)[0].split(".", 1)[0].split(":", 1)[0]
        if path.startswith("<frozen") or top in sys.stdlib_module_names:
            return "python stdlib"
        return top or "other"

    for p in paths:
        if not p.exists():
            continue
        for raw in p.read_text(errors="replace").splitlines():
            stack, _, n = raw.rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            total += count
            threaded += (
                count
                if any("sync_to_thread" in f or "concurrent/futures/thread.py" in f for f in frames)
                else 0
            )
            leaf_pkg[pkg(frames[-1])] += count
            leaf_fn[frames[-1]] += count
            seen = set()
            for f in frames:
                if pkg(f) != "canteen":
                    continue
                where = f[f.rfind("(") + 1 :].rsplit(":", 1)[0]  # per function, not per line
                key = f"{f.split(' (')[0]} ({where[where.find('canteen/') :]})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
    if not total:
        return ["  (py-spy recorded no samples)"]
    out = [
        f"  {total} samples on the two workers, each of the thread holding the GIL (running Python).",
        "  A worker preempted while holding it still counts (the box is shared), and the Cython inside",
        "  asyncpg and the C inside msgspec/uvloop count under the Python frame that called them.",
        "  The frame running, by package:",
    ]
    out.append("    " + ", ".join(f"{k} {v / total:.0%}" for k, v in leaf_pkg.most_common(9)))
    if threaded:
        out.append(
            f"  {threaded / total:.1%} of samples are under litestar's sync_to_thread (a sync guard or "
            "dependency run on a worker thread, per request)"
        )
    out.append("  canteen functions on the stack (inclusive):")
    out += [f"    {v / total:5.1%}  {k}" for k, v in inclusive.most_common(top)]
    out.append("  hottest frames (self):")
    out += [f"    {v / total:5.1%}  {k[:110]}" for k, v in leaf_fn.most_common(top)]
    return out


# --- round trips ------------------------------------------------------------------------------


def pg_stat_statements_ok(mon: Monitor) -> bool:
    """pg_stat_statements works only when the server preloads it; never restart a shared server."""
    import asyncpg

    async def probe() -> bool:
        conn = await asyncpg.connect(DB_URL)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.fetchval("SELECT count(*) FROM pg_stat_statements")
            return True
        except asyncpg.PostgresError:
            await conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
            return False
        finally:
            await conn.close()

    return bool(mon.call(probe()))


def count_round_trips(bench: Bench, args: argparse.Namespace) -> list[str]:
    """One worker of each, with counting hooks; 1 s of warm-up, then ``--count-requests`` requests."""
    out = []
    use_pgss = pg_stat_statements_ok(bench.mon)
    env_c = {"CANTEEN_DATABASE_URL": DB_URL, "CANTEEN_REDIS_URL": REDIS_URL, "CANTEEN_LOG_LEVEL": "WARNING"}
    counted = str(HERE / "counted_server.py")
    servers = [
        Server(
            "Canteen (counted)",
            [sys.executable, counted, "canteen", str(args.port + 2)],
            env_c,
            args.port + 2,
            DB_NAME,
        ),
        Server(
            "floor (counted)",
            [sys.executable, counted, "floor", str(args.port + 3)],
            {"BENCH_DATABASE_URL": FLOOR_URL},
            args.port + 3,
            FLOOR_DB,
        ),
    ]
    results = {}
    rate = 25
    with ExitStack() as stack:
        for s in servers:
            stack.enter_context(serving(s))
        for s in servers:
            # Long graces: a request the client gives up on is answered 500 ("client disconnected
            # prematurely") by Litestar without running the check-in, which would skew the count.
            bench.open(s, rate, 1.0, "count warm-up", grace=30)
            http_get(s.port, "/__bench__/reset", "POST")
            if use_pgss:
                bench.mon.call(_pgss_reset())
            bench.open(s, rate, args.count_requests / rate, "count", grace=30)
            _, body = http_get(s.port, "/__bench__/counts")
            data = json.loads(body)
            # the server's own count of the answers it gave (some may have gone to a closed connection)
            data["answered"] = sum(data["statuses"].values())
            data["ok"] = sum(v for k, v in data["statuses"].items() if k.startswith("2"))
            if use_pgss:
                data["pgss"] = bench.mon.fetch(
                    "SELECT sum(calls)::bigint AS calls FROM pg_stat_statements s JOIN pg_database d "
                    "ON d.oid = s.dbid WHERE d.datname = $1",
                    s.db,
                )[0]["calls"]
            results[s.name] = data
    how = (
        "pg_stat_statements (calls) and asyncpg/redis-py client hooks"
        if use_pgss
        else "asyncpg and redis-py client hooks (counted_server.py); pg_stat_statements is not in this "
        "server's shared_preload_libraries and loading it needs a restart"
    )
    out.append(f"round trips per request: {how}; one worker each, {args.count_requests} requests at {rate}/s")
    for name, data in results.items():
        n = max(1, int(data["ok"]))  # per check-in served
        c = Counter(data["counts"])
        pg, rd = c.pop("pg round trips", 0), c.pop("redis round trips", 0)
        line = f"  {name.split()[0]:<8} PostgreSQL {pg / n:5.1f}   Redis {rd / n:4.1f}   per request"
        line += f" served ({data['ok']} 2xx of {data['answered']} answered)"
        if "pgss" in data:
            line += f"; pg_stat_statements calls {int(data['pgss'] or 0) / n:.1f}"
        out.append(line)
        out.append(
            "           "
            + ", ".join(
                f"{k} {v / n:.1f}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]) if v / n >= 0.05
            )
        )
        if data["refusals"]:
            out.append(f"           non-2xx answers: {data['statuses']}; e.g. {data['refusals'][:2]}")
        if name.startswith("Canteen"):
            out.append("  Canteen's statements per check-in (text cut at 100 characters):")
            for text, k in data["statements"][: args.top]:
                out.append(f"    {k / n:4.1f}  {text[:100]}")
    return out


async def _pgss_reset() -> None:
    import asyncpg

    conn = await asyncpg.connect(DB_URL)
    try:
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


# --- main -------------------------------------------------------------------------------------


def needed_cards(args: argparse.Namespace, rps: float) -> int:
    """Cards the rest of the run may scan when Canteen answers about ``rps`` (with a margin: c=64
    and the open loop's spare connections can go faster than the warm-up did)."""
    rps *= 1.4
    closed = len(args.conc) * 2 * args.rounds * (rps * args.seconds + 2 * max(args.conc))
    opened = sum(min(rate, rps) * args.seconds + args.open_conns for rate in args.rates) * args.rounds
    return int(closed + opened + rps * args.seconds + 2 * args.count_requests + 500)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=int, default=5, help="length of each round (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per server per line; median reported (≥ 3)")
    ap.add_argument("--conc", type=int, nargs="+", default=[32, 64], help="closed-loop connections")
    ap.add_argument("--rates", type=int, nargs="+", default=[200, 400, 600], help="open-loop offered req/s")
    ap.add_argument("--open-conns", type=int, default=64, help="open loop: most requests in flight at once")
    ap.add_argument(
        "--grace", type=float, default=1, help="open loop: seconds to wait for answers after a round"
    )
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    ap.add_argument(
        "--elders",
        type=int,
        default=6000,
        help="elders with cards to start with (more are added after the warm-up if needed)",
    )
    ap.add_argument(
        "--count-requests", type=int, default=100, help="requests in the round-trip counting pass"
    )
    ap.add_argument("--no-profile", action="store_true", help="skip the py-spy round")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument(
        "--port", type=int, default=8765, help="Canteen; the floor gets +1, the counting pass +2, +3"
    )
    args = ap.parse_args()
    if args.rounds < 3:
        ap.error("--rounds must be at least 3 (the median of fewer is not worth printing)")
    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.glob("pyspy-*.txt"):
        old.unlink()
    t_start = time.monotonic()
    wrk = ensure_wrk()
    openloop = build_openloop()
    py_spy = None if args.no_profile else find_py_spy()
    wrk_version = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]

    t0 = time.monotonic()
    fx, seeder = asyncio.run(setup(args.elders))
    say(
        f"setup: {DB_NAME} with {len(fx.cards):,} bench elders with cards, sites "
        + ", ".join(f"{s.name} (id {s.id})" for s in fx.sites)
        + f"; {FLOOR_DB}; {time.monotonic() - t0:.0f} s"
    )

    mon = Monitor()
    env_c = {"CANTEEN_DATABASE_URL": DB_URL, "CANTEEN_REDIS_URL": REDIS_URL, "CANTEEN_LOG_LEVEL": "WARNING"}
    canteen = Server(
        "Canteen",
        [
            sys.executable,
            "-m",
            "canteen.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--workers",
            "2",
        ],
        env_c,
        args.port,
        DB_NAME,
    )
    floor = Server(
        "floor",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(HERE),
            "baseline_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port + 1),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        {"BENCH_DATABASE_URL": FLOOR_URL},
        args.port + 1,
        FLOOR_DB,
    )
    bench = Bench(args, fx, wrk, openloop, mon)
    meals0 = mon.call(_count(DB_URL, "SELECT count(*) FROM meal"))
    floor_meals0 = mon.call(_count(FLOOR_URL, "SELECT count(*) FROM bench_meal"))
    stats0 = {db: mon.db_stats(db) for db in (DB_NAME, FLOOR_DB)}
    mon_version = mon.fetch("SHOW server_version")[0][0].split()[0]
    closed: dict[tuple[int, str], dict[str, list[Round]]] = {}
    opened: dict[int, dict[str, list[Round]]] = {}
    all_rounds: list[Round] = []
    rss: dict[str, list[float]] = {}
    profile_lines: list[str] = []
    layouts = [("one site", False), (f"{len(fx.sites)} sites", True)]
    with serving(canteen), serving(floor):
        assert canteen.proc is not None and floor.proc is not None
        say(
            f"serving: Canteen pid {canteen.proc.pid} on :{canteen.port}, "
            f"floor pid {floor.proc.pid} on :{floor.port}"
        )
        for s in (canteen, floor):
            for _ in range(4):  # until it answers (the first requests prepare statements, fill pools)
                warm = bench.closed(s, 32, True, args.warmup, "warm-up", None)
                say(
                    f"warm-up {s.name}: {warm.rps:,.0f} req/s, {warm.non2xx} non-2xx {dict(warm.codes) or ''}"
                )
                if warm.ok >= 50:
                    break
        need = needed_cards(args, bench.rate_seen)
        short = need - (len(fx.cards) - bench.cursor)
        if short > 0:
            t1 = time.monotonic()
            fx.cards += asyncio.run(more_elders(seeder, short))
            say(
                f"Canteen warmed up at {bench.rate_seen:,.0f} req/s: this run may use ~{need:,} more cards; "
                f"added {short:,} elders with cards ({time.monotonic() - t1:.0f} s)"
            )

        n_round = 0
        for conc in args.conc:
            for label, spread in layouts:
                sides = closed.setdefault((conc, label), {"Canteen": [], "floor": []})
                for i in range(args.rounds):
                    n_round += 1
                    for s in (canteen, floor) if i % 2 == 0 else (floor, canteen):
                        tag = f"closed {label}" if s is canteen else None
                        r = bench.closed(s, conc, spread, args.seconds, f"c={conc} {label}", tag)
                        sides[s.name].append(r)
                        all_rounds.append(r)
                    cr, fr = sides["Canteen"][-1], sides["floor"][-1]
                    say(
                        f"  round {n_round}: closed c={conc} {label}: Canteen {cr.rps:,.0f} req/s p99 "
                        f"{fmt_ms(cr.p99)} ms | floor {fr.rps:,.0f} req/s p99 {fmt_ms(fr.p99)} ms"
                    )
        for rate in args.rates:
            sides = opened.setdefault(rate, {"Canteen": [], "floor": []})
            for i in range(args.rounds):
                n_round += 1
                for s in (canteen, floor) if i % 2 == 0 else (floor, canteen):
                    r = bench.open(s, rate, args.seconds, f"open {rate}/s")
                    sides[s.name].append(r)
                    all_rounds.append(r)
                cr, fr = sides["Canteen"][-1], sides["floor"][-1]
                say(
                    f"  round {n_round}: open {rate}/s: Canteen {cr.rps:,.0f}/s p99 {fmt_ms(cr.p99)} ms | "
                    f"floor {fr.rps:,.0f}/s p99 {fmt_ms(fr.p99)} ms"
                )

        if py_spy:
            workers = canteen.workers()
            outs = [WORK / f"pyspy-{p}.txt" for p in workers]
            spies = [
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "-p",
                        str(p),
                        "-d",
                        str(int(args.seconds)),
                        "-r",
                        "100",
                        "--gil",
                        "--nonblocking",
                        "-f",
                        "raw",
                        "-o",
                        str(o),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for p, o in zip(workers, outs, strict=True)
            ]
            time.sleep(0.3)
            pr = bench.closed(canteen, 32, True, args.seconds, "profiled", "profiled")
            for sp in spies:
                try:
                    sp.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    sp.kill()
                    sp.wait()
            profile_lines = [
                f"py-spy --gil, 100 Hz, on both Canteen workers during one extra round, closed c=32 "
                f"over {len(fx.sites)} sites ({pr.rps:,.0f} req/s with the profiler attached):"
            ]
            profile_lines += summarize_pyspy(outs, args.top)
        for s in (canteen, floor):
            rss[s.name] = [rss_mb(p) for p in s.workers()]
            rss[s.name + " master"] = [rss_mb(s.proc.pid if s.proc else 0)]
    for db in (DB_NAME, FLOOR_DB):
        mon.wait_no_backends(db)
    stats1 = {db: mon.db_stats(db) for db in (DB_NAME, FLOOR_DB)}
    meals1 = mon.call(_count(DB_URL, "SELECT count(*) FROM meal"))
    floor_meals1 = mon.call(_count(FLOOR_URL, "SELECT count(*) FROM bench_meal"))
    sent_main, ok_main = Counter(bench.total_sent), Counter(bench.total_ok)
    answered_main = Counter(bench.total_answered)
    trips = count_round_trips(bench, args)
    mon.close()

    # --- report ---------------------------------------------------------------------------
    cpus = os.cpu_count() or 1
    say("")
    say("=" * 110)
    say(f"Canteen check-in bench, {dt.date.today().isoformat()}: POST /api/v1/checkins beside the floor")
    say(FLOOR_IS)
    say(
        f"Both on uvicorn, 2 workers each, loopback, {cpus} CPUs, PostgreSQL {mon_version} + Redis. "
        f"{args.rounds} rounds of {args.seconds:g} s\nper server per line, A/B interleaved (who goes first "
        "alternates); medians, each round's req/s on the line below.\nEvery request: a card never scanned "
        "before and its own Idempotency-Key. CPU = server CPU ms per request\nsent (utime + stime of the "
        "uvicorn master and workers from /proc/<pid>/stat, counted until the server is\nidle again after "
        "the round)."
    )
    say("")
    cols = f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>8} {'non-2xx':>7} {'CPU':>6}"
    wrk_name = wrk_version.split(" [")[0]
    say(f"CLOSED LOOP — {wrk_name}, {THREADS} threads, checkin.lua; latency from send to answer (wrk's)")
    say(f"{'':<17}{' Canteen ':-^40}  {' floor ':-^40}")
    say(f"{'':<17}{cols}    {cols}    Canteen/floor")
    warnings: list[str] = []
    for (conc, label), sides in closed.items():
        c, f = line_of(sides["Canteen"]), line_of(sides["floor"])
        client_ms = per_req_ms(sides["floor"], "client_cpu")
        ceiling = THREADS * 1000 / client_ms if client_ms > 0 else float("inf")
        times = ceiling / max(c["rps"], 1e-9)
        ok = times >= 10 and f["rps"] > c["rps"]
        verdict = f" (wrk's ceiling {times:.0f}x)" if ok else "  WARNING: not meaningful"
        say(f"c={conc:<3} {label:<11}{cell(c)}    {cell(f)}    {c['rps'] / max(f['rps'], 1e-9):.3f}{verdict}")
        say(
            f"{'':<8}rounds: Canteen {c['each']} | floor {f['each']} req/s; wrk {client_ms:.3f} CPU ms per "
            f"request, a ceiling of {ceiling:,.0f} req/s" + notes(c, f)
        )
        if not ok:
            warnings.append(
                f"c={conc} {label}: the load generator's ceiling ({ceiling:,.0f} req/s) is only {times:.1f}x "
                "the Canteen figure (< 10x), or the floor did not outrun Canteen: the load generator or "
                "the box may be the bottleneck; the ratio is not meaningful"
            )
        if c["exhausted"]:
            warnings.append(f"c={conc} {label}: a wrk thread ran out of cards: raise --elders")
    say("")
    say(
        "OPEN LOOP — openloop.c (C, epoll; Debian has no wrk2): "
        "request k is scheduled at t0 + k/rate, at most "
        f"{args.open_conns}\nin flight, spread over {len(fx.sites)} "
        "sites. Latency from the SCHEDULED send time to "
        "the answer, so waiting for a free\nconnection counts; after "
        f"{args.grace:g} s of grace the unfinished count with "
        "their wait so far (a p50 or p99 they reach is\nmarked ≥, a lower bound). "
        "req/s here = answers within the round / its length."
    )
    say(f"{'offered':<17}{' Canteen ':-^40}  {' floor ':-^40}")
    say(f"{'':<17}{cols}    {cols}    Canteen/floor")
    for rate, sides in opened.items():
        c, f = line_of(sides["Canteen"]), line_of(sides["floor"])
        ok = f["rps"] >= 0.95 * rate  # the client kept its schedule against the fast server
        verdict = "" if ok else "  WARNING: not meaningful"
        say(f"{rate:>5} req/s{'':<6}{cell(c)}    {cell(f)}    {c['rps'] / max(f['rps'], 1e-9):.3f}{verdict}")
        lag = med([float(r.raw["send_lag_p99_ms"]) for r in sides["floor"]])
        say(
            f"{'':<8}rounds: Canteen {c['each']} | floor {f['each']} req/s; the floor's send lag p99 "
            f"{fmt_ms(lag)} ms" + notes(c, f)
        )
        if not ok:
            warnings.append(
                f"open {rate}/s: the floor achieved {f['rps']:,.0f}/s of {rate} offered (Canteen "
                f"{c['rps']:,.0f}/s): the client or the box is the limit; the ratio is not meaningful"
            )
    say("")
    say(
        "PER REQUEST, over the measured rounds above (not the "
        "warm-up, the profiled round or the counting pass):"
    )
    for name in ("Canteen", "floor"):
        mine = [r for r in all_rounds if r.server == name]
        per_worker = ", ".join(f"{x:.0f}" for x in rss.get(name, []))
        say(
            f"  {name:<8} server CPU {per_req_ms(mine, 'server_cpu'):5.2f} ms, its PostgreSQL backends "
            f"{per_req_ms(mine, 'pg_cpu'):4.2f} ms, load generator {per_req_ms(mine, 'client_cpu'):4.2f} ms; "
            f"RSS per worker {per_worker} MB (master {rss.get(name + ' master', [0])[0]:.0f})"
        )
    box = sum(r.box_cpu for r in all_rounds) / sum(r.wall for r in all_rounds) / cpus
    ours = (
        sum(r.server_cpu + r.pg_cpu + r.client_cpu for r in all_rounds)
        / sum(r.wall for r in all_rounds)
        / cpus
    )
    say(
        f"  the box during the rounds: {box:.0%} of its {cpus} "
        "CPUs busy; the server under load, its PostgreSQL "
        f"backends and\n  the load generator {ours:.0%}; everything else (the idle server, Redis, other "
        f"engineers' tests...) {box - ours:.0%}"
    )
    for name, db, table, m0, m1 in (
        ("Canteen", DB_NAME, "meal", meals0, meals1),
        ("floor", FLOOR_DB, "bench_meal", floor_meals0, floor_meals1),
    ):
        ok, sent, answered = ok_main[name], sent_main[name], answered_main[name]
        d = {k: stats1[db][k] - stats0[db][k] for k in stats0[db]}
        meals = m1 - m0
        n = max(meals, 1)
        left = sent - answered
        verdict = "consistent" if ok <= meals <= ok + left else "INCONSISTENT"
        say(
            f"  {name:<8} {meals:,} rows added to {table} (count(*) "
            f"before and after); 2xx seen {ok:,}, non-2xx "
            f"{answered - ok:,}, of {sent:,} sent;\n           "
            f"{left:,} left unanswered when a round ended (they "
            f"may still write a meal): {verdict} (warm-up included)"
        )
        say(
            f"           pg_stat_database per meal written: xact_commit {d['xact_commit'] / n:.1f}, rollback "
            f"{d['xact_rollback'] / n:.2f}, tup_inserted {d['tup_inserted'] / n:.1f}, tup_updated "
            f"{d['tup_updated'] / n:.1f},\n           tup_deleted {d['tup_deleted'] / n:.1f}, tup_fetched "
            f"{d['tup_fetched'] / n:.1f}, tup_returned "
            f"{d['tup_returned'] / n:.0f}, blks_hit {d['blks_hit'] / n:.0f}"
        )
    say("")
    for text in trips:
        say(text)
    say("")
    say("WHERE THE TIME GOES")
    for tag in [k for k in bench.waits if not k.endswith("#samples")]:
        n_samples = sum(bench.waits[tag + " #samples"].values())
        total = sum(bench.waits[tag].values())
        shown = ", ".join(f"{s}/{w} {v / n_samples:.1f}" for (s, w), v in bench.waits[tag].most_common(5))
        say(
            f"  pg_stat_activity during the Canteen {tag} rounds ({n_samples} samples at 10 Hz): "
            f"{total / max(n_samples, 1):.1f} backends busy\n  on average: {shown or 'none'}"
        )
        locks = mon.lock_waits.get(tag, Counter())
        if locks:
            say("    statements waiting for a lock (backends on average):")
            for q, v in locks.most_common(3):
                say(f"      {v / n_samples:4.1f}  {q}")
    if profile_lines:
        for text in profile_lines:
            say(text if text.startswith("  ") else "  " + text)
    elif not args.no_profile:
        say("  py-spy is not installed (.venv/bin/pip install py-spy): no profile of the workers")
    if bench.short_of_cards:
        warnings.append(
            "the card pool ran out: some rounds had fewer cards than they could use; raise --elders"
        )
    say("")
    for w in warnings:
        say(f"WARNING: {w}")
    say(
        f"({len(all_rounds)} measured rounds; {bench.cursor:,} of {len(fx.cards):,} cards used; total "
        f"{time.monotonic() - t_start:.0f} s; logs and request files in {WORK})"
    )


async def _count(url: str, sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
