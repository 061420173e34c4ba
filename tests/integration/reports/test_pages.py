"""Dashboard pages, exports and the public page over HTTP (the browser test covers rendering)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from typing import Any

from openpyxl import load_workbook

from canteen.core import queue
from canteen.meals.tables import Meal
from canteen.quality import services as quality
from canteen.quality.tables import MealRating
from canteen.regions.tables import Site
from tests.integration.cards.elders import add_elder
from tests.integration.reports.helpers import add_meal, local, official
from tests.integration.test_admin_pages import page_login, post_form

MONTH = "2026-10"
D = dt.date(2026, 10, 5)


async def _month(w: Any) -> list[int]:
    elder = await add_elder(district=w.district_x, community=w.community_x, categories=("dibao",))
    ids = [
        await add_meal(w, site=w.site_a, elder=elder, day=D),
        await add_meal(w, site=w.site_a, elder=None, day=D, subsidised=False),
        await add_meal(w, site=w.site_b, elder=elder, day=dt.date(2026, 10, 6), subsidy_fen=300),
    ]
    for meal, score in zip(ids, (3, 2, 1), strict=True):
        await MealRating.insert(
            MealRating(
                meal=meal,
                site=w.site_a if meal != ids[2] else w.site_b,
                district=w.district_x,
                service_date=D,
                score=score,
                source="counter",
                at=local(D, "12:00"),
            )
        )
    return ids


def test_month_dashboard_shows_points_satisfaction_and_exports(client: Any, world: Any, run: Any) -> None:
    run(lambda: _month(world))
    page_login(client, "official_x")
    r = client.get(f"/official/districts/{world.district_x}/dashboard?month={MONTH}")
    assert r.status_code == 200, r.text
    assert "卖鱼桥幸福食堂" in r.text and "data-chart=" in r.text
    assert "/static/vendor/chart.js/dist/chart.umd.js" in r.text
    r = client.get(
        f"/official/districts/{world.district_x}/dashboard/export?table=points&fmt=xlsx&month={MONTH}"
    )
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    by_name = {row[0]: row for row in rows[1:]}
    a = by_name["卖鱼桥幸福食堂"]
    assert a[3] == 2 and a[6] == 5.0 and a[8] == 2 and a[9] == "2.50"  # meals, subsidy, ratings, score
    r = client.get(
        f"/official/districts/{world.district_x}/dashboard/export?table=days&fmt=csv&month={MONTH}"
    )
    assert r.content.startswith(b"\xef\xbb\xbf")
    data = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert data[0] == ["日期", "餐数", "补贴（元）"]
    assert data[1:] == [["2026-10-05", "2", "5.00"], ["2026-10-06", "1", "3.00"]]
    en = client.get(
        f"/official/districts/{world.district_x}/dashboard/export?table=days&fmt=csv&month={MONTH}",
        headers={"Accept-Language": "en"},
    )
    assert en.content.startswith(b"\xef\xbb\xbf")
    assert en.content.decode("utf-8-sig").splitlines()[0] == "Day,Meals,Subsidy (yuan)"


def test_dashboard_exports_add_up_and_neutralise_names(client: Any, world: Any, run: Any) -> None:
    """Money columns are numbers (0.00) that add up to the meals' fen; names never run as formulas."""
    run(lambda: _month(world))
    evil = '=HYPERLINK("http://evil.example","点我")'
    run(lambda: Site.update({Site.name: evil}).where(Site.id == world.site_b))
    page_login(client, "official_x")
    base = f"/official/districts/{world.district_x}/dashboard/export"
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    fen = run(
        lambda: Meal.select(Meal.subsidy_fen).where(
            (Meal.district == world.district_x)
            & (Meal.service_date >= first)
            & (Meal.service_date <= last)
            & Meal.voided_at.is_null()
        )
    )
    total_fen = sum(m["subsidy_fen"] for m in fen)
    assert total_fen == 800
    for table, col in (("days", 2), ("points", 6)):
        r = client.get(f"{base}?table={table}&fmt=xlsx&month={MONTH}")
        assert r.status_code == 200, r.text
        ws = load_workbook(io.BytesIO(r.content)).active
        assert ws is not None
        cells = [row[col] for row in ws.iter_rows(min_row=2)]
        assert cells and all(isinstance(c.value, int | float) for c in cells)
        assert all("0.00" in c.number_format for c in cells)
        assert round(sum(float(c.value) for c in cells) * 100) == total_fen
    # The points table shows the renamed point's name as text, in XLSX and in CSV.
    ws = load_workbook(io.BytesIO(client.get(f"{base}?table=points&fmt=xlsx&month={MONTH}").content)).active
    assert ws is not None
    names = [row[0].value for row in ws.iter_rows(min_row=2)]
    assert "'" + evil in names and all(not str(n).startswith("=") for n in names)
    r = client.get(f"{base}?table=points&fmt=csv&month={MONTH}")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "助餐点" and "'" + evil in [row[0] for row in rows[1:]]
    # Subsidy by funder and category (the spending report, read from the rollups the meals keep):
    # labels, not codes; the amount adds up too.
    r = client.get(f"{base}?table=categories&fmt=csv&month={MONTH}")
    assert r.content.decode("utf-8-sig").splitlines() == ["资金来源,类别,已支出（元）", "市级,低保,8.00"]
    r = client.get(f"{base}?table=categories&fmt=csv&month={MONTH}", headers={"Accept-Language": "en"})
    assert r.content.decode("utf-8-sig").splitlines()[1].endswith(",Minimum living allowance (dibao),8.00")
    assert (
        client.get(
            f"/official/districts/{world.district_x}/dashboard/export?table=points&fmt=pdf&month={MONTH}"
        ).status_code
        == 422
    )


