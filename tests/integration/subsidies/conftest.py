from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Iterator[None]:
    # Tables are emptied between tests but the per-process policy cache is not.
    from canteen.subsidies.services import clear_policy_cache

    clear_policy_cache()
    yield
    clear_policy_cache()
