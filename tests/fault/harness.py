# ruff: noqa: S603, S607 - this module starts our own database, Redis and service processes
"""Isolated PostgreSQL and Redis instances and real ``canteen serve`` processes.

The fault suite stops and starts its database and Redis, so it never touches the
machine's shared services: it builds a throw-away PostgreSQL cluster (``initdb``
from the installed binaries, run as the ``postgres`` user when we are root) and a
throw-away ``redis-server``, each on a free loopback port, and removes them at the
end. The same pieces serve the multi-process suite.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python")
CANTEEN = str(ROOT / ".venv" / "bin" / "canteen")
DEADLINE = 60.0  # the bound on any wait for a service to come (back) up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Any, bound: float = DEADLINE, step: float = 0.2) -> None:
    """Poll ``check()`` until truthy; fail with ``what`` after ``bound`` seconds (a bound, not a timing)."""
    end = time.monotonic() + bound
    last: Any = None
    while time.monotonic() < end:
        try:
            if check():
                return
        except Exception as exc:  # any failure means "not yet"
            last = exc
        time.sleep(step)
    raise AssertionError(f"gave up waiting for {what} after {bound:.0f}s (last error: {last!r})")


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class PgInstance:
    """A private PostgreSQL cluster: initdb into a temp dir, start on a free port."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="canteen-fault-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True).returncode == 0

    def createdb(self, name: str) -> str:
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
        )
        return f"{self.url}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisInstance:
    """A private redis-server (no persistence) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until("redis to accept connections", self.ping, bound=20)

    def ping(self) -> bool:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() == "PONG"

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, check=False
        ).stdout

    def stop(self) -> None:
        self.cli("shutdown", "nosave")
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def _children(pid: int) -> list[int]:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat).read_text()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(Path(stat).parent.name))
    return sorted(out)


@dataclass
class Service:
    """``canteen serve --workers N`` on a free loopback port."""

    db_url: str
    redis_url: str | None
    workers: int = 2
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CANTEEN_", "PYTEST_"))}
        env.update(
            CANTEEN_DATABASE_URL=self.db_url,
            CANTEEN_ENV="test",
            CANTEEN_LOG_LEVEL="WARNING",
            CANTEEN_DB_POOL_MIN="1",
            CANTEEN_DB_POOL_MAX="8",
        )
        if self.redis_url:
            env["CANTEEN_REDIS_URL"] = self.redis_url
        return env

    def start(self) -> None:
        fd, name = tempfile.mkstemp(prefix=f"canteen-serve-{self.port}-", suffix=".log")
        self.log = Path(name)
        self.proc = subprocess.Popen(
            [
                CANTEEN,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.env(),
            cwd=ROOT,
            stdout=fd,
            stderr=subprocess.STDOUT,
        )
        os.close(fd)
        wait_until(f"canteen serve on :{self.port}", self.healthy)
        if self.workers > 1:  # with one worker uvicorn serves in the master process itself
            wait_until(
                f"{self.workers} workers on :{self.port}", lambda: len(self.worker_pids()) >= self.workers
            )

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"canteen serve exited {self.proc.returncode}: {self.log_tail()}")
        return httpx.get(self.base + "/healthz", timeout=2).status_code == 200

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        # uvicorn's supervisor forks workers from the master; skip its resource-tracker helper.
        pids = []
        for p in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes():
                    pids.append(p)
        return pids

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log and self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            workers = self.worker_pids()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                # A graceful shutdown waits for open streams (SSE); ours are done with.
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def dbtool(db_url: str, *args: str) -> dict[str, Any]:
    """Run tests.fault.dbtool in a child process against ``db_url``; return its JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANTEEN_", "PYTEST_"))}
    env.update(CANTEEN_DATABASE_URL=db_url, CANTEEN_ENV="test", CANTEEN_LOG_LEVEL="WARNING")
    out = subprocess.run(
        [PY, "-m", "tests.fault.dbtool", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"dbtool {args} failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def stack(
    n_elders: int, services: int = 1, workers: int = 2
) -> Iterator[tuple[PgInstance, RedisInstance, list[Service], dict[str, Any]]]:
    """A private PostgreSQL + Redis, a seeded database and ``services`` canteen processes."""
    pg = PgInstance()
    redis = RedisInstance()
    started: list[Service] = []
    try:
        pg.start()
        redis.start()
        db_url = pg.createdb("canteen")
        seed = dbtool(db_url, "seed", str(n_elders))
        for _ in range(services):
            svc = Service(db_url, redis.url, workers=workers)
            started.append(svc)  # stopped in finally even if it fails to come up
            svc.start()
        print(
            f"\n[stack] postgres :{pg.port} ({pg.dir}), redis :{redis.port}, "
            f"services {[s.port for s in started]} x{workers} workers, {n_elders} elders seeded",
            file=sys.stderr,
        )
        yield pg, redis, started, seed
    finally:
        for svc in started:
            svc.stop()
            if svc.log is not None and "unhandled error" in svc.log_tail(10**7):
                print(
                    f"[stack] kept the log of :{svc.port} (it has unhandled errors): {svc.log}",
                    file=sys.stderr,
                )
            elif svc.log is not None:
                svc.log.unlink(missing_ok=True)
        redis.stop()
        pg.destroy()


class SseListener:
    """Subscribe to a server-sent-events URL in a thread and collect ``data:`` lines."""

    def __init__(self, url: str, headers: dict[str, str], bound: float = 30.0) -> None:
        import threading

        self.url, self.headers, self.bound = url, headers, bound
        self.events: list[str] = []
        self.status: int | None = None
        self.error: str | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.connected.wait(10)

    def _run(self) -> None:
        try:
            timeout = httpx.Timeout(self.bound, connect=5.0)
            with httpx.stream("GET", self.url, headers=self.headers, timeout=timeout) as r:
                self._response = r
                self.status = r.status_code
                self.connected.set()
                end = time.monotonic() + self.bound
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        self.events.append(line[5:].strip())
                    if self._stop.is_set() or time.monotonic() > end:
                        return
        except Exception as exc:  # reported to the test through .error
            self.error = repr(exc)
        finally:
            self.connected.set()

    def wait_for(self, needle: str, bound: float | None = None) -> bool:
        end = time.monotonic() + (bound or self.bound)
        while time.monotonic() < end:
            if any(needle in e for e in self.events):
                return True
            if not self._thread.is_alive():
                return any(needle in e for e in self.events)
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._stop.set()
        response = getattr(self, "_response", None)
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()  # unblocks the reader; the server sees the client leave
        self._thread.join(5)
