"""Two real service processes on one private PostgreSQL and one private Redis (see
tests/fault/harness.py). Runs only when asked: CANTEEN_FAULT_TESTS=1, serially;
``scripts/test.sh`` does that in its fault lane, after the PostgreSQL lane."""

from __future__ import annotations

import os

import pytest

if os.environ.get("CANTEEN_FAULT_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "multiprocess: several service processes sharing one database and Redis"
    )
