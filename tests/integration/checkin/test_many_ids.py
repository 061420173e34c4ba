"""Lists of ids beyond PostgreSQL's 32,767 bind parameters (issue #12).

asyncpg refuses a statement with more than 32,767 parameters, and ``is_in`` binds one per id;
the places that bind id lists pass them as one array (``core.db.any_of``). This test issues
cards for 40,000 elders and runs the missed-meal job over them, on PostgreSQL, and checks that
an over-long statement that still slips through is reported as ``too_many_ids``, not as the
database being away.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.core.audit import SystemActor
from canteen.core.db import translate_db_error, write_transaction
from canteen.core.errors import DomainError
from canteen.delivery.services import raise_missed_meal_alerts
from canteen.meals.tables import Meal
from canteen.registry.card_services import issue_missing_cards
from canteen.registry.tables import Card, Elder

N = 40_000
ABSENT = 7  # regular diners who did not come: the job raises one alert each

pytestmark = pytest.mark.postgres

DAY = dt.date(2026, 12, 1)
AFTER_LUNCH = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)  # 14:00 in Asia/Shanghai


async def _many_elders(w: Any) -> list[int]:
    """40,000 elders living alone in one community, written by one statement."""
    await Elder.raw(
        "INSERT INTO elder (district, community, name, gender, birth_date, national_id_enc, "
        "national_id_masked, national_id_hash, id_last4, living_situation, status, created_at, updated_at) "
        "SELECT {}, {}, '老人' || g, 'female', DATE '1944-03-01', 'x', "
        "'3301**********' || lpad(g::text, 4, '0'), "
        "md5(g::text), lpad((g % 10000)::text, 4, '0'), 'alone', 'active', now(), now() "
        "FROM generate_series(1, {}) AS g",
        w.district_x,
        w.community_x,
        N,
    )
    rows = await Elder.select(Elder.id).where(Elder.community == w.community_x).order_by(Elder.id)
    return [int(r["id"]) for r in rows]


async def _regulars_who_ate(w: Any, ids: list[int]) -> None:
    """Every elder has a standing lunch order for the weekday; all but ABSENT had lunch today."""
    await Elder.raw(
        "INSERT INTO standing_order (elder, site, slot, weekdays, created_at, updated_at) "
        "SELECT e, {}, 'lunch', '[0, 1, 2, 3, 4, 5, 6]', now(), now() FROM unnest({}::int[]) AS e",
        w.site_a,
        ids,
    )
    # Test data written straight into the table (the services' own writes are tested elsewhere).
    await Elder.raw(
        "INSERT INTO meal (district, site, elder, service_date, slot, mode, served_at, list_price_fen, "
        "copay_fen, payment) "
        "SELECT {}, {}, e, {}, 'lunch', 'dine_in', now(), 1500, 1500, 'cash' FROM unnest({}::int[]) AS e",
        w.district_x,
        w.site_a,
        DAY,
        ids[ABSENT:],
    )


def test_cards_and_the_missed_meal_job_for_forty_thousand_elders(run: Any, world: Any) -> None:
    ids = run(lambda: _many_elders(world))
    assert len(ids) == N

    issued = run(lambda: issue_missing_cards(SystemActor(), ids, now=AFTER_LUNCH, note="issue #12 test"))
    assert issued == N
    assert run(lambda: Card.count().where(Card.revoked_at.is_null())) == N
    numbers = run(lambda: Card.select(Card.number))
    assert len({r["number"] for r in numbers}) == N  # every card its own number
    assert run(lambda: issue_missing_cards(SystemActor(), ids, now=AFTER_LUNCH, note="again")) == 0

    run(lambda: _regulars_who_ate(world, ids))
    assert run(lambda: Meal.count().where(Meal.service_date == DAY)) == N - ABSENT
    out = run(lambda: raise_missed_meal_alerts(world.district_x, DAY, "lunch", now=AFTER_LUNCH))
    assert out.checked == N
    assert len(out.raised) == ABSENT
    again = run(lambda: raise_missed_meal_alerts(world.district_x, DAY, "lunch", now=AFTER_LUNCH))
    assert again.checked == N and again.raised == []


def test_a_statement_beyond_the_parameter_limit_is_too_many_ids(run: Any, world: Any) -> None:
    async def over_the_limit() -> None:
        async with write_transaction():
            await Elder.select(Elder.id).where(Elder.id.is_in(list(range(1, 40_001))))

    with pytest.raises(DomainError) as caught:
        run(over_the_limit)
    assert caught.value.code == "too_many_ids"
    assert translate_db_error(ValueError("unrelated")) is None
