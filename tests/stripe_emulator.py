"""localstripe on loopback, for the test session (see NOTES.md "Stripe against localstripe").

``python tests/stripe_emulator.py PORT`` serves a clean, in-memory store on 127.0.0.1:PORT
(no pickle file in the system temp folder). :func:`localstripe` starts it as a subprocess
and yields its base URL; :func:`register_webhook` points its signed events at our server;
:func:`sign` signs a payload with Stripe's real scheme for the duplicate/forged cases.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def localstripe() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own runner, fixed arguments
        [sys.executable, __file__, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("localstripe exited") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def register_webhook(base: str, url: str, secret: str, hook_id: str = "canteen") -> None:
    body = urlencode({"url": url, "secret": secret}).encode()
    req = urllib.request.Request(f"{base}/_config/webhooks/{hook_id}", data=body, method="POST")  # noqa: S310
    req.add_header("Authorization", "Bearer sk_test_canteen")
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback http only
        r.read()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources
    from localstripe.server import app

    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.store.clear()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