def test_other_districts_and_other_roles_are_refused(client: Any, world: Any) -> None:
    page_login(client, "official_y")
    assert client.get(f"/official/districts/{world.district_x}/dashboard").status_code == 404
    assert client.get(f"/official/districts/{world.district_x}/coverage").status_code == 404
    client.cookies.clear()
    page_login(client, "cashier_a")
    assert client.get(f"/official/districts/{world.district_x}/dashboard").status_code == 403


def test_claim_pages_run_list_and_decide(client: Any, world: Any, run: Any) -> None:
    run(lambda: add_meal(world, site=world.site_a, elder=None, day=D, at="15:00", subsidised=False))
    page_login(client, "official_x")
    r = post_form(client, f"/official/districts/{world.district_x}/claims/run", {"month": MONTH})
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    run_id = r.headers["location"].rsplit("/", 1)[1]
    for _ in range(2000):
        job = run(lambda: queue.get(run_id))
        if job is not None and job.finished:
            break
        time.sleep(0.05)
    assert job is not None and job.status == "done", job
    assert job.result["url"] == f"/official/districts/{world.district_x}/claims?month={MONTH}"
    r = client.get(f"/jobs/{run_id}")
    assert r.status_code == 200 and job.result["url"] in r.text
    r = client.get(job.result["url"])
    flag_id = int(re.search(r"/official/claim-flags/(\d+)", r.text).group(1))  # type: ignore[union-attr]
    r = client.get(f"/official/claim-flags/{flag_id}")
    assert r.status_code == 200 and "15:00" in r.text
    r = post_form(client, f"/official/claim-flags/{flag_id}/decision", {"decision": "cleared", "reason": ""})
    assert r.status_code == 422 and 'id="reason-error"' in r.text
    r = post_form(
        client, f"/official/claim-flags/{flag_id}/decision", {"decision": "cleared", "reason": "补录"}
    )
    assert r.status_code in (302, 303)
    assert run(lambda: quality.open_flags(world.district_x, MONTH)) == []


def test_public_page_needs_no_login_and_shows_no_person(client: Any, world: Any, run: Any) -> None:
    run(lambda: _month(world))
    r = client.get(f"/public/districts/330105?month={MONTH}")
    assert r.status_code == 200
    assert "卖鱼桥幸福食堂" in r.text and "2.50" in r.text
    assert "王秀英" not in r.text  # the elder's name never appears
    assert client.get("/public/districts/999999").status_code == 404


def test_coverage_page_renders(client: Any, world: Any) -> None:
    page_login(client, "official_x")
    r = client.get(f"/official/districts/{world.district_x}/coverage")
    assert r.status_code == 200 and "coverage-map" in r.text
    r = client.get(f"/official/districts/{world.district_x}/dashboard/export?table=coverage&fmt=csv")
    assert r.status_code == 200


def test_official_principal_helper(world: Any) -> None:
    assert official(world).can_district(world.district_x)
