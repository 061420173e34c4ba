"""Follow a page's redirect to a job run (``/jobs/{id}``) until the run ends, as the progress
page's polling does; then the run (its JSON) for the test to follow the result link."""

from __future__ import annotations

import time
from typing import Any


def wait_run(client: Any, location: str, timeout: float = 120.0) -> dict[str, Any]:
    assert location.startswith("/jobs/"), location
    run_id = location.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{run_id}").json()
        if body.get("status") in ("done", "failed"):
            page = client.get(location)
            assert page.status_code == 200
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {run_id} did not finish in {timeout} s: {body}")


def wait_api_run(client: Any, run_id: str, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``GET /api/v1/jobs/{id}`` until the run is done or failed; its JSON."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{run_id}", headers=headers).json()
        if body.get("status") in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {run_id} did not finish in {timeout} s: {body}")
