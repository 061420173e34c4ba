"""Fuzz the published API with schemathesis, once per role.

Starts Canteen on a loopback port against a fresh SQLite file (or, when
CANTEEN_TEST_DATABASE_URL is set, a fresh PostgreSQL database next to the test
lane's), loads the demo district (`canteen demo --no-serve`), serves it
(`canteen serve`), signs in as every demo role and runs schemathesis against
/schema/openapi.json with each bearer token (and once without one).

Checks: no 5xx, every response conforms to the schema, and every 4xx/5xx JSON
body carries a stable `code` registered in canteen.core.errors.ERRORS (the
custom check in tests/security/fuzz_hooks.py).

    .venv/bin/python scripts/fuzz.py [--max-examples 25] [--seed 20261123] [--roles admin,cashier]

Prints one line per role and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
HOOKS = REPO / "tests" / "security" / "fuzz_hooks.py"
ROLES = [
    "admin",
    "official",
    "operator",
    "cashier",
    "kitchen",
    "courier",
    # The demo's community worker and volunteer (scoped to one community).
    "community",
    "volunteer",
    "anonymous",
]
PASSWORD = "demo"  # noqa: S105 - the demo district's development password
CHECKS = "not_a_server_error,response_schema_conformance,stable_error_code"
# Operations that end the caller's own session or rewrite its grants (a fuzzed admin would lock
# itself out): every role skips them, then one last admin pass fuzzes only them.
SESSION_ENDING = [
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("PUT", "/api/v1/users/{user_id}/grants"),
]
# /readyz answers 503 with its check list when a dependency is down: that is its contract, not a
# fault (tests/integration/test_health.py covers it). Everything else is fuzzed.
# Server-sent event streams never end, so every generated case would wait for the request timeout.
NOT_FUZZED = [
    ("GET", "/readyz"),
    ("GET", "/api/v1/sites/{site_id}/live"),
    ("GET", "/api/v1/districts/{district_id}/live"),
    # Answers 503 `card_not_configured` when Stripe is not configured (as here); with Stripe it
    # verifies signatures (tests/integration/payments cover it against localstripe).
    ("POST", "/api/v1/payments/stripe/webhook"),
]


def _filter(pairs: list[tuple[str, str]], how: str) -> list[str]:
    return [arg for m, p in pairs for arg in (f"--{how}-name", f"{m} {p}")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_database(workdir: Path) -> str:
    pg = os.environ.get("CANTEEN_TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{workdir / 'fuzz.sqlite3'}"
    import asyncpg

    parsed = urlparse(pg)
    name = f"{parsed.path.lstrip('/') or 'test'}_canteen_fuzz"

    async def create() -> None:
        conn = await asyncpg.connect(pg)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return urlunparse(parsed._replace(path="/" + name))


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fuzz: the service exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit("fuzz: the service did not become healthy in time")


def _login(base: str, username: str) -> str:
    req = urllib.request.Request(  # noqa: S310 - loopback
        base + "/api/v1/auth/login",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
        return str(json.loads(r.read())["token"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-examples", type=int, default=15)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--roles", default=",".join(ROLES))
    ap.add_argument(
        "--role-timeout", type=float, default=420, help="seconds per role before it counts as failed"
    )
    # The coverage phase multiplies the run time several times over: opt in with --phases.
    ap.add_argument("--phases", default="examples,fuzzing")
    # One worker per role: hypothesis' lambda introspection is not thread-safe ("AST constructor
    # recursion depth mismatch" runtime errors with several workers); roles run in parallel instead.
    ap.add_argument("--workers", default="1", help="schemathesis workers per role")
    ap.add_argument("--parallel", type=int, default=9, help="roles fuzzed at the same time")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (reports, server log)")
    args = ap.parse_args()

    workdir = Path(
        tempfile.mkdtemp(prefix="canteen-fuzz-", dir=REPO / "var" if (REPO / "var").exists() else None)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANTEEN_")}
    port = _free_port()
    env.update(
        CANTEEN_DATABASE_URL=_fresh_database(workdir),
        CANTEEN_ENV="development",
        CANTEEN_HOST="127.0.0.1",
        CANTEEN_PORT=str(port),
        CANTEEN_LOG_LEVEL="WARNING",
    )
    if os.environ.get("CANTEEN_TEST_REDIS_URL"):
        env["CANTEEN_REDIS_URL"] = os.environ["CANTEEN_TEST_REDIS_URL"]
    base = f"http://127.0.0.1:{port}"
    print(f"fuzz: database {env['CANTEEN_DATABASE_URL'].split('@')[-1]}, service {base}", flush=True)
    subprocess.run(
        [str(BIN / "canteen"), "demo", "--no-serve"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
    )
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "canteen"), "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    results: dict[str, str] = {}
    failed = False
    try:
        _wait_ready(base, server)
        roles = [r for r in args.roles.split(",") if r]
        tokens = {r: _login(base, r) for r in roles if r != "anonymous"}
        passes = [(r, _filter([*SESSION_ENDING, *NOT_FUZZED], "exclude")) for r in roles]
        if "admin" in tokens:
            passes.append(("admin-session", _filter(SESSION_ENDING, "include")))

        def one(role: str, selection: list[str]) -> tuple[str, int, str, float]:
            cmd = [
                str(BIN / "schemathesis"), "run", base + "/schema/openapi.json",
                "--checks", CHECKS,
                "--max-examples", str(args.max_examples),
                "--seed", str(args.seed),
                "--phases", args.phases,
                "--workers", args.workers,
                "--no-shrink",
                "--request-timeout", "15",
                "--suppress-health-check", "all",
                "--report", "junit",
                "--report-junit-path", str(workdir / f"junit-{role}.xml"),
                "-H", "Accept-Language: en",
                *selection,
            ]  # fmt: skip
            token = tokens.get(role.split("-")[0])
            if token:
                cmd += ["-H", f"Authorization: Bearer {token}"]
            started = time.monotonic()
            try:
                proc = subprocess.run(
                    cmd,
                    env={**env, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"},
                    cwd=REPO,
                    capture_output=True,
                    timeout=args.role_timeout,
                )
                text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
                rc = proc.returncode
            except subprocess.TimeoutExpired as exc:
                text = (exc.stdout or b"").decode(errors="replace") + "\n[timed out]"
                rc = -1
            (workdir / f"schemathesis-{role}.txt").write_text(text)
            return role, rc, text, time.monotonic() - started

        # Roles run side by side; the session-ending pass runs alone, last (it may reset passwords).
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            outcomes = list(pool.map(lambda p: one(*p), passes[: len(roles)]))
        outcomes += [one(*p) for p in passes[len(roles) :]]
        for role, rc, text, took in outcomes:
            summary = next(
                (ln.strip() for ln in reversed(text.splitlines()) if " in " in ln and "=" in ln), ""
            )
            if rc == 0:
                results[role] = f"passed in {took:.0f}s  {summary}"
            else:
                failed = True
                results[role] = f"FAILED (exit {rc}) in {took:.0f}s  {summary}"
                failures = text[text.find("= FAILURES =") :] if "= FAILURES =" in text else text[-4000:]
                print(f"--- {role} ---\n{failures[:8000]}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    print()
    for role, line in results.items():
        print(f"fuzz {role:14s} {line}")
    if not failed and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"fuzz: reports and server log in {workdir}")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
