"""One operator, meal points in two districts of one city (issue #11): a site of district Y may be
run by the operator registered in district X, one of another city is refused in words; each
district's official drafts its own statement for the same operator and funder, drawn only from
its district's points, rules and voids, to the fen; neither may draft the other's; the
operator's staff read both; the old call without a district still settles the home district."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from canteen.accounting.settlement import (
    draft_statement,
    get_statement,
    list_statements,
    submit_statement,
)
from canteen.accounting.tables import OperatingSubsidyRule
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.meals import rollups
from canteen.meals.tables import Meal
from canteen.regions.tables import City, District, Operator
from tests.factories import World

UTC = dt.UTC
SEP, OCT = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
SOURCES = ("district", "city")


def _meal(w: World, site: int, district: int, day: dt.date, sub: int, *, voided: bool = False) -> Meal:
    at = dt.datetime.combine(day, dt.time(4, 0), UTC)
    city = sub * 6 // 10
    funding = [{"source": "city", "fen": city}, {"source": "district", "fen": sub - city}] if sub else []
    return Meal(
        district=district,
        site=site,
        elder=None,
        service_date=day,
        slot="lunch",
        mode="dine_in",
        served_at=at,
        list_price_fen=1500,
        subsidy_fen=sub,
        copay_fen=1500 - sub,
        funding=funding,
        payment="cash",
        subsidised=bool(sub),
        tier_code=f"t{sub}" if sub else None,
        categories=["dibao"] if sub else [],
        operator=w.operator_x,
        voided_at=at + dt.timedelta(minutes=5) if voided else None,
    )


async def _meals(w: World, first: dt.date) -> None:
    """A month of lunches at site A (district X) and site C (district Y), both run by operator X;
    subsidies of 3, 5 and 8 yuan (one part in a few voided at once) and some full-price meals."""
    rows = []
    for d in range(28):
        day = first + dt.timedelta(days=d)
        for i in range(3 + d % 4):
            rows.append(_meal(w, w.site_a, w.district_x, day, (300, 500, 800, 0)[i % 4], voided=i == 5))
        for i in range(2 + d % 3):
            rows.append(_meal(w, w.site_c, w.district_y, day, (800, 0, 300)[i % 3]))
    await Meal.insert(*rows)
    last = first + dt.timedelta(days=30)
    for district in (w.district_x, w.district_y):
        await rollups.rollup_range(district, first, last)


async def _expected(w: World, district: int, month_first: dt.date, source: str) -> tuple[int, int]:
    """(meals, fen) the funder owes for the live subsidised meals of the district's month."""
    last = (month_first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    rows = await Meal.select(Meal.funding).where(
        (Meal.operator == w.operator_x)
        & (Meal.district == district)
        & (Meal.service_date >= month_first)
        & (Meal.service_date <= last)
        & Meal.voided_at.is_null()
        & (Meal.subsidised == True)  # noqa: E712 (Piccolo builds SQL from ==)
    )
    parts = [
        int(p["fen"])
        for r in rows
        for p in (json.loads(r["funding"]) if isinstance(r["funding"], str) else r["funding"])
        if p["source"] == source
    ]
    return len(parts), sum(parts)


def _give_site_c_to_operator_x(client: Any, world: World, login: Any) -> None:
    """District Y's official names operator X (registered in X, same city) for its site C."""
    r = client.patch(
        f"/api/v1/sites/{world.site_c}", headers=login("official_y"), json={"operator_id": world.operator_x}
    )
    assert r.status_code == 200, r.text
    assert r.json()["operator_id"] == world.operator_x


def test_a_site_may_name_an_operator_of_its_city_not_of_another(
    client: Any, world: World, login: Any, run: Any
) -> None:
    official_y = login("official_y")
    base = {
        "district_id": world.district_y,
        "name": "北山街道助餐点",
        "kind": "meal_point",
        "point_type": "canteen",
        "operator_id": world.operator_x,
    }
    r = client.post("/api/v1/sites", headers=official_y, json=base)
    assert r.status_code == 201, r.text
    assert (r.json()["district_id"], r.json()["operator_id"]) == (world.district_y, world.operator_x)
    _give_site_c_to_operator_x(client, world, login)

    async def far_operator() -> int:
        city = await City.insert(City(name="宁波市", code="330200")).returning(City.id)
        district = await District.insert(
            District(name="海曙区", code="330203", city="宁波市", city_id=city[0]["id"])
        ).returning(District.id)
        rows = await Operator.insert(Operator(district=district[0]["id"], name="海曙区助餐服务社")).returning(
            Operator.id
        )
        return int(rows[0]["id"])

    far = run(far_operator)
    for lang, words in (("zh-CN", "其他城市"), ("en", "another city")):
        r = client.post(
            "/api/v1/sites",
            headers={**official_y, "Accept-Language": lang},
            json={**base, "name": "越城助餐点", "operator_id": far},
        )
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "operator_other_city" and body["detail"]["field"] == "operator_id"
        assert words in body["message"]
    r = client.patch(f"/api/v1/sites/{world.site_c}", headers=official_y, json={"operator_id": far})
    assert r.status_code == 422 and r.json()["code"] == "operator_other_city"
    # An unknown operator is still simply unknown.
    r = client.post("/api/v1/sites", headers=official_y, json={**base, "operator_id": 999_999})
    assert r.status_code == 404 and r.json()["code"] == "not_found"

    # The operator shows the districts it serves, by name, derived from its sites.
    for who in ("official_x", "official_y", "operator_a", "city_official_h"):
        r = client.get(f"/api/v1/operators/{world.operator_x}", headers=login(who))
        assert r.status_code == 200, (who, r.text)
        op = r.json()
        assert op["district_id"] == world.district_x
        assert [(d["name"], d["sites"]) for d in op["serves"]] == [("拱墅区", 3), ("西湖区", 2)]
    # District Y's official chooses among every operator of the city; lists by district served.
    ops = client.get(f"/api/v1/operators?district_id={world.district_y}", headers=official_y).json()
    assert [o["id"] for o in ops["items"]] == [world.operator_x]
    assert client.get(f"/api/v1/operators/{far}", headers=official_y).status_code == 404
    assert client.get(f"/api/v1/operators/{world.operator_x}", headers=login("cashier_c")).status_code == 200


def test_each_district_settles_its_own_points_of_one_operator(
    client: Any, world: World, login: Any, run: Any
) -> None:
    _give_site_c_to_operator_x(client, world, login)
    run(lambda: _meals(world, SEP))
    # District Y pays its open points a monthly operating subsidy; district X pays none.
    run(
        lambda: OperatingSubsidyRule.insert(
            OperatingSubsidyRule(
                district=world.district_y,
                kind="monthly_per_open_point",
                amount_fen=30_000,
                effective_from="2026-01",
                source="district",
                created_at=utcnow(),
            )
        )
    )
    official_x = run(lambda: load_principal(world.users["official_x"]))
    official_y = run(lambda: load_principal(world.users["official_y"]))
    operator = run(lambda: load_principal(world.users["operator_a"]))
    city = run(lambda: load_principal(world.users["city_official_h"]))
    mine = {world.district_x: {world.site_a}, world.district_y: {world.site_c}}

    views: dict[tuple[int, str], Any] = {}
    for source in SOURCES:
        # The old call, without a district: the operator's home district (X).
        x = run(lambda s=source: draft_statement(official_x, world.operator_x, "2026-09", s))
        y = run(
            lambda s=source: draft_statement(
                official_y, world.operator_x, "2026-09", s, district_id=world.district_y
            )
        )
        views[(world.district_x, source)], views[(world.district_y, source)] = x, y
        for district, view in ((world.district_x, x), (world.district_y, y)):
            assert view.district_id == district and view.operator_id == world.operator_x
            assert {li.site_id for li in view.lines} == mine[district]
            meals, fen = run(lambda d=district, s=source: _expected(world, d, SEP, s))
            assert (view.meals, view.subsidy_fen) == (meals, fen) and fen > 0
            assert sum(li.amount_fen for li in view.lines if li.kind == "meals") == fen
        assert x.id != y.id
        assert (x.district_name, y.district_name) == ("拱墅区", "西湖区")
    # Only district Y's rule, only on its point, only for its funder.
    assert views[(world.district_y, "district")].operating_fen == 30_000
    assert [li.site_id for li in views[(world.district_y, "district")].lines if li.kind == "operating"] == [
        world.site_c
    ]
    assert views[(world.district_x, "district")].operating_fen == 0
    assert views[(world.district_y, "city")].operating_fen == 0

    # Neither official drafts the other's district; a city official drafts the city funder anywhere.
    for actor, district in ((official_x, world.district_y), (official_y, world.district_x)):
        with pytest.raises(DomainError) as err:
            run(
                lambda a=actor, d=district: draft_statement(
                    a, world.operator_x, "2026-09", "district", district_id=d
                )
            )
        assert err.value.code == "forbidden"
    with pytest.raises(DomainError) as err:
        run(lambda: draft_statement(official_y, world.operator_x, "2026-09", "district"))  # home X
    assert err.value.code == "forbidden"
    again = run(
        lambda: draft_statement(city, world.operator_x, "2026-09", "city", district_id=world.district_y)
    )
    assert again.id == views[(world.district_y, "city")].id

    # Reading: each official its own district's; the operator's staff and the city official both.
    def ids(actor: Any) -> set[int]:
        return {s.id for s in run(lambda: list_statements(actor, month="2026-09"))}

    x_ids = {views[(world.district_x, s)].id for s in SOURCES}
    y_ids = {views[(world.district_y, s)].id for s in SOURCES}
    assert ids(official_x) == x_ids and ids(official_y) == y_ids
    assert ids(operator) == ids(city) == x_ids | y_ids
    for sid in x_ids | y_ids:
        assert run(lambda i=sid: get_statement(operator, i)).id == sid
    for actor, theirs in ((official_x, y_ids), (official_y, x_ids)):
        for sid in theirs:
            with pytest.raises(DomainError) as err:
                run(lambda a=actor, i=sid: get_statement(a, i))
            assert err.value.code == "not_found"
    summaries = {s.id: s for s in run(lambda: list_statements(operator, month="2026-09"))}
    assert {summaries[i].district_name for i in y_ids} == {"西湖区"}

    # Locks and voids per district: X's September is submitted (locked), Y's may still be redrafted;
    # a late void of a Y meal is carried into Y's October only.
    x_sep = views[(world.district_x, "district")]
    run(lambda: submit_statement(operator, x_sep.id))
    with pytest.raises(DomainError) as err:
        run(lambda: draft_statement(official_x, world.operator_x, "2026-09", "district"))
    assert err.value.code == "settlement_locked"
    y_sep = views[(world.district_y, "district")]
    assert (
        run(
            lambda: draft_statement(
                official_y, world.operator_x, "2026-09", "district", district_id=world.district_y
            )
        ).id
        == y_sep.id
    )
    run(lambda: submit_statement(operator, y_sep.id))

    async def late_void() -> tuple[int, int]:
        meal = (
            await Meal.select(Meal.id, Meal.funding)
            .where((Meal.district == world.district_y) & (Meal.subsidised == True))  # noqa: E712
            .order_by(Meal.id)
            .first()
        )
        assert meal is not None
        await Meal.update({Meal.voided_at: utcnow(), Meal.void_reason: "重复刷卡"}).where(
            Meal.id == meal["id"]
        )
        parts = json.loads(meal["funding"]) if isinstance(meal["funding"], str) else meal["funding"]
        return int(meal["id"]), sum(int(p["fen"]) for p in parts if p["source"] == "district")

    meal_id, fen = run(late_void)
    y_oct = run(
        lambda: draft_statement(
            official_y, world.operator_x, "2026-10", "district", district_id=world.district_y
        )
    )
    x_oct = run(lambda: draft_statement(official_x, world.operator_x, "2026-10", "district"))
    assert [(li.meal_id, li.amount_fen) for li in y_oct.lines if li.kind == "adjustment"] == [(meal_id, -fen)]
    assert y_oct.adjustment_fen == -fen and x_oct.adjustment_fen == 0


def test_drafting_per_district_over_http(client: Any, world: World, login: Any, run: Any) -> None:
    from tests.integration.accounts.test_auth import _page_login

    _give_site_c_to_operator_x(client, world, login)
    run(lambda: _meals(world, SEP))
    official_y = login("official_y")
    body = {"operator_id": world.operator_x, "month": "2026-09", "source": "district"}
    r = client.post("/api/v1/settlements", json={**body, "district_id": world.district_y}, headers=official_y)
    assert r.status_code == 201, r.text
    y = r.json()
    meals, fen = run(lambda: _expected(world, world.district_y, SEP, "district"))
    assert (y["district_id"], y["district_name"], y["meals"], y["subsidy_fen"]) == (
        world.district_y,
        "西湖区",
        meals,
        fen,
    )
    # Without a district: the home district (X), which is not official Y's.
    assert client.post("/api/v1/settlements", json=body, headers=official_y).status_code == 403
    r = client.post("/api/v1/settlements", json=body, headers=login("official_x"))
    assert r.status_code == 201 and r.json()["district_id"] == world.district_x
    # A district where the operator runs nothing, said in words.
    far = run(
        lambda: District.insert(
            District(name="上城区", code="330102", city="杭州市", city_id=world.city)
        ).returning(District.id)
    )[0]["id"]
    r = client.post(
        "/api/v1/settlements",
        json={**body, "district_id": far},
        headers={**login("admin"), "Accept-Language": "en"},
    )
    assert r.status_code == 422 and r.json()["code"] == "settlement_district_invalid"
    assert "district" in r.json()["message"]
    # The operator's staff list both, by district.
    listed = client.get("/api/v1/settlements?month=2026-09", headers=login("operator_a")).json()
    assert sorted(s["district_name"] for s in listed) == ["拱墅区", "西湖区"]

    # OpenAPI documents the new field with an example and the new code.
    spec = client.get("/schema/openapi.json").json()
    post = spec["paths"]["/api/v1/settlements"]["post"]
    assert "settlement_district_invalid" in post["responses"]["422"]["description"]
    assert "district_id" in post["description"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    field = spec["components"]["schemas"][ref]["properties"]["district_id"]
    assert "example" in json.dumps(field) and "home district" in json.dumps(field)
    assert "operator_other_city" in spec["paths"]["/api/v1/sites"]["post"]["responses"]["422"]["description"]

    # The page: official Y's own district is chosen, named in words; the statement says its district.
    _page_login(client, "official_y")
    page = client.get("/accounting/settlements")
    assert page.status_code == 200
    assert re.search(rf'<option value="{world.district_y}"\s+selected>西湖区</option>', page.text)
    assert "服务：拱墅区、西湖区" in page.text
    r = client.post(
        "/accounting/settlements",
        data={
            **body,
            "period": "month",
            "district_id": str(world.district_y),
            "_csrf_token": client.cookies.get("csrftoken"),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/accounting/settlements/{y['id']}"
    words = re.sub(r"<[^>]*>", " ", client.get(r.headers["location"]).text)
    assert "西湖区" in words and "拱墅区幸福餐饮服务有限公司" in words
