"""Operating subsidies pay for what the policy says: subsidised meals, diners per day, open months.

One point (site A) in September 2026: elder E1 eats a subsidised lunch and dinner on the 1st and a
subsidised lunch on the 2nd; elder E2 a subsidised lunch on the 1st plus a full-price second lunch;
two walk-ins; one voided subsidised meal. So: 4 subsidised meals (per_meal), 3 diner-days
(E1 on the 1st and 2nd, E2 on the 1st: per_diner_day), 1 open month. Walk-ins, the full-price
meal and the voided meal earn nothing. The same figures reach the viability report, the
spending-by-funder cells and the operator's statement for each funder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounting.kpis import RULE_KINDS, diner_days_by_site, viability_report
from canteen.accounting.settlement import draft_statement
from canteen.accounting.tables import OperatingSubsidyRule
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.meals import rollups
from canteen.meals.tables import Meal
from tests.factories import World
from tests.integration.cards.elders import add_elder

UTC = dt.UTC
SEP1, SEP2 = dt.date(2026, 9, 1), dt.date(2026, 9, 2)


async def _month(w: World) -> None:
    e1 = await add_elder(district=w.district_x, community=w.community_x, name="甲", categories=("dibao",))
    e2 = await add_elder(district=w.district_x, community=w.community_x, name="乙", categories=("dibao",))

    def meal(elder: int | None, day: dt.date, slot: str, sub: int, *, voided: bool = False) -> Meal:
        at = dt.datetime.combine(day, dt.time(4 if slot == "lunch" else 10, 0), UTC)
        return Meal(
            district=w.district_x,
            site=w.site_a,
            elder=elder,
            service_date=day,
            slot=slot,
            served_at=at,
            list_price_fen=1500,
            subsidy_fen=sub,
            copay_fen=1500 - sub,
            funding=[{"source": "city", "fen": sub}] if sub else [],
            payment="cash",
            subsidised=bool(sub),
            tier_code="dibao" if sub else None,
            categories=["dibao"] if elder else [],
            operator=w.operator_x,
            voided_at=at + dt.timedelta(minutes=3) if voided else None,
        )

    await Meal.insert(
        meal(e1, SEP1, "lunch", 500),
        meal(e1, SEP1, "dinner", 500),
        meal(e1, SEP2, "lunch", 500),
        meal(e2, SEP1, "lunch", 500),
        meal(e2, SEP1, "lunch", 0),  # a second lunch at full price
        meal(None, SEP1, "lunch", 0),  # walk-ins
        meal(None, SEP2, "lunch", 0),
        meal(e2, SEP2, "lunch", 500, voided=True),
    )
    await rollups.rollup_range(w.district_x, SEP1, dt.date(2026, 9, 30))
    rules = [
        ("per_meal", 100, "district"),
        ("per_diner_day", 70, "street"),
        ("monthly_per_open_point", 50_000, "city"),
    ]
    await OperatingSubsidyRule.insert(
        *[
            OperatingSubsidyRule(
                district=w.district_x,
                kind=kind,
                amount_fen=fen,
                effective_from="2026-01",
                source=source,
                created_at=utcnow(),
            )
            for kind, fen, source in rules
        ]
    )


def test_each_kind_pays_for_what_it_names(world: World, run: Any) -> None:
    run(lambda: _month(world))
    assert run(lambda: diner_days_by_site(world.district_x, SEP1, dt.date(2026, 9, 30))) == {world.site_a: 3}
    official = run(lambda: load_principal(world.users["official_x"]))
    report = run(lambda: viability_report(official, world.district_x, "2026-09"))
    point = next(p for p in report.points if p.site_id == world.site_a)
    assert (point.meals, point.subsidised_meals) == (7, 4)
    assert point.operating_subsidy_fen == 4 * 100 + 3 * 70 + 50_000

    by_source: dict[str, int] = {}
    for source in ("district", "street", "city"):
        statement = run(lambda s=source: draft_statement(official, world.operator_x, "2026-09", s))
        by_source[source] = statement.operating_fen
    assert by_source == {"district": 400, "street": 210, "city": 50_000}


def test_an_operating_rule_of_a_new_kind_is_taken_by_the_api(client: Any, world: World, login: Any) -> None:
    official = login("official_x")
    assert "per_diner_day" in RULE_KINDS
    body = {
        "district_id": world.district_x,
        "kind": "per_diner_day",
        "amount_fen": 80,
        "source": "street",
        "effective_from": "2026-10",
    }
    r = client.post("/api/v1/operating-rules", json=body, headers=official)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "per_diner_day"
    bad = client.post("/api/v1/operating-rules", json={**body, "kind": "per_visit"}, headers=official)
    assert bad.status_code in (400, 422) and "kind" in bad.text


def test_the_official_adds_and_reads_operating_subsidies_in_words(client: Any, world: World) -> None:
    import re

    from tests.integration.accounts.test_auth import _page_login

    _page_login(client, "official_x")
    url = f"/accounting/operating-rules?district_id={world.district_x}"
    empty = client.get(url)
    assert empty.status_code == 200 and "尚无运营补贴" in empty.text

    def post(**fields: str) -> Any:
        form = {
            "district_id": str(world.district_x),
            "kind": "per_diner_day",
            "amount": "0.70",
            "source": "street",
            "site_id": "",
            "effective_from": "2026-10",
            "effective_until": "",
            "years": "1",
            "_csrf_token": client.cookies.get("csrftoken") or "",
        }
        return client.post("/accounting/operating-rules", data={**form, **fields})

    added = post()
    assert added.status_code == 200, added.text[:300]
    words = re.sub(r"<[^>]*>", " ", added.text)
    assert "按每日就餐长者人数" in words and "0.70" in words and "街道" in words and "全部助餐点" in words
    assert "per_diner_day" not in words and "street" not in words

    wrong = post(amount="-1", effective_until="2026-01")
    assert wrong.status_code == 422
    assert "请输入以元为单位的金额" in wrong.text and "不早于起始月份" in wrong.text
    # A point of another district is not offered and not taken.
    foreign = post(site_id=str(world.site_c))
    assert foreign.status_code == 422 and "请选择本区的助餐点" in foreign.text
    # Another district's page is not there for this official.
    assert client.get(f"/accounting/operating-rules?district_id={world.district_y}").status_code == 404
