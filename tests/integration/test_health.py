from __future__ import annotations

from typing import Any


def test_healthz_is_alive(client: Any) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


def test_readyz_names_each_check(client: Any) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is True
    names = {c["name"] for c in body["checks"]}
    assert names == {"database", "migrations", "redis", "jobs", "caches"}
