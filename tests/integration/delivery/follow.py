"""Follow a queued route plan (202) to its end from a helper that has the client but not the
``finish_job`` fixture (tests/conftest.py does the same for test functions)."""

from __future__ import annotations

import time
from typing import Any


def planned(client: Any, response: Any, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:
    """The finished plan run's result (the plan: ``rounds``, ``unassigned_order_ids`` …)."""
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{run_id}", headers=headers).json()
        if body.get("status") in ("done", "failed"):
            assert body["status"] == "done", body
            return dict(body["result"])
        time.sleep(0.05)
    raise AssertionError(f"route plan {run_id} did not finish in {timeout} s: {body}")
