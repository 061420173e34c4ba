# ruff: noqa: S603, S607 - the drill test runs our own script
"""Faults, with nothing lost: Redis stopped and restarted, PostgreSQL restarted and a
worker process killed, each while counter clients scan cards concurrently.

Runs against real ``canteen serve --workers 2`` processes on a private PostgreSQL
cluster and a private Redis (see harness.py), so it never disturbs the machine's
shared services. Serial only: ``scripts/test.sh`` runs it in the fault lane after
the PostgreSQL lane; by hand::

    CANTEEN_FAULT_TESTS=1 .venv/bin/pytest -p no:xdist -s -m fault tests/fault

After each fault: every 2xx the clients got has its meal row, one meal per
Idempotency-Key, one subsidised meal per elder, every balance equals its ledger sum
and debits equal credits. Each test prints what it injected and what it found.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fault.harness import (
    ROOT,
    PgInstance,
    RedisInstance,
    Service,
    SseListener,
    dbtool,
    stack,
    wait_until,
)
from tests.fault.load import Load, PacedCounter, check_against_db

pytestmark = [pytest.mark.fault, pytest.mark.postgres]

PHASE_ELDERS = 150  # elders scanned per fault (each once, with retries on the same key)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[PgInstance, RedisInstance, Service, dict[str, Any]]]:
    with stack(n_elders=4 * PHASE_ELDERS) as (pg, redis, services, seed):
        yield pg, redis, services[0], seed


def _slice(seed: dict[str, Any], phase: int) -> list[int]:
    return list(seed["elders"][phase * PHASE_ELDERS : (phase + 1) * PHASE_ELDERS])


def _load(svc: Service, seed: dict[str, Any], phase: int) -> Load:
    return Load(
        bases=[svc.base],
        token=seed["token"],
        sites=seed["sites"],
        cards=seed["cards"],
        elders=_slice(seed, phase),
    )


def _report(name: str, injected: list[str], load: Load, audit: dict[str, Any], failures: list[str]) -> None:
    print(f"\n=== fault: {name} ===")
    for line in injected:
        print(f"  injected: {line}")
    print(f"  clients:  {json.dumps(load.summary(), sort_keys=True)}")
    keys = {o.key for o in load.outcomes}
    mine = {k: v for k, v in audit["by_key"].items() if k in keys}
    print(
        f"  database: {len(mine)} meals for this run's {len(keys)} keys, "
        f"{audit['meals']} meals in all, {len(audit['balance_mismatches'])} balance mismatches, "
        f"ledger balanced: {audit['ledger_balanced']}"
    )
    print(f"  checks:   {'all passed' if not failures else f'{len(failures)} FAILED'}")
    for f in failures[:20]:
        print(f"    - {f}")


def _wait_served(load: Load, n: int) -> None:
    wait_until(f"{n} meals served", lambda: load.served() >= n, bound=120)


def test_redis_stopped_and_restarted_under_load(rig: Any) -> None:
    _pg, redis, svc, seed = rig
    load = _load(svc, seed, 0)
    injected: list[str] = []
    earlier = httpx.post(
        svc.base + "/api/v1/auth/login",
        json={"username": "cashier_c", "password": seed["password"]},
        timeout=10,
    ).json()["token"]
    load.start()
    try:
        _wait_served(load, 20)
        before = load.served()
        redis.stop()
        injected.append(f"redis-cli shutdown nosave on :{redis.port} after {before} meals")
        ready = httpx.get(svc.base + "/readyz", timeout=10)
        checks = {c["name"]: c for c in ready.json()["checks"]}
        injected.append(f"/readyz during outage: {ready.status_code} redis={checks['redis']['detail']!r}")
        assert ready.status_code == 503 and not checks["redis"]["ok"] and checks["database"]["ok"]
        login = httpx.post(
            svc.base + "/api/v1/auth/login",
            json={"username": "cashier_a", "password": seed["password"]},
            timeout=10,
        )
        injected.append(f"login during outage: {login.status_code} {login.json().get('code')}")
        assert login.status_code == 503 and login.headers.get("Retry-After"), login.text
        me = httpx.get(
            svc.base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {earlier}"}, timeout=10
        )
        injected.append(
            f"session-authenticated request during outage: {me.status_code} {me.json().get('code')}"
        )
        # Sessions are stored in the database (Redis only caches them): still signed in.
        assert me.status_code == 200 and me.json()["username"] == "cashier_c", me.text
        # Check-ins carry on without Redis: device tokens and meals live in the database. (The
        # phase has PHASE_ELDERS elders; on a fast box most may be served before Redis stops.)
        target = min(before + 30, len(load.elders))
        assert target > before, f"all {before} elders were served before Redis stopped: nothing to observe"
        _wait_served(load, target)
        during = load.served() - before
        injected.append(f"{during} meals served while Redis was down")
    finally:
        if not redis.ping():
            redis.start()
    injected.append("redis-server restarted (empty: no persistence)")
    wait_until(
        "/readyz to recover without a restart", lambda: httpx.get(svc.base + "/readyz").status_code == 200
    )
    load.join()
    # Redis is used again: a session made now is stored there and works on the next request.
    token = httpx.post(
        svc.base + "/api/v1/auth/login",
        json={"username": "cashier_a", "password": seed["password"]},
        timeout=10,
    ).json()["token"]
    me = httpx.get(svc.base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    sessions = [k for k in redis.cli("--scan", "--pattern", "canteen:*").split() if k]
    injected.append(f"after recovery: login+me {me.status_code}, {len(sessions)} keys in Redis")
    assert me.status_code == 200 and me.json()["username"] == "cashier_a"
    assert sessions, "the session was not stored in Redis after it came back"
    # Live events travel through Redis pub/sub again: a check-in now reaches a subscriber.
    site = seed["sites"][0]
    listener = SseListener(
        f"{svc.base}/api/v1/sites/{site}/live", {"Authorization": f"Bearer {seed['token']}"}
    )
    spare = Load(
        bases=[svc.base],
        token=seed["token"],
        sites=[site],
        cards=seed["cards"],
        elders=_slice(seed, 3)[:5],
        threads=1,
    )
    seen = None
    try:
        for elder in spare.elders:
            one = Load(
                bases=spare.bases,
                token=spare.token,
                sites=[site],
                cards=spare.cards,
                elders=[elder],
                threads=1,
            )
            one.start()
            one.join()
            meal = one.outcomes[0].meal_id
            if meal and listener.wait_for(f'"meal_id":{meal}', bound=5):
                seen = meal
                break
    finally:
        listener.close()
    injected.append(
        f"after recovery: live event for meal {seen} {'received' if seen else 'NOT received'} over SSE"
    )
    assert seen is not None, (listener.status, listener.error, listener.events)
    audit = dbtool(svc.db_url, "audit")
    failures = check_against_db(load, audit)
    _report("redis stop/start", injected, load, audit, failures)
    assert during > 0
    assert not failures


OUTAGE_SECONDS = 60  # as the issue asks: a Redis outage of a minute
SETTLE_SECONDS = 60  # and the burst a minute after Redis came back (stale pooled connections)


def test_redis_down_for_a_minute_and_restarted_empty_signs_no_counter_out(rig: Any) -> None:
    """20 counters (10 signed in with sessions, 10 with device tokens) check in while Redis is
    stopped for 60 s and restarted empty: no 5xx on a check-in, nobody signed out, no meal
    lost or doubled; the live stream says "paused" during the outage and "live" after; 60 s
    after the restart a burst of 200 signed-in requests meets no 503."""
    _pg, redis, svc, seed = rig
    injected: list[str] = []
    site = seed["sites"][0]
    pool_of_elders = seed["elders"][3 * PHASE_ELDERS + 10 : 3 * PHASE_ELDERS + 110]
    sessions = []
    for _ in range(10):
        r = httpx.post(
            svc.base + "/api/v1/auth/login",
            json={"username": "cashier_all", "password": seed["password"]},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        sessions.append({"Authorization": f"Bearer {r.json()['token']}"})
    device = {"Authorization": f"Bearer {seed['token']}"}
    counters = [
        PacedCounter(
            name=f"{'session' if i < 10 else 'device'}-{i}",
            base=svc.base,
            headers=sessions[i] if i < 10 else device,
            site=seed["sites"][i % len(seed["sites"])],
            cards=[seed["cards"][str(e)] for e in pool_of_elders[i * 5 : (i + 1) * 5]],
        )
        for i in range(20)
    ]
    listener: SseListener | None = None
    for c in counters:
        c.start()
    try:
        wait_until("20 meals before the outage", lambda: sum(len(c.outcomes) for c in counters) >= 20)
        redis.stop()
        stopped = time.monotonic()
        before = sum(len(c.outcomes) for c in counters)
        injected.append(f"redis-cli shutdown nosave on :{redis.port} after {before} scans")
        listener = SseListener(
            f"{svc.base}/api/v1/sites/{site}/live", sessions[0], bound=40 + 2 * OUTAGE_SECONDS
        )
        paused = listener.wait_for("paused", bound=20)
        injected.append(f"live stream during the outage: HTTP {listener.status}, 'paused' seen: {paused}")
        assert listener.status == 200 and paused, (listener.status, listener.error, listener.events)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        during = sum(len(c.outcomes) for c in counters) - before
        injected.append(f"{during} scans while Redis was down for {time.monotonic() - stopped:.0f}s")
    except BaseException:
        for c in counters:
            c.stop()
        if listener is not None:
            listener.close()
        raise
    finally:
        if not redis.ping():
            redis.start()
    restarted = time.monotonic()
    injected.append("redis-server restarted (empty: no persistence)")
    assert listener is not None
    seen_before = len(listener.events)
    try:
        resumed = True
        try:
            wait_until(
                "the live stream to say 'live' again",
                lambda: "live" in listener.events[seen_before:],
                bound=30,
            )
        except AssertionError:
            resumed = False
        injected.append(f"live stream after the restart: 'live' seen again: {resumed}")
        assert resumed, listener.events[-5:]
        time.sleep(max(0.0, SETTLE_SECONDS - (time.monotonic() - restarted)))
    finally:
        for c in counters:
            c.stop()
        listener.close()
    # A burst of signed-in requests a minute after the restart: sessions and device tokens.
    urls = [f"{svc.base}/api/v1/auth/me", f"{svc.base}/api/v1/sites/{site}/tally"]
    with ThreadPoolExecutor(max_workers=20) as pool:
        burst = list(
            pool.map(
                lambda i: httpx.get(
                    urls[i % 2], headers=sessions[i % 10] if i % 4 < 2 else device, timeout=20
                ),
                range(200),
            )
        )
    burst_codes = Counter(r.status_code for r in burst)
    injected.append(
        f"burst of 200 signed-in requests {SETTLE_SECONDS}s after the restart: {dict(burst_codes)}"
    )
    cached = [k for k in redis.cli("--scan", "--pattern", "canteen:session:*").split() if k]
    injected.append(f"sessions cached in Redis again: {len(cached)}")
    still = [httpx.get(svc.base + "/api/v1/auth/me", headers=h, timeout=10).status_code for h in sessions]

    audit = dbtool(svc.db_url, "audit")
    by_key: dict[str, list[int]] = audit["by_key"]
    outcomes = [o for c in counters for o in c.outcomes]
    failures = [e for c in counters for e in c.errors_5xx] + [e for c in counters for e in c.signed_out]
    for o in outcomes:
        meals = by_key.get(o.key, [])
        if o.final_status in (200, 201) and meals != [o.meal_id]:
            failures.append(f"{o.key}: client got meal {o.meal_id}, database has {meals}")
        elif len(meals) > 1:
            failures.append(f"{o.key}: {len(meals)} meals for one key")
        if o.final_status not in (200, 201):
            failures.append(f"{o.key}: ended {o.final_status} {o.code} ({o.attempts})")
    failures.extend(
        f"elder {e}: {n} subsidised meals" for e, n in audit["subsidised_by_elder"].items() if n != 1
    )
    failures.extend(f"balance != ledger: {m}" for m in audit["balance_mismatches"])
    if not audit["ledger_balanced"]:
        failures.append("ledger is not balanced")
    statuses = sum((c.statuses for c in counters), Counter())
    print("\n=== fault: redis down 60 s, 20 counters ===")
    for line in injected:
        print(f"  injected: {line}")
    print(f"  counters: {len(outcomes)} scans, attempts {dict(statuses)}")
    print(f"  sessions after the test: {still}")
    print(f"  checks:   {'all passed' if not failures else f'{len(failures)} FAILED'}")
    for f in failures[:20]:
        print(f"    - {f}")
    assert during > 0
    assert not failures
    assert still == [200] * 10, "a session was signed out"
    assert burst_codes == Counter({200: 200}), dict(burst_codes)
    assert cached, "sessions were not cached in Redis again after it came back"


def test_postgres_restarted_under_load(rig: Any) -> None:
    pg, _redis, svc, seed = rig
    load = _load(svc, seed, 1)
    injected: list[str] = []
    load.start()
    try:
        _wait_served(load, 20)
        before = load.served()
        pg.stop("fast")
        injected.append(f"pg_ctl stop -m fast on :{pg.port} after {before} meals")
        ready = httpx.get(svc.base + "/readyz", timeout=15)
        injected.append(f"/readyz while down: {ready.status_code}")
        assert ready.status_code == 503
        time.sleep(1.0)  # let the clients run into the outage for a while
    finally:
        if not pg.running():
            pg.start()
    injected.append("pg_ctl start")
    wait_until(
        "/readyz after the database restart", lambda: httpx.get(svc.base + "/readyz").status_code == 200
    )
    load.join()
    audit = dbtool(svc.db_url, "audit")
    failures = check_against_db(load, audit)
    summary = load.summary()
    _report("postgres restart", injected, load, audit, failures)
    assert (
        summary["attempts"].get("503", 0) + sum(v for k, v in summary["attempts"].items() if not k.isdigit())
        > 0
    ), "the restart was not seen by any client"
    assert "500" not in summary["attempts"]
    assert not failures


def test_worker_killed_mid_request(rig: Any) -> None:
    _pg, _redis, svc, seed = rig
    load = _load(svc, seed, 2)
    injected: list[str] = []
    workers = svc.worker_pids()
    load.start()
    _wait_served(load, 20)
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    injected.append(f"SIGKILL uvicorn worker pid {victim} of {workers} after {load.served()} meals")
    wait_until(
        "the supervisor to replace the killed worker",
        lambda: victim not in svc.worker_pids() and len(svc.worker_pids()) >= 2,
    )
    injected.append(f"workers now {svc.worker_pids()}")
    load.join()
    audit = dbtool(svc.db_url, "audit")
    failures = check_against_db(load, audit)
    _report("worker SIGKILL", injected, load, audit, failures)
    assert not failures
    assert httpx.get(svc.base + "/readyz", timeout=10).status_code == 200


def test_restore_drill_passes() -> None:
    """scripts/restore_drill.sh on a private cluster: demo data dumped, restored into a new
    database, row counts and ledger sums compared."""
    pg = PgInstance()
    try:
        pg.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CANTEEN_", "PYTEST_"))}
        env["CANTEEN_DRILL_SERVER"] = f"{pg.url}"
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "restore_drill.sh")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print("\n" + out.stdout + out.stderr[-2000:])
        assert out.returncode == 0
        assert "restore drill PASSED" in out.stdout
    finally:
        pg.destroy()
