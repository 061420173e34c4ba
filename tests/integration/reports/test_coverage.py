"""Coverage on the database: a constructed layout whose answer is known, and the demo district."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from canteen.core import queue
from canteen.regions.tables import Community, Site
from canteen.registry.tables import Elder
from canteen.reports import jobs as _jobs  # noqa: F401 - registers reports.next_point
from canteen.reports.services import NEXT_POINT_JOB, coverage_report
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import admin, official

TODAY = dt.date(2026, 11, 23)
M_PER_DEG = 111_195.0
BASE = (30.0, 120.0)


def north(metres: float) -> tuple[float, float]:
    return BASE[0] + metres / M_PER_DEG, BASE[1]


async def _layout(w: Any) -> dict[str, Any]:
    """Point A open at BASE; point B closed 3 km north (closed points cover nobody).
    Eligible: 3 elders near A (covered), 4 elders around B's corner (uncovered, community 北),
    1 alone 3 km south (uncovered). Not counted: a 70-year-old without a category near B,
    a deceased 低保 elder near B, and a 低保 elder without a location."""
    await Site.update({Site.lat: BASE[0], Site.lon: BASE[1], Site.status: "open"}).where(Site.id == w.site_a)
    await Site.update({Site.lat: north(3_000)[0], Site.lon: BASE[1], Site.status: "closed"}).where(
        Site.id == w.site_b
    )
    north_rows = await Community.insert(
        Community(street=w.street_x, district=w.district_x, name="北新社区", lat=north(3_050)[0], lon=BASE[1])
    ).returning(Community.id)
    north_c = int(north_rows[0]["id"])

    async def elder(at: tuple[float, float] | None, community: int, **kw: Any) -> int:
        eid = await add_elder(district=w.district_x, community=community, **kw)
        if at is not None:
            await Elder.update({Elder.lat: at[0], Elder.lon: at[1]}).where(Elder.id == eid)
        return eid

    covered = [await elder(north(d), w.community_x, categories=("dibao",)) for d in (100, 300, 500)]
    cluster = [await elder(north(3_000 + 100 * i), north_c, birth_date=dt.date(1940, 1, 1)) for i in range(4)]
    alone = await elder(north(-3_000), w.community_x, categories=("tekun",))
    await elder(north(3_050), north_c, birth_date=dt.date(1956, 1, 1))  # 70, no category
    await elder(north(3_050), north_c, categories=("dibao",), status="deceased")
    await elder(None, w.community_x, categories=("dibao",))
    return {"covered": covered, "cluster": cluster, "alone": alone, "north": north_c}


def _suggested(run: Any, actor: Any, district: int) -> Any:
    """Run the next-point job as the queue would, then read the coverage that shows it."""

    async def go() -> Any:
        before = await coverage_report(actor, district, TODAY)
        assert before.suggestion is None  # nothing worked out before the job has run
        done = await queue.run_now(
            NEXT_POINT_JOB, {"district_id": district, "day": TODAY.isoformat()}, district_id=district
        )
        assert done.status == "done", done
        assert done.result["url"] == f"/official/districts/{district}/coverage?suggestion={done.id}#h-next"
        view = await coverage_report(actor, district, TODAY)
        assert view.suggestion is None or view.suggestion.run_id == done.id
        # The run named on the page's link shows the same suggestion.
        assert await coverage_report(actor, district, TODAY, suggestion_run=done.id) == view
        return view

    return run(go)


def test_constructed_layout_share_and_next_point(world: Any, run: Any) -> None:
    layout = run(lambda: _layout(world))
    view = _suggested(run, official(world), world.district_x)
    assert (view.eligible, view.covered) == (8, 3)
    assert view.share == pytest.approx(3 / 8, abs=1e-4)
    assert view.without_location == 1
    assert view.most_uncovered[0].id == layout["north"]
    assert view.most_uncovered[0].uncovered == 4
    assert view.suggestion is not None
    assert view.suggestion.covers == 4
    assert view.suggestion.near_community == "北新社区"
    # The suggestion lies in the cluster, 3.0–3.3 km north of point A.
    assert north(2_900)[0] < view.suggestion.lat < north(3_400)[0]


def test_opening_the_suggested_area_covers_it(world: Any, run: Any) -> None:
    run(lambda: _layout(world))
    run(lambda: Site.update({Site.status: "open"}).where(Site.id == world.site_b).run())
    view = _suggested(run, official(world), world.district_x)
    assert view.covered == 7
    assert view.suggestion is not None and view.suggestion.covers == 1


def test_officials_see_only_their_district(world: Any, run: Any) -> None:
    from canteen.core.errors import DomainError

    with pytest.raises(DomainError) as err:
        run(lambda: coverage_report(official(world), world.district_y, TODAY))
    assert err.value.code == "not_found"


def test_demo_district_reports_a_share_and_a_suggestion(world: Any, run: Any) -> None:
    from canteen.demo.district import load_demo

    demo = run(lambda: load_demo())
    view = _suggested(run, admin(world), demo.district_id)
    assert view.eligible > 0
    assert 0 < view.share <= 1
    assert len(view.points) >= 6
    # The demo places some elders beyond every point's walk: there is a next point to suggest.
    assert view.covered < view.eligible
    assert view.suggestion is not None and 1 <= view.suggestion.covers <= view.eligible - view.covered
    print(f"demo coverage: {view.covered}/{view.eligible} = {view.share:.1%}; next point: {view.suggestion}")


def test_next_point_api_answers_202_and_the_coverage_shows_it(
    client: Any, world: Any, run: Any, login: Any, finish_job: Any
) -> None:
    from tests.integration.test_admin_pages import page_login, post_form

    run(lambda: _layout(world))
    d = world.district_x
    h = login("official_x")
    r = client.post(f"/api/v1/districts/{d}/coverage/next-point", headers=h)
    assert r.status_code == 202, r.text
    done = finish_job(r, h)
    assert done["status"] == "done", done
    assert done["result"]["suggestion"]["covers"] == 4
    assert done["result"]["suggestion"]["near_community"] == "北新社区"
    shown = client.get(f"/api/v1/districts/{d}/coverage", headers=h).json()["suggestion"]
    assert shown["run_id"] == done["id"] and shown["covers"] == 4 and shown["suggested_at"]
    assert (
        client.post(f"/api/v1/districts/{d}/coverage/next-point", headers=login("official_y")).status_code
        == 404
    )

    # The page: the button queues it and follows the run; the result links back to the map.
    page_login(client, "official_x")
    before = client.get(f"/official/districts/{d}/coverage")
    assert 'id="suggest-next-point"' in before.text
    go = post_form(client, f"/official/districts/{d}/coverage/next-point", {})
    assert go.status_code == 303 and go.headers["location"].startswith("/jobs/")
    run_id = go.headers["location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    status = client.get(f"/jobs/{run_id}/status")
    while 'id="job-result"' not in status.text and time.monotonic() < deadline:
        time.sleep(0.1)
        status = client.get(f"/jobs/{run_id}/status")
    link = f"/official/districts/{d}/coverage?suggestion={run_id}#h-next"
    assert f'href="{link}"' in status.text
    page = client.get(link.split("#")[0])
    assert page.status_code == 200
    assert "北新社区" in page.text and 'id="suggested-at"' in page.text
    assert client.get(f"/official/districts/{d}/coverage?suggestion=0123456789abcdef").status_code == 404
