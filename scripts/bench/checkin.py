"""Load the counter: concurrent check-ins against ``canteen serve`` next to a bare baseline.

Run: ``.venv/bin/python scripts/bench/checkin.py`` (needs PostgreSQL and Redis on loopback;
see NOTES.md). It

1. recreates the database ``canteen_bench`` on 127.0.0.1:5432, migrates it and loads the demo
   district (without its month of history), then adds ``--elders`` elders with cards and a
   500-yuan balance each, makes 卖鱼桥幸福食堂 serve lunch all day from unlimited sets, and
   creates a cashier of that site with a device token;
2. starts ``canteen serve --workers 2`` on 127.0.0.1 (Redis db 15) and sends ``--requests``
   ``POST /api/v1/checkins`` from ``--concurrency`` clients: distinct elders, plus a share of
   repeats of cards already served (they must be refused ``already_served``);
3. starts the baseline (``scripts/bench/baseline_app.py``: raw ASGI, one asyncpg transaction
   with a SELECT and an INSERT) under uvicorn with 2 workers and sends it the same load;
4. prints requests/s, p50/p99 latency, refusals by code, errors and the servers' RSS for both,
   and the ratio; then runs ``--profile`` check-ins in this process under cProfile and prints
   the round trips per check-in and the top functions ("where the time goes").

Everything binds to 127.0.0.1, every loop is bounded in count and time, and the servers this
script started are stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import os
import pstats
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "canteen_bench"
DB_URL = f"{PG}/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/15"
SITE_NAME = "卖鱼桥幸福食堂"
ALL_DAY = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]
BALANCE_FEN = 50_000
WARMUP = 200

# The engine is chosen when piccolo_conf is first imported: point it at the bench database first.
os.environ["CANTEEN_DATABASE_URL"] = DB_URL
os.environ["CANTEEN_REDIS_URL"] = REDIS_URL
os.environ.setdefault("CANTEEN_LOG_LEVEL", "WARNING")


@dataclass
class Fixture:
    site_id: int
    user_id: int
    token: str
    cards: list[str]
    accounts: int


@dataclass
class Result:
    name: str
    sent: int = 0
    ok: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    rss_mb: dict[int, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- setup ------------------------------------------------------------------------------------


async def recreate_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


async def prepare(n_elders: int) -> Fixture:
    """Schema, demo district, ``n_elders`` extra elders with cards and balances, a cashier."""
    from canteen.accounts.roles import Grant
    from canteen.accounts.services import create_api_token, create_user
    from canteen.core.audit import SystemActor
    from canteen.core.clock import utcnow
    from canteen.core.db import engine, write_transaction
    from canteen.core.migrate import migrate
    from canteen.demo.district import load_district
    from canteen.demo.elders import demo_communities, load_elders
    from canteen.demo.menus import load_menus
    from canteen.demo.people import make_people
    from canteen.demo.policy_cards import load_policy_and_cards
    from canteen.menus.tables import DailyMenu, MealSet
    from canteen.payments.tables import ElderBalance, LedgerEntry
    from canteen.regions.tables import Site
    from canteen.registry import services as reg
    from canteen.registry.card_services import issue_missing_cards
    from canteen.registry.cards import CardKeys, issue_token
    from canteen.registry.tables import Card, Elder, ElderCategory
    from canteen.settings import get_settings

    await migrate(quiet=True)
    now = utcnow()
    today = reg.today_of(now)
    actor = SystemActor("bench")
    district = await load_district(now)
    await load_elders(district, today=today, now=now)
    await load_policy_and_cards(district, now=now)
    await load_menus(district, today=today, now=now)
    site_id = district.site_ids[SITE_NAME]
    await Site.update({Site.slots: ALL_DAY}).where(Site.id == site_id)
    menus = await DailyMenu.select(DailyMenu.id).where(
        (DailyMenu.site == site_id)
        & (DailyMenu.slot == "lunch")
        & DailyMenu.service_date.is_in([today, today + dt.timedelta(days=1)])
    )
    await MealSet.update({MealSet.portions_available: None}).where(
        MealSet.menu.is_in([int(m["id"]) for m in menus])
    )

    people = make_people(n_elders, demo_communities(district), seed=4242, today=today)
    taken = {r["national_id_hash"] for r in await Elder.select(Elder.national_id_hash)}
    async with write_transaction():
        new_ids: list[int] = []
        for start in range(0, len(people), 500):
            rows, cats = [], []
            for p in people[start : start + 500]:
                h = reg.id_hash(p.national_id)
                if h in taken:
                    continue
                taken.add(h)
                rows.append(
                    Elder(
                        district=district.district_id,
                        community=p.community_id,
                        name=p.name,
                        gender=p.gender,
                        birth_date=p.birth_date,
                        national_id_enc=reg.encrypt_id(p.national_id),
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
            inserted = await Elder.insert(*rows).returning(Elder.id, Elder.national_id_hash)
            by_hash = {r["national_id_hash"]: int(r["id"]) for r in inserted}
            ids = [by_hash[e.national_id_hash] for e in rows]
            new_ids.extend(ids)
            grants = [
                ElderCategory(elder=i, code=c, valid_from=today - dt.timedelta(days=400), created_at=now)
                for i, codes in zip(ids, cats, strict=True)
                for c in codes
            ]
            if grants:
                await ElderCategory.insert(*grants)
            cash = f"cash:site:{site_id}:{today.isoformat()}"
            await LedgerEntry.insert(
                *[
                    LedgerEntry(
                        txn=uuid.uuid4().hex,
                        seq=0,
                        kind="topup_cash",
                        debit=cash,
                        credit=f"elder:{i}",
                        amount_fen=BALANCE_FEN,
                        ref_type="elder",
                        ref_id=i,
                        site=site_id,
                        elder=i,
                        at=now,
                    )
                    for i in ids
                ]
            )
            await ElderBalance.insert(
                *[ElderBalance(elder=i, balance_fen=BALANCE_FEN, updated_at=now) for i in ids]
            )
    await issue_missing_cards(actor, new_ids, now=now, note="bench")
    serials = {
        int(r["elder"]): int(r["serial"])
        for r in await Card.select(Card.elder, Card.serial).where(
            Card.elder.is_in(new_ids) & Card.revoked_at.is_null()
        )
    }
    keys = CardKeys.from_hex(get_settings().card_signing_key)
    cards = [issue_token(keys, i, serials[i]) for i in new_ids]
    user_id = await create_user(
        actor,
        username="bench-cashier",
        password=uuid.uuid4().hex + "x9",
        display_name="压测收银",
        grants=[Grant("cashier", None, site_id)],
    )
    token, _ = await create_api_token(actor, user_id=user_id, name="bench scanner")

    # The baseline's two tables live in the same database.
    db = engine()
    await db.run_ddl("CREATE TABLE bench_account (id integer PRIMARY KEY, balance_fen integer NOT NULL)")
    await db.run_ddl(
        "CREATE TABLE bench_meal (id bigserial PRIMARY KEY, account integer NOT NULL, "
        "served_at timestamptz NOT NULL DEFAULT now(), amount_fen integer NOT NULL)"
    )
    await db.run_ddl(
        f"INSERT INTO bench_account SELECT g, {BALANCE_FEN} FROM generate_series(1, {len(cards)}) g"  # noqa: S608 - integers we made
    )
    await db.run_ddl("ANALYZE")
    return Fixture(site_id, user_id, token, cards, len(cards))


# --- servers ----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def rss_mb(pid: int) -> dict[int, float]:
    """VmRSS of a server and its worker processes, in MB (psutil is not installed)."""
    out = {}
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[p] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


@contextmanager
def server(
    cmd: list[str], env: dict[str, str], port: int, ready_path: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` in its own process group, wait until ``ready_path`` answers 200, stop it after."""
    import httpx

    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[:4]} not ready after 60 s")
            time.sleep(0.3)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this script created for it
                proc.wait(timeout=5)


