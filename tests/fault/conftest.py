"""The fault suite stops and starts PostgreSQL and Redis (private instances of its own),
so it runs only when asked: CANTEEN_FAULT_TESTS=1, serially (``-p no:xdist``).
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
