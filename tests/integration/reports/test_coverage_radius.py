"""The meal circle's radius is data: per district, per site, through the API and the pages.

The constructed layout of test_coverage: point A open at BASE with eligible elders 100, 300 and
500 m north (125, 375 and 625 m of walking with the 1.25 detour), a closed point B 3 km north.
"""

from __future__ import annotations

from typing import Any

from canteen.core.tables import AuditEntry
from tests.integration.accounts.test_auth import _page_login
from tests.integration.reports.test_coverage import _layout

EN = {"Accept-Language": "en"}


def _coverage(client: Any, headers: dict[str, str], district: int) -> Any:
    r = client.get(f"/api/v1/districts/{district}/coverage", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_district_and_site_radius_change_the_coverage(client: Any, world: Any, run: Any, login: Any) -> None:
    run(lambda: _layout(world))
    official = login("official_x")
    before = _coverage(client, official, world.district_x)
    assert (before["eligible"], before["covered"], before["walk_limit_m"]) == (8, 3, 1000)

    r = client.patch(
        f"/api/v1/districts/{world.district_x}", json={"service_radius_m": 600}, headers=official
    )
    assert r.status_code == 200, r.text
    assert r.json()["service_radius_m"] == 600
    tighter = _coverage(client, official, world.district_x)
    assert (tighter["covered"], tighter["walk_limit_m"]) == (2, 600)  # 625 m of walking is now too far
    point_a = next(p for p in tighter["points"] if p["id"] == world.site_a)
    assert (point_a["radius_m"], point_a["own_radius"]) == (600, False)

    # Point A reaches further than the district's circle (say, a bus stop at its door).
    r = client.patch(f"/api/v1/sites/{world.site_a}", json={"service_radius_m": 800}, headers=official)
    assert r.status_code == 200, r.text
    own = _coverage(client, official, world.district_x)
    assert own["covered"] == 3
    point_a = next(p for p in own["points"] if p["id"] == world.site_a)
    assert (point_a["radius_m"], point_a["own_radius"]) == (800, True)
    # Back to the district's radius.
    r = client.patch(f"/api/v1/sites/{world.site_a}", json={"service_radius_m": None}, headers=official)
    assert r.status_code == 200 and r.json()["service_radius_m"] is None
    assert _coverage(client, official, world.district_x)["covered"] == 2

    actions = run(lambda: AuditEntry.select(AuditEntry.action).where(AuditEntry.action == "district.update"))
    assert len(actions) == 1


def test_bad_radius_and_other_scopes_are_refused_in_words(client: Any, world: Any, login: Any) -> None:
    official = login("official_x")
    for bad in (50, 9_000, "far"):
        r = client.patch(
            f"/api/v1/districts/{world.district_x}",
            json={"service_radius_m": bad},
            headers={**official, **EN},
        )
        assert r.status_code in (400, 422), r.text
        assert "service_radius_m" in r.text
    # Another district's official: the district does not exist for them.
    other = login("official_y")
    r = client.patch(f"/api/v1/districts/{world.district_x}", json={"service_radius_m": 800}, headers=other)
    assert r.status_code == 404
    assert client.get(f"/api/v1/districts/{world.district_x}/coverage", headers=other).status_code == 404
    # A site's operator may not move the meal circle.
    operator = login("operator_a")
    r = client.patch(f"/api/v1/sites/{world.site_a}", json={"service_radius_m": 2_000}, headers=operator)
    assert r.status_code == 403, r.text


def test_the_official_sets_the_radius_on_the_coverage_page(client: Any, world: Any, run: Any) -> None:
    run(lambda: _layout(world))
    _page_login(client, "official_x")
    page = client.get(f"/official/districts/{world.district_x}/coverage")
    assert page.status_code == 200 and "步行1公里" in page.text
    r = client.post(
        f"/official/districts/{world.district_x}/coverage/radius",
        data={"service_radius_m": "1200", "_csrf_token": client.cookies.get("csrftoken")},
    )
    assert r.status_code == 200, r.text[:300]
    assert "步行1.2公里" in r.text and 'value="1200"' in r.text
    wrong = client.post(
        f"/official/districts/{world.district_x}/coverage/radius",
        data={"service_radius_m": "12", "_csrf_token": client.cookies.get("csrftoken")},
    )
    assert wrong.status_code == 422
    assert "请填写步行距离（米），100 至 5000。" in wrong.text and 'value="12"' in wrong.text
