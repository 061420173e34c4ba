"""Counter clients for the fault suite: threads scanning cards and retrying like a real till.

Each elder is scanned once with a fresh Idempotency-Key. On a 503 (which must carry
Retry-After), a dropped connection or a timeout the client retries with the SAME key,
the way a cashier presses "retry"; a 201/200 or a refusal (4xx with a code) ends it.
Every attempt is recorded, so the test can say what the clients saw.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Outcome:
    elder: int
    key: str
    final_status: int | None = None  # None: gave up without a definitive answer
    meal_id: int | None = None
    code: str | None = None
    attempts: list[str] = field(default_factory=list)


@dataclass
class Load:
    bases: list[str]
    token: str
    sites: list[int]
    cards: dict[str, str]
    elders: list[int]
    threads: int = 8
    retry_bound: float = 60.0
    # Scans started per second over all threads: a queue of people at a till, not a flood. Unpaced,
    # the counter serves a phase's elders before the fault can be injected (seen in CI).
    rate: float = 30.0
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # 5xx other than 503, 503 without Retry-After
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next_start: float = 0.0

    def start(self) -> None:
        work: queue.Queue[int] = queue.Queue()
        for e in self.elders:
            work.put(e)
        rr = itertools.count()
        for _ in range(self.threads):
            t = threading.Thread(target=self._worker, args=(work, rr), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        for t in self._threads:
            t.join()

    def _pace(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_start)
            self._next_start = slot + 1.0 / self.rate
        if slot > now:
            time.sleep(slot - now)

    def served(self) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.final_status in (200, 201))

    def _worker(self, work: queue.Queue[int], rr: Any) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=httpx.Timeout(20.0, connect=3.0)) as client:
            while not self._stop.is_set():
                try:
                    elder = work.get_nowait()
                except queue.Empty:
                    return
                self._pace()
                n = next(rr)
                out = Outcome(elder, f"fault-{uuid.uuid4().hex}")
                body = {
                    "site_id": self.sites[n % len(self.sites)],
                    "card": self.cards[str(elder)],
                    "payment": "balance",
                }
                # The same key goes to whichever process is next: a retry may land elsewhere.
                self._scan(client, headers, body, out, n)
                with self._lock:
                    self.outcomes.append(out)

    def _scan(
        self, client: httpx.Client, headers: dict[str, str], body: dict[str, Any], out: Outcome, n: int
    ) -> None:
        end = time.monotonic() + self.retry_bound
        attempt = 0
        while time.monotonic() < end:
            base = self.bases[(n + attempt) % len(self.bases)]
            attempt += 1
            try:
                r = client.post(
                    base + "/api/v1/checkins", json=body, headers={**headers, "Idempotency-Key": out.key}
                )
            except httpx.HTTPError as exc:
                out.attempts.append(type(exc).__name__)
                time.sleep(0.2)
                continue
            out.attempts.append(str(r.status_code))
            if r.status_code == 503:
                if not r.headers.get("Retry-After"):
                    self._problem(f"503 without Retry-After: {r.text[:200]}")
                time.sleep(0.2)
                continue
            if r.status_code >= 500:
                self._problem(f"{r.status_code} for {out.key}: {r.text[:300]}")
                time.sleep(0.2)
                continue
            out.final_status = r.status_code
            data = r.json()
            out.meal_id = data.get("meal_id") or (data.get("detail") or {}).get("meal_id")
            out.code = data.get("code")
            return

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def summary(self) -> dict[str, Any]:
        attempts = Counter(a for o in self.outcomes for a in o.attempts)
        finals = Counter(str(o.final_status) for o in self.outcomes)
        retried = sum(1 for o in self.outcomes if len(o.attempts) > 1)
        return {
            "scans": len(self.outcomes),
            "final": dict(finals),
            "attempts": dict(attempts),
            "retried_scans": retried,
            "problems": len(self.problems),
        }


def check_against_db(load: Load, audit: dict[str, Any]) -> list[str]:
    """Every 2xx has its meal; one meal per key; one subsidised meal per elder; ledger agrees."""
    failures: list[str] = []
    by_key: dict[str, list[int]] = audit["by_key"]
    for o in load.outcomes:
        meals = by_key.get(o.key, [])
        if o.final_status in (200, 201):
            if meals != [o.meal_id]:
                failures.append(f"{o.key}: client got meal {o.meal_id}, database has {meals}")
        elif len(meals) > 1:
            failures.append(f"{o.key}: {len(meals)} meals for one key")
        if o.final_status is None:
            failures.append(f"{o.key}: no definitive answer within the retry bound ({o.attempts})")
    for key, meals in by_key.items():
        if len(meals) != 1:
            failures.append(f"{key}: {len(meals)} meals written")
    for elder, n in audit["subsidised_by_elder"].items():
        if n != 1:
            failures.append(f"elder {elder}: {n} subsidised meals today")
    failures.extend(f"balance != ledger: {m}" for m in audit["balance_mismatches"])
    if not audit["ledger_balanced"]:
        failures.append("ledger is not balanced (debits != credits)")
    failures.extend(load.problems)
    return failures


@dataclass
class PacedCounter:
    """One till scanning its own elders in turn, one card every ``pace`` seconds, until stopped.

    Sales are cash at full price once the subsidised meal is taken (``full_price_ok``), so an
    elder can be served again and again: every scan is a check-in that writes a meal. Any
    5xx is recorded (the outage test allows none); a 5xx, a dropped connection or a timeout
    is retried with the SAME key, so a meal is never lost or doubled by the retry itself.
    """

    name: str
    base: str
    headers: dict[str, str]
    site: int
    cards: list[str]
    pace: float = 1.0
    outcomes: list[Outcome] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors_5xx: list[str] = field(default_factory=list)
    signed_out: list[str] = field(default_factory=list)  # 401s: the till lost its sign-in
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _run(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(20.0, connect=3.0)) as client:
            n = 0
            while not self._stop.is_set():
                card = self.cards[n % len(self.cards)]
                n += 1
                out = Outcome(elder=-1, key=f"fault-{self.name}-{uuid.uuid4().hex}")
                self._scan(client, card, out)
                self.outcomes.append(out)
                self._stop.wait(self.pace)

    def _scan(self, client: httpx.Client, card: str, out: Outcome) -> None:
        body = {"site_id": self.site, "card": card, "payment": "cash", "full_price_ok": True}
        end = time.monotonic() + 60.0
        while time.monotonic() < end:
            try:
                r = client.post(
                    self.base + "/api/v1/checkins",
                    json=body,
                    headers={**self.headers, "Idempotency-Key": out.key},
                )
            except httpx.HTTPError as exc:
                out.attempts.append(type(exc).__name__)
                self.statuses[type(exc).__name__] += 1
                time.sleep(0.2)
                continue
            out.attempts.append(str(r.status_code))
            self.statuses[str(r.status_code)] += 1
            if r.status_code >= 500:
                self.errors_5xx.append(f"{self.name}: {r.status_code} {r.text[:200]}")
                time.sleep(0.2)
                continue
            if r.status_code == 401:
                self.signed_out.append(f"{self.name}: {r.text[:200]}")
            out.final_status = r.status_code
            data = r.json()
            out.meal_id = data.get("meal_id") or (data.get("detail") or {}).get("meal_id")
            out.code = data.get("code")
            return