# --- load -------------------------------------------------------------------------------------

Request = tuple[str, dict[str, Any], dict[str, str], bool]  # path, json, headers, is a repeat


async def drive(
    name: str,
    port: int,
    make: Callable[[int], Request],
    on_ok: Callable[[dict[str, Any]], None],
    *,
    n: int,
    concurrency: int,
    max_seconds: float,
) -> Result:
    """Send ``n`` requests from ``concurrency`` clients (or stop at ``max_seconds``)."""
    import httpx

    result = Result(name)
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
        start = time.perf_counter()
        deadline = start + max_seconds

        async def worker() -> None:
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                path, body, headers, repeat = make(i)
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    result.errors[type(exc).__name__] += 1
                    result.sent += 1
                    continue
                result.latencies.append(time.perf_counter() - t0)
                result.sent += 1
                result.repeats += repeat
                if r.status_code in (200, 201):
                    result.ok += 1
                    on_ok(body)
                elif 400 <= r.status_code < 500:
                    result.refusals[str(r.json().get("code", r.status_code))] += 1
                else:
                    result.errors[f"http {r.status_code}"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - start
    return result


def canteen_requests(fx: Fixture, repeat_share: float, rng: random.Random) -> tuple[Any, Any]:
    fresh = iter(fx.cards)
    served: list[str] = []
    auth = {"Authorization": f"Bearer {fx.token}", "X-Device": "bench"}

    def make(_: int) -> Request:
        repeat = bool(served) and rng.random() < repeat_share
        card = rng.choice(served) if repeat else next(fresh)
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        return (
            "/api/v1/checkins",
            {"site_id": fx.site_id, "card": card, "payment": "balance"},
            headers,
            repeat,
        )

    def on_ok(body: dict[str, Any]) -> None:
        served.append(body["card"])

    return make, on_ok


def baseline_requests(accounts: int) -> tuple[Any, Any]:
    def make(i: int) -> Request:
        return "/checkin", {"account": 1 + i % accounts}, {}, False

    return make, lambda _: None


def report(r: Result) -> None:
    print(f"\n== {r.name}")
    print(f"  requests   {r.sent} in {r.seconds:.2f} s  ->  {r.rps:,.0f} req/s  (ok {r.ok})")
    print(f"  latency    p50 {r.pct(0.50):.1f} ms   p99 {r.pct(0.99):.1f} ms   max {r.pct(1.0):.1f} ms")
    refusals = ", ".join(f"{k} {v}" for k, v in r.refusals.most_common()) or "none"
    print(f"  refusals   {refusals}" + (f"   (repeats sent {r.repeats})" if r.repeats else ""))
    print(f"  errors     {', '.join(f'{k} {v}' for k, v in r.errors.most_common()) or 'none'}")
    procs = "  ".join(f"{pid}:{mb:.0f}" for pid, mb in sorted(r.rss_mb.items()))
    print(f"  RSS MB     total {sum(r.rss_mb.values()):.0f}  (pid:MB {procs})")


def merge(name: str, parts: list[Result]) -> Result:
    out = Result(name)
    for r in parts:
        out.sent += r.sent
        out.ok += r.ok
        out.seconds += r.seconds
        out.latencies += r.latencies
        out.refusals += r.refusals
        out.errors += r.errors
        out.repeats += r.repeats
    return out


async def interleaved(
    targets: list[tuple[str, int, int, Any, Any]], args: argparse.Namespace
) -> tuple[list[Result], float]:
    """Warm each server up, then load them in alternating rounds, so that anything else
    running on the box weighs on both alike. Returns the merged results and client CPU s."""
    for name, _, port, make, on_ok in targets:
        await drive(name, port, make, on_ok, n=WARMUP, concurrency=args.concurrency, max_seconds=30)
    parts: dict[str, list[Result]] = {t[0]: [] for t in targets}
    per_round = max(1, args.requests // args.rounds)
    cpu0 = time.process_time()
    for _ in range(args.rounds):
        for name, _, port, make, on_ok in targets:
            parts[name].append(
                await drive(
                    name,
                    port,
                    make,
                    on_ok,
                    n=per_round,
                    concurrency=args.concurrency,
                    max_seconds=args.max_seconds / args.rounds,
                )
            )
    cpu = time.process_time() - cpu0
    results = []
    for name, pid, *_ in targets:
        r = merge(name, parts[name])
        r.rss_mb = rss_mb(pid)
        results.append(r)
    return results, cpu


# --- profile ----------------------------------------------------------------------------------


@contextmanager
def count_round_trips() -> Iterator[Counter[str]]:
    """Count asyncpg calls (each one a round trip to PostgreSQL) while the block runs."""
    from asyncpg.connection import Connection

    counts: Counter[str] = Counter()
    names = ("execute", "executemany", "fetch", "fetchrow", "fetchval")
    saved = {n: getattr(Connection, n) for n in names}

    def wrap(name: str, fn: Any) -> Any:
        async def counted(self: Any, *a: Any, **k: Any) -> Any:
            counts[name] += 1
            return await fn(self, *a, **k)

        return counted

    for n, fn in saved.items():
        setattr(Connection, n, wrap(n, fn))
    try:
        yield counts
    finally:
        for n, fn in saved.items():
            setattr(Connection, n, fn)


async def profile(fx: Fixture, cards: list[str], top: int) -> None:
    from canteen.accounts.services import resolve_api_token
    from canteen.checkin.services import check_in

    async def one(card: str) -> None:
        principal = await resolve_api_token(fx.token)  # what the auth middleware does per request
        assert principal is not None
        await check_in(
            principal, site_id=fx.site_id, card=card, idempotency_key=uuid.uuid4().hex, device="bench"
        )

    for card in cards[:20]:  # warm caches (policy, imports) outside the profile
        await one(card)
    cards = cards[20:]
    prof = cProfile.Profile()
    with count_round_trips() as trips:
        t0 = time.perf_counter()
        prof.enable()
        for card in cards:
            await one(card)
        prof.disable()
        elapsed = time.perf_counter() - t0
    n = len(cards)
    print(f"\n== in-process profile: {n} sequential check-ins (auth + service), one connection at a time")
    print(f"  {elapsed / n * 1000:.2f} ms per check-in ({n / elapsed:,.0f}/s on one core, profiler on)")
    per = {k: v / n for k, v in trips.items()}
    print(
        f"  asyncpg round trips per check-in: {sum(per.values()):.1f} ("
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items()))
        + ")"
    )
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(r"canteen|piccolo|asyncpg|msgspec", top)
    print(out.getvalue().split("\n", 5)[-1].rstrip())
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print("\n  by own time:")
    print(out.getvalue().split("\n", 5)[-1].rstrip())


