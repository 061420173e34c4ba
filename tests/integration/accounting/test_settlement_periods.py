"""Statements for a month, a quarter or a run of months: a quarter lists its months, each month's
subtotal equals that month's own statement, periods never overlap, flags of every month block."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.accounting.settlement import draft_statement, period_months, submit_statement
from canteen.accounting.tables import OperatingSubsidyRule, Settlement, SettlementLine
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.periods import quarter_months
from canteen.meals import rollups
from tests.factories import World
from tests.integration.accounting.test_accounting import _meals

JUL = dt.date(2026, 7, 1)


async def _quarter(w: World) -> None:
    # The _meals helper: meals at sites A and B from 1 July over 92 days (to 30 September).
    await _meals(w, JUL, 92)
    await rollups.rollup_range(w.district_x, JUL, dt.date(2026, 9, 30))
    await OperatingSubsidyRule.insert(
        OperatingSubsidyRule(
            district=w.district_x,
            kind="monthly_per_open_point",
            amount_fen=30_000,
            effective_from="2026-01",
            source="district",
            created_at=utcnow(),
        )
    )


def test_a_quarter_lists_its_months_and_equals_them(world: World, run: Any) -> None:
    run(lambda: _quarter(world))
    official = run(lambda: load_principal(world.users["official_x"]))
    months = {}
    for m in ("2026-07", "2026-08", "2026-09"):
        view = run(lambda m=m: draft_statement(official, world.operator_x, m, "district"))
        months[m] = (view.total_fen, view.meals)

    async def drop() -> None:  # the monthly drafts make way for the quarter (periods never overlap)
        await SettlementLine.delete(force=True)
        await Settlement.delete(force=True)

    run(drop)
    q = run(lambda: draft_statement(official, world.operator_x, "2026-07", "district", until="2026-09"))
    assert (q.month, q.until, q.months) == ("2026-07", "2026-09", ["2026-07", "2026-08", "2026-09"])
    assert q.by_month == {m: total for m, (total, _) in months.items()}
    assert q.total_fen == sum(t for t, _ in months.values()) and q.meals == sum(n for _, n in months.values())
    assert {li.month for li in q.lines} == set(q.months)
    # The quarter's operating subsidy: every open month of every point.
    assert q.operating_fen == 30_000 * 3 * 2

    # Overlaps are refused, the same period is recomputed.
    with pytest.raises(DomainError) as err:
        run(lambda: draft_statement(official, world.operator_x, "2026-08", "district"))
    assert err.value.code == "settlement_overlap" and err.value.detail["settlement_id"] == q.id
    again = run(lambda: draft_statement(official, world.operator_x, "2026-07", "district", until="2026-09"))
    assert again.id == q.id and again.total_fen == q.total_fen
    # Another funder has its own periods.
    aug = run(lambda: draft_statement(official, world.operator_x, "2026-08", "city"))
    assert aug.months == ["2026-08"]
    # Submitted, the quarter is locked like a month.
    operator = run(lambda: load_principal(world.users["operator_a"]))
    run(lambda: submit_statement(operator, q.id))
    with pytest.raises(DomainError) as locked:
        run(lambda: draft_statement(official, world.operator_x, "2026-07", "district", until="2026-09"))
    assert locked.value.code == "settlement_locked"


def test_periods_are_checked() -> None:
    assert quarter_months("2026-08") == ("2026-07", "2026-09")
    assert quarter_months("2026-12") == ("2026-10", "2026-12")
    assert period_months("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    for bad in ("2026-06", "2027-12"):
        with pytest.raises(DomainError) as err:
            period_months("2026-07", bad)
        assert err.value.code == "settlement_period_invalid" and err.value.detail["field"] == "until"


def test_a_quarter_over_http_and_on_the_page(client: Any, world: World, run: Any, login: Any) -> None:
    import re

    from tests.integration.accounts.test_auth import _page_login

    run(lambda: _quarter(world))
    official = login("official_x")
    body = {"operator_id": world.operator_x, "month": "2026-08", "source": "district", "period": "quarter"}
    r = client.post("/api/v1/settlements", json=body, headers=official)
    assert r.status_code in (200, 201), r.text
    q = r.json()
    assert (q["month"], q["until"]) == ("2026-07", "2026-09") and len(q["by_month"]) == 3
    bad = client.post(
        "/api/v1/settlements",
        json={**body, "source": "city", "period": "range", "month": "2026-09", "until": "2026-07"},
        headers={**official, "Accept-Language": "en"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "settlement_period_invalid"
    assert "last month" in bad.json()["message"]
    _page_login(client, "official_x")
    page = client.get(f"/accounting/settlements/{q['id']}")
    words = re.sub(r"<[^>]*>", " ", page.text)
    assert page.status_code == 200 and "2026-07–2026-09" in words and "本期各月" in words
