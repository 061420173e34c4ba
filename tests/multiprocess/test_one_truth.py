"""Many processes, one truth: two ``canteen serve`` processes on separate ports share
one PostgreSQL and one Redis. Sessions, login rate limits, idempotency and live events
work across them, and the one-subsidised-meal rule holds when one card is scanned at
both at once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fault.harness import Service, SseListener, dbtool, stack

pytestmark = [pytest.mark.multiprocess, pytest.mark.postgres]


@pytest.fixture(scope="module")
def two() -> Iterator[tuple[Service, Service, dict[str, Any]]]:
    with stack(n_elders=12, services=2, workers=1) as (_pg, _redis, services, seed):
        yield services[0], services[1], seed


def _login(svc: Service, username: str, password: str) -> httpx.Response:
    return httpx.post(
        svc.base + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )


def _scan(
    svc: Service, seed: dict[str, Any], elder: int, key: str, site: int | None = None
) -> httpx.Response:
    return httpx.post(
        svc.base + "/api/v1/checkins",
        json={"site_id": site or seed["sites"][0], "card": seed["cards"][str(elder)], "payment": "balance"},
        headers={"Authorization": f"Bearer {seed['token']}", "Idempotency-Key": key},
        timeout=20,
    )


def test_a_session_made_on_one_process_works_on_the_other(two: Any) -> None:
    p1, p2, seed = two
    token = _login(p1, "cashier_a", seed["password"]).json()["token"]
    me = httpx.get(p2.base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    print(f"\nlogin on :{p1.port}, /me on :{p2.port} -> {me.status_code}")
    assert me.status_code == 200 and me.json()["username"] == "cashier_a"
    out = httpx.post(
        p2.base + "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    again = httpx.get(p1.base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    print(f"logout on :{p2.port} -> {out.status_code}; /me on :{p1.port} -> {again.status_code}")
    assert again.status_code == 401


def test_login_failures_count_across_processes(two: Any) -> None:
    p1, p2, seed = two
    codes = [_login(p, "cashier_b", "wrong-password-1").json()["code"] for p in (p1, p2, p1, p2, p1)]
    after = _login(p2, "cashier_b", seed["password"])
    print(
        f"\n5 failed logins alternating :{p1.port}/:{p2.port}: {codes}; "
        f"right password on :{p2.port} -> {after.status_code}"
    )
    assert codes == ["invalid_credentials"] * 5
    assert after.status_code == 429 and after.json()["code"] == "too_many_attempts"
    assert after.headers.get("Retry-After")


def test_an_idempotency_replay_on_the_other_process_returns_the_first_answer(two: Any) -> None:
    p1, p2, seed = two
    key = f"mp-{uuid.uuid4().hex}"
    first = _scan(p1, seed, seed["elders"][0], key)
    replay = _scan(p2, seed, seed["elders"][0], key)
    print(
        f"\nscan on :{p1.port} -> {first.status_code} meal {first.json().get('meal_id')}; "
        f"same key on :{p2.port} -> {replay.status_code} meal {replay.json().get('meal_id')}"
    )
    assert first.status_code == 201
    assert replay.status_code in (200, 201) and replay.json()["meal_id"] == first.json()["meal_id"]
    audit = dbtool(p1.db_url, "audit")
    assert audit["by_key"][key] == [first.json()["meal_id"]]


def test_live_events_from_one_process_reach_a_subscriber_on_the_other(two: Any) -> None:
    p1, p2, seed = two
    site = seed["sites"][0]
    listener = SseListener(
        f"{p2.base}/api/v1/sites/{site}/live", {"Authorization": f"Bearer {seed['token']}"}, bound=30
    )
    try:
        assert listener.status == 200, listener.error
        # The stream's headers can reach us a moment before the subscription is in place:
        # scan further elders until one of their events arrives (bounded).
        seen = None
        for elder in seed["elders"][1:6]:
            meal = _scan(p1, seed, elder, f"mp-live-{uuid.uuid4().hex}", site=site).json()["meal_id"]
            if listener.wait_for(f'"meal_id":{meal}', bound=5) or listener.wait_for(
                f'"meal_id": {meal}', bound=1
            ):
                seen = meal
                break
        print(
            f"\nSSE on :{p2.port}, check-ins on :{p1.port}: {len(listener.events)} events, meal {seen} seen"
        )
        assert seen is not None, (listener.events, listener.error)
    finally:
        listener.close()


def test_one_card_scanned_at_both_processes_at_once_gives_one_subsidised_meal(two: Any) -> None:
    p1, p2, seed = two
    elder = seed["elders"][-1]
    n = 20
    with ThreadPoolExecutor(max_workers=n) as pool:
        rs = list(
            pool.map(
                lambda i: _scan(
                    (p1, p2)[i % 2], seed, elder, f"mp-race-{uuid.uuid4().hex}", site=seed["sites"][i % 3]
                ),
                range(n),
            )
        )
    codes = Counter(r.status_code for r in rs)
    refusals = Counter(r.json().get("code") for r in rs if r.status_code != 201)
    audit = dbtool(p1.db_url, "audit")
    print(
        f"\n{n} concurrent scans of one card split over :{p1.port} and :{p2.port}: "
        f"{dict(codes)} {dict(refusals)}; "
        f"subsidised meals for the elder in the database: {audit['subsidised_by_elder'].get(str(elder))}; "
        f"balance mismatches {len(audit['balance_mismatches'])}, ledger balanced {audit['ledger_balanced']}"
    )
    assert codes[201] == 1
    assert set(refusals) == {"already_served"}
    assert audit["subsidised_by_elder"][str(elder)] == 1
    assert audit["balance_mismatches"] == [] and audit["ledger_balanced"]