# --- main -------------------------------------------------------------------------------------


async def setup(args: argparse.Namespace) -> Fixture:
    from canteen.core.db import close_pool, open_pool

    await recreate_database()
    await open_pool(1, 4)
    try:
        return await prepare(args.elders)
    finally:
        await close_pool()


async def run_profile(fx: Fixture, cards: list[str], top: int) -> None:
    from canteen.core.db import close_pool, open_pool

    await open_pool(1, 4)
    try:
        await profile(fx, cards, top)
    finally:
        await close_pool()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--elders", type=int, default=4000)
    ap.add_argument("--repeat-share", type=float, default=0.10)
    ap.add_argument("--profile", type=int, default=300, help="check-ins profiled in-process (0: skip)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    ap.add_argument("--max-seconds", type=float, default=120, help="stop each load after this long")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--baseline-port", type=int, default=8766)
    args = ap.parse_args()
    need = WARMUP + args.requests + args.profile
    if args.elders < need:
        ap.error(f"--elders must be at least {need} (warm-up + requests + profile)")

    t0 = time.perf_counter()
    fx = asyncio.run(setup(args))
    took = time.perf_counter() - t0
    print(f"setup: {DB_URL}, {fx.accounts} bench elders with cards, site {fx.site_id} ({took:.1f} s)")
    rng = random.Random(7)
    make, on_ok = canteen_requests(fx, args.repeat_share, rng)
    env = {"CANTEEN_DATABASE_URL": DB_URL, "CANTEEN_REDIS_URL": REDIS_URL, "CANTEEN_LOG_LEVEL": "WARNING"}
    serve = [sys.executable, "-m", "canteen.cli", "serve", "--host", "127.0.0.1", "--workers", "2"]
    serve += ["--port", str(args.port)]
    base_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "scripts" / "bench"),
        "baseline_app:app",
    ]
    base_cmd += ["--host", "127.0.0.1", "--port", str(args.baseline_port), "--workers", "2"]
    base_cmd += ["--log-level", "warning", "--no-access-log"]
    bmake, bok = baseline_requests(fx.accounts)
    with (
        server(serve, env, args.port, "/readyz") as app_proc,
        server(base_cmd, {"BENCH_DATABASE_URL": DB_URL}, args.baseline_port, "/readyz") as base_proc,
    ):
        (canteen, baseline), client_cpu = asyncio.run(
            interleaved(
                [
                    ("Canteen POST /api/v1/checkins", app_proc.pid, args.port, make, on_ok),
                    (
                        "Baseline (raw ASGI, asyncpg SELECT + INSERT)",
                        base_proc.pid,
                        args.baseline_port,
                        bmake,
                        bok,
                    ),
                ],
                args,
            )
        )
    print(f"\nconcurrency {args.concurrency}; {args.requests} requests each after {WARMUP} warm-up,")
    print(f"in {args.rounds} alternating rounds; 2 workers each; loopback; {os.cpu_count()} CPUs")
    print(f"load client (this process, httpx) used {client_cpu:.1f} CPU s for both loads")
    report(canteen)
    report(baseline)
    ratio = canteen.rps / baseline.rps if baseline.rps else 0.0
    p99 = canteen.pct(0.99)
    print(
        f"\nratio  Canteen / baseline throughput = {ratio:.2f}"
        f"  (aim >= 0.70; Canteen p99 {p99:.1f} ms, aim <= 50)"
    )
    if args.profile:
        left = fx.cards[WARMUP + args.requests :]
        asyncio.run(run_profile(fx, left[: args.profile + 20], args.top))


if __name__ == "__main__":
    main()
