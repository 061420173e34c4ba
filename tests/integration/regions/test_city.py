"""A city above its districts: a city official reads every district of the city, edits none.

The world's two districts (拱墅区 X, 西湖区 Y) are both in 杭州市; ``city_official_h`` oversees it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from typing import Any

from tests.factories import World, add_user
from tests.integration.accounts.test_auth import _page_login
from tests.integration.checkin.test_counter import _counter

from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.regions.tables import City, District
from canteen.reports.services import city_overview, month_overview
from canteen.settings import get_settings


def _serve(client: Any, login: Any, c: Any, n: int) -> None:
    cashier = login("cashier_all")
    for elder in c.elders[:n]:
        r = client.post(
            "/api/v1/checkins",
            json={"site_id": c.sites[0], "card": c.cards[elder]},
            headers={**cashier, "Idempotency-Key": f"city-test-{elder}"},
        )
        assert r.status_code == 201, r.text


def test_the_city_overview_is_the_sum_of_its_districts(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=3))
    _serve(client, login, c, 3)
    month = utcnow().astimezone(get_settings().tz).strftime("%Y-%m")
    city = login("city_official_h")
    r = client.get(f"/api/v1/cities/{world.city}/overview", params={"month": month}, headers=city)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "杭州市" and [d["name"] for d in body["districts"]] == ["拱墅区", "西湖区"]
    assert body["meals"] == 3 and body["subsidised"] == 3
    admin = run(lambda: load_principal(world.users["admin"]))
    for d in body["districts"]:
        own = run(lambda d=d: month_overview(admin, d["district_id"], month))
        assert (d["meals"], d["subsidy_fen"], d["by_source"]) == (own.meals, own.subsidy_fen, own.by_source)
    assert body["subsidy_fen"] == sum(d["subsidy_fen"] for d in body["districts"]) > 0
    assert sum(body["by_source"].values()) == body["subsidy_fen"]


def test_a_city_official_reads_and_never_writes_a_district(
    client: Any, world: World, run: Any, login: Any
) -> None:
    city = login("city_official_h")
    other = run(lambda: City.insert(City(name="宁波市", code="330200")).returning(City.id))[0]["id"]
    assert client.get(f"/api/v1/cities/{other}/overview", headers=city).status_code == 404
    assert client.get(f"/api/v1/cities/{world.city}", headers=city).json()["district_ids"] == sorted(
        [world.district_x, world.district_y]
    )
    # District tools stay with the district's officials.
    assert client.get(f"/api/v1/districts/{world.district_x}/coverage", headers=city).status_code == 403
    r = client.patch(f"/api/v1/districts/{world.district_x}", json={"service_radius_m": 800}, headers=city)
    assert r.status_code == 403
    r = client.patch(f"/api/v1/sites/{world.site_a}", json={"name": "改名"}, headers=city)
    assert r.status_code in (403, 404)
    # A district official does not get the city view.
    official = login("official_x")
    assert client.get(f"/api/v1/cities/{world.city}/overview", headers=official).status_code == 403
    # The principal knows the city's districts for reading only.
    p = run(lambda: load_principal(world.users["city_official_h"]))
    assert p is not None and p.city_district_ids() == {world.district_x, world.district_y}
    assert not p.can_district(world.district_x)
    # And nobody else's city.
    admin = run(lambda: load_principal(world.users["admin"]))
    view = run(lambda: city_overview(admin, world.city, "2026-11"))
    assert len(view.districts) == 2


def test_city_grants_through_the_api(client: Any, world: World, login: Any) -> None:
    admin = login("admin")
    user = {"username": "city_2", "password": "Shi-ji-2026-pass", "display_name": "市民政局"}
    bad = client.post("/api/v1/users", json={**user, "grants": [{"role": "city_official"}]}, headers=admin)
    assert bad.status_code == 422 and bad.json()["code"] == "grant_scope_invalid"
    unknown = client.post(
        "/api/v1/users", json={**user, "grants": [{"role": "city_official", "city_id": 999}]}, headers=admin
    )
    assert unknown.status_code == 404
    ok = client.post(
        "/api/v1/users",
        json={**user, "grants": [{"role": "city_official", "city_id": world.city}]},
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    signed = login("city_2", "Shi-ji-2026-pass")
    assert client.get(f"/api/v1/cities/{world.city}/overview", headers=signed).status_code == 200


def test_the_city_page_in_words(client: Any, world: World, run: Any) -> None:
    _page_login(client, "city_official_h")
    home = client.get("/")
    assert "/official/city" in home.text
    page = client.get("/official/city")
    assert page.status_code == 200, page.text[:300]
    words = re.sub(r"<[^>]*>", " ", page.text)
    assert "杭州市" in words and "拱墅区" in words and "西湖区" in words and "全市概览" in words
    assert not re.search(r"\b(city|district|street|official)\b", words)


def test_the_migration_gives_every_district_its_city(run: Any) -> None:
    async def go() -> list[Any]:
        await District.insert(District(name="海曙区", code="330203", city="宁波市"))
        await District.insert(District(name="江北区", code="330205", city="宁波市"))
        migration = importlib.import_module(
            "canteen.regions.piccolo_migrations.regions_2026_12_01t13_41_00_000000"
        )
        await (await migration.forwards()).run()
        return await District.select(District.name, District.city_id.name.as_alias("city_name")).where(
            District.city == "宁波市"
        )

    rows = run(go)
    assert {r["city_name"] for r in rows} == {"宁波市"}
    city = run(lambda: City.select().where(City.name == "宁波市").first())
    assert city is not None and city["code"] == "330200"


_ = (dt, add_user)


def test_the_city_official_settles_the_city_funder_only(
    client: Any, world: World, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=2))
    _serve(client, login, c, 2)
    month = utcnow().astimezone(get_settings().tz).strftime("%Y-%m")
    city, operator = login("city_official_h"), login("operator_a")

    def draft(source: str, who: dict[str, str]) -> Any:
        body = {"operator_id": world.operator_x, "month": month, "source": source}
        return client.post("/api/v1/settlements", json=body, headers=who)

    mine = draft("city", city)
    assert mine.status_code in (200, 201), mine.text
    sid = mine.json()["id"]
    assert client.post(f"/api/v1/settlements/{sid}/submit", headers=operator).status_code == 200
    r = client.post(f"/api/v1/settlements/{sid}/approve", headers=city)
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    r = client.post(f"/api/v1/settlements/{sid}/pay", json={"reference": "CITY-2026-001"}, headers=city)
    assert r.status_code == 200 and r.json()["state"] == "paid", r.text
    # The district's funder stays with the district: the city official reads it, cannot draw or approve it.
    assert draft("district", city).status_code == 403
    district = draft("district", operator)
    assert district.status_code in (200, 201)
    did = district.json()["id"]
    assert client.get(f"/api/v1/settlements/{did}", headers=city).status_code == 200
    assert client.post(f"/api/v1/settlements/{did}/submit", headers=operator).status_code == 200
    assert client.post(f"/api/v1/settlements/{did}/approve", headers=city).status_code == 403
