"""A 40,000-elder district through the missed-meal job on PostgreSQL (issue #15).

The job picks the at-risk regulars who did not eat in SQL over the district, in windows of a few
thousand elders, and inserts their alerts ON CONFLICT DO NOTHING: the right elders are alerted,
each once, and a second run (a retry, another worker) alerts nobody again.
"""

from __future__ import annotations

from typing import Any

import pytest

from canteen.core import queue
from canteen.delivery import missed
from canteen.delivery.tables import Alert
from tests.integration.jobs import city

pytestmark = pytest.mark.postgres

N = 40_000


def test_forty_thousand_elders_through_the_missed_meal_job(run: Any, world: Any) -> None:
    ids = run(lambda: city.build(world, N))
    assert len(ids) == N and N > 4 * missed.CHUNK  # several windows
    want = city.expected(N)
    args = {"district_id": world.district_x, "day": city.DAY.isoformat(), "now": city.AFTER_LUNCH.isoformat()}

    first = run(lambda: queue.run_now("schedule.missed_meals", args, district_id=world.district_x))
    assert first.status == "done", first
    assert first.result == {"raised": len(want)}
    rows = run(
        lambda: (
            Alert.select(Alert.elder, Alert.slot, Alert.detail)
            .where(Alert.kind == "missed_meal")
            .output(load_json=True)
        )
    )
    g_of = {e: g for g, e in ids.items()}
    alerted = {g_of[int(r["elder"])]: r["detail"]["reason"] for r in rows}
    assert len(rows) == len(alerted)  # none twice
    assert alerted == want
    assert {r["slot"] for r in rows} == {"lunch"}  # breakfast: nobody has a breakfast habit here

    again = run(lambda: queue.run_now("schedule.missed_meals", args, district_id=world.district_x))
    assert again.status == "done" and again.result == {"raised": 0}
    assert run(lambda: Alert.count().where(Alert.kind == "missed_meal")) == len(want)
