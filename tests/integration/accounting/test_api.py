"""The accounting API: costs, viability, spending, settlements through HTTP, with role and scope checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook

from canteen.meals import rollups
from tests.factories import World
from tests.integration.accounting.test_accounting import _meals

MONTH = "2026-09"


def _setup(world: World, run: Any) -> None:
    first = dt.date(2026, 9, 1)
    run(lambda: _meals(world, first, 30))
    run(lambda: rollups.rollup_range(world.district_x, first, dt.date(2026, 9, 30)))


def test_costs_roles_and_scope(client: Any, world: World, login: Any) -> None:
    op = login("operator_a")
    body = {"food_fen": 200_000, "labour_fen": 300_000, "rent_fen": 100_000, "residential_utilities": True}
    r = client.put(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", json=body, headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["total_fen"] == 600_000 and r.json()["residential_utilities"] is True
    assert client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", headers=op).json()["rent_fen"] == 100_000
    # Another district's point: not found for this operator; a cashier may not call at all.
    assert client.put(f"/api/v1/sites/{world.site_c}/costs/{MONTH}", json=body, headers=op).status_code == 404
    assert client.get(f"/api/v1/sites/{world.site_c}/costs/{MONTH}", headers=op).status_code == 404
    cashier = login("cashier_a")
    assert (
        client.put(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", json=body, headers=cashier).status_code
        == 403
    )
    # Unknown fields are refused; a bad month is a validation error.
    bad = client.put(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", json={"x": 1}, headers=op)
    assert bad.status_code in (400, 422)
    assert client.put(f"/api/v1/sites/{world.site_a}/costs/2026-13", json=body, headers=op).status_code in (
        400,
        404,
        422,
    )
    # The official of the district reads; the official of another district does not.
    assert (
        client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", headers=login("official_x")).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", headers=login("official_y")).status_code
        == 404
    )


def test_cost_upload_xlsx(client: Any, world: World, login: Any) -> None:
    op = login("operator_a")
    tpl = client.get("/api/v1/costs/template.xlsx", headers=op)
    assert tpl.status_code == 200
    wb = load_workbook(io.BytesIO(tpl.content))
    ws = wb.active
    assert ws is not None
    header = [c.value for c in ws[1]]
    assert header[:2] == ["site_id", "month"]
    row = {h: 0 for h in header}
    row.update(site_id=world.site_a, month=MONTH, food_fen=123_400, residential_utilities="yes")
    ws.append([row[h] for h in header])
    row2 = dict(row, site_id=world.site_c)
    ws.append([row2[h] for h in header])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(
        "/api/v1/costs/upload",
        files={"file": ("costs.xlsx", buf.getvalue(), "application/octet-stream")},
        headers={**op, "Accept-Language": "en"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["saved"] == 1 and len(r.json()["errors"]) == 1
    got = client.get(f"/api/v1/sites/{world.site_a}/costs/{MONTH}", headers=op).json()
    assert got["food_fen"] == 123_400 and got["residential_utilities"] is True


def test_reports_and_exports(client: Any, world: World, login: Any, run: Any) -> None:
    _setup(world, run)
    off = login("official_x")
    r = client.post(
        "/api/v1/operating-rules",
        json={
            "district_id": world.district_x,
            "kind": "per_meal",
            "amount_fen": 200,
            "source": "district",
            "effective_from": "2026-01",
        },
        headers=off,
    )
    assert r.status_code == 201, r.text
    r = client.put(
        "/api/v1/budgets",
        json={"district_id": world.district_x, "year": 2026, "source": "city", "budget_fen": 10_000_000},
        headers=off,
    )
    assert r.status_code == 200, r.text
    v = client.get(f"/api/v1/districts/{world.district_x}/viability", params={"month": MONTH}, headers=off)
    assert v.status_code == 200, v.text
    sites = {p["site_id"]: p for p in v.json()["points"]}
    assert world.site_a in sites and all(p["grade"] in "ABCDN" for p in sites.values())
    x = client.get(
        f"/api/v1/districts/{world.district_x}/viability",
        params={"month": MONTH, "format": "xlsx"},
        headers=off,
    )
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws is not None and ws.max_row == 1 + len(sites)
    assert ws["A1"].value == "助餐点" and ws["H1"].value == "盈余（元）"
    margins = [row[7] for row in ws.iter_rows(min_row=2)]
    assert all(isinstance(c.value, int | float) and "0.00" in c.number_format for c in margins)
    assert round(sum(float(c.value) for c in margins) * 100) == sum(p["margin_fen"] for p in sites.values())
    vc = client.get(
        f"/api/v1/districts/{world.district_x}/viability",
        params={"month": MONTH, "format": "csv"},
        headers={**off, "Accept-Language": "en"},
    )
    assert vc.content.startswith(b"\xef\xbb\xbf")
    assert vc.content.decode("utf-8-sig").startswith("Meal point,Grade,Meals,")
    s = client.get(f"/api/v1/districts/{world.district_x}/spending", params={"year": 2026}, headers=off)
    assert s.status_code == 200, s.text
    by_src = {x["source"]: x for x in s.json()["sources"]}
    assert by_src["city"]["budget_fen"] == 10_000_000 and by_src["city"]["spent_fen"] > 0
    assert by_src["district"]["by_month"][8] > 0
    c = client.get(
        f"/api/v1/districts/{world.district_x}/spending", params={"year": 2026, "format": "csv"}, headers=off
    )
    assert c.status_code == 200 and c.content.startswith(b"\xef\xbb\xbf")
    spent = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert spent[0][:3] == ["资金来源", "预算（元）", "已支出（元）"]
    sources = [row[0] for row in spent[1:] if row]
    assert "市级" in sources and "city" not in sources and "运营补贴" not in sources
    cells = spent[spent.index([]) + 2 :]
    assert {row[1] for row in cells} & {"运营补贴", "低保", "无类别"} and "operating" not in {
        r[1] for r in cells
    }
    sx = client.get(
        f"/api/v1/districts/{world.district_x}/spending", params={"year": 2026, "format": "xlsx"}, headers=off
    )
    by_source = load_workbook(io.BytesIO(sx.content)).worksheets[0]
    spent_cells = [row[2] for row in by_source.iter_rows(min_row=2)]
    assert all(isinstance(c.value, int | float) and "0.00" in c.number_format for c in spent_cells)
    assert round(sum(float(c.value) for c in spent_cells) * 100) == s.json()["total_fen"]
    # Officials of another district and cashiers are refused.
    oy = login("official_y")
    assert (
        client.get(
            f"/api/v1/districts/{world.district_x}/spending", params={"year": 2026}, headers=oy
        ).status_code
        == 403
    )
    ca = login("cashier_a")
    assert (
        client.get(
            f"/api/v1/districts/{world.district_x}/viability", params={"month": MONTH}, headers=ca
        ).status_code
        == 403
    )
    # The rebuild job is idempotent.
    rb = client.post(
        f"/api/v1/districts/{world.district_x}/rollups/rebuild",
        json={"start": "2026-09-01", "end": "2026-09-30"},
        headers=off,
    )
    assert rb.status_code == 200 and rb.json()["days"] == 30
    v2 = client.get(f"/api/v1/districts/{world.district_x}/viability", params={"month": MONTH}, headers=off)
    assert v2.json()["points"] == v.json()["points"]


def test_settlement_states_over_http(client: Any, world: World, login: Any, run: Any) -> None:
    _setup(world, run)
    op, off = login("operator_a"), login("official_x")
    r = client.post(
        "/api/v1/settlements",
        json={"operator_id": world.operator_x, "month": MONTH, "source": "city"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["state"] == "draft" and r.json()["total_fen"] > 0
    # The operator may not approve; the official may not approve a draft.
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=op).status_code == 403
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=off).status_code == 409
    assert client.post(f"/api/v1/settlements/{sid}/submit", headers=op).json()["state"] == "submitted"
    a = client.post(f"/api/v1/settlements/{sid}/approve", headers=off)
    assert a.status_code == 200, a.text
    assert a.json()["state"] == "approved" and a.json()["locked"] is True
    p = client.post(f"/api/v1/settlements/{sid}/pay", json={"reference": "BANK-2026-10-001"}, headers=off)
    assert p.status_code == 200 and p.json()["payment_reference"] == "BANK-2026-10-001"
    assert (
        client.post(f"/api/v1/settlements/{sid}/pay", json={"reference": "again"}, headers=off).status_code
        == 409
    )
    # Other district's official and a cashier see nothing.
    assert client.get(f"/api/v1/settlements/{sid}", headers=login("official_y")).status_code == 404
    assert client.get(f"/api/v1/settlements/{sid}", headers=login("cashier_a")).status_code == 403
    listed = client.get("/api/v1/settlements", params={"state": "paid"}, headers=op).json()
    assert [s["id"] for s in listed] == [sid]
    # Exports open.
    x = client.get(f"/api/v1/settlements/{sid}/export", params={"format": "xlsx"}, headers=off)
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws is not None and str(ws["A1"].value).startswith("结算单")
    pdf = client.get(f"/api/v1/settlements/{sid}/export", params={"format": "pdf"}, headers=off)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv_ = client.get(f"/api/v1/settlements/{sid}/export", params={"format": "csv"}, headers=op)
    assert csv_.status_code == 200 and csv_.content.startswith(b"\xef\xbb\xbf")
    assert "餐费" in csv_.content.decode("utf-8-sig")


def test_demo_viability_and_spending(run: Any) -> None:
    from canteen.accounting.kpis import spending_vs_budget, viability_report
    from canteen.accounts.roles import Grant, Principal
    from canteen.core.clock import utcnow
    from canteen.core.periods import month_of, shift
    from canteen.demo.district import load_demo
    from canteen.regions.tables import Site
    from canteen.registry.services import today_of

    now = utcnow()
    district = run(lambda: load_demo(now))
    run(lambda: load_demo(now))  # idempotent
    admin = Principal(user_id=0, username="t", display_name="t", grants=(Grant("admin"),))
    today = today_of(now)
    # The month the 30 days of history cover most: early in a month (CI on the 2nd saw one day
    # of December, where every point looked alike) that is the month before.
    month = month_of(today - dt.timedelta(days=1)) if today.day > 16 else shift(month_of(today), -1)
    report = run(lambda: viability_report(admin, district.district_id, month))
    points = run(
        lambda: Site.select(Site.id).where(
            (Site.district == district.district_id) & (Site.kind == "meal_point")
        )
    )
    assert {p.site_id for p in report.points} == {p["id"] for p in points}
    assert all(p.grade in "ABCDN" and p.reasons for p in report.points)
    graded = [p.grade for p in report.points if p.grade != "N"]
    assert len(set(graded)) >= 2, "the demo has viable and unviable points"
    spending = run(lambda: spending_vs_budget(admin, district.district_id, today.year))
    assert spending.sources and all(s.budget_fen for s in spending.sources)
    assert spending.total_fen > 0
    assert shift(month, 0) == month
