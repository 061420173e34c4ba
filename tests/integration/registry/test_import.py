"""Importing a community worker's spreadsheet: dry run in words, one transaction, idempotent."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pytest

from canteen.core.tables import AuditEntry
from canteen.demo.people import DemoCommunity, make_import_workbook
from canteen.regions.tables import Community
from canteen.registry.tables import Elder

SEED = 4242


@pytest.fixture
def communities(world: Any, run: Any) -> list[DemoCommunity]:
    """The test district's community plus two more, as the workbook generator wants them."""

    async def make() -> list[DemoCommunity]:
        out = [DemoCommunity(world.community_x, "卖鱼桥社区", "米市巷街道", 30.2975, 120.1430, ("湖墅南路",))]
        for name, lat, lon, road in (
            ("左家新村社区", 30.2961, 120.1611, "中山北路"),
            ("珠儿潭社区", 30.2918, 120.1560, "环城北路"),
        ):
            rows = await Community.insert(
                Community(street=world.street_x, district=world.district_x, name=name, lat=lat, lon=lon)
            ).returning(Community.id)
            out.append(DemoCommunity(int(rows[0]["id"]), name, "米市巷街道", lat, lon, (road,)))
        return out

    return run(make)


def upload(
    client: Any,
    url: str,
    headers: dict[str, str],
    district: int,
    data: bytes,
    name: str = "名单.xlsx",
    mapping: dict[str, int] | None = None,
) -> Any:
    form = {"district_id": str(district)}
    if mapping is not None:
        form["mapping"] = json.dumps(mapping)
    return client.post(
        url, files={"file": (name, data, "application/octet-stream")}, data=form, headers=headers
    )


COUNTS = ("created", "updated", "unchanged", "bad_rows")


def imported(
    client: Any, finish_job: Any, headers: dict[str, str], district: int, data: bytes, **kw: Any
) -> Any:
    """Import through the API: 202, then the run's result (its counts)."""
    r = upload(client, "/api/v1/elders/import", headers, district, data, **kw)
    assert r.status_code == 202, r.text
    done = finish_job(r, headers)
    assert done["status"] == "done", done
    assert done["result"]["url"] == f"/elders/import/done/{done['id']}"
    return {k: done["result"][k] for k in COUNTS}


def checked(
    client: Any, finish_job: Any, headers: dict[str, str], district: int, data: bytes, **kw: Any
) -> Any:
    """Check through the API: 202, then the run's download (the preview, JSON)."""
    r = upload(client, "/api/v1/elders/import/dry-run", headers, district, data, **kw)
    assert r.status_code == 202, r.text
    done = finish_job(r, headers)
    assert done["status"] == "done", done
    body = client.get(done["download_url"], headers=headers)
    assert body.status_code == 200 and body.headers["content-type"].startswith("application/json")
    return body.json()


def test_thousand_rows_with_twenty_bad(client, world, login, run, communities, finish_job):
    today = dt.date.today()
    wb = make_import_workbook(1000, 20, seed=SEED, communities=communities, today=today)
    h = login("official_x")

    preview = checked(client, finish_job, h, world.district_x, wb.data)
    assert preview["total_rows"] == 1000 and preview["will_create"] == 980
    assert sorted(preview["bad_rows"]) == sorted(wb.bad_rows)
    problem_rows = {p["row"] for p in preview["problems"]}
    assert problem_rows == set(wb.bad_rows)
    for p in preview["problems"]:
        assert p["message_zh"].startswith(f"第{p['row']}行：") and p["message_en"].startswith(
            f"row {p['row']}: "
        )
    assert run(lambda: Elder.count()) == 0  # a dry run writes nothing

    r = imported(client, finish_job, h, world.district_x, wb.data)
    assert r == {"created": 980, "updated": 0, "unchanged": 0, "bad_rows": 20}
    assert run(lambda: Elder.count()) == 980

    again = imported(client, finish_job, h, world.district_x, wb.data)
    assert again == {"created": 0, "updated": 0, "unchanged": 980, "bad_rows": 20}
    assert run(lambda: Elder.count()) == 980
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "elder.update")) == 0

    # One changed phone updates that elder alone, with an audit row.
    book = openpyxl.load_workbook(io.BytesIO(wb.data))
    ws = book.worksheets[0]
    headers = [c.value for c in ws[1]]
    row = next(r for r in range(2, 1002) if r not in wb.bad_rows)
    ws.cell(row=row, column=headers.index("联系电话") + 1, value="13900009999")
    name = ws.cell(row=row, column=headers.index("姓名") + 1).value
    buf = io.BytesIO()
    book.save(buf)
    changed = imported(client, finish_job, h, world.district_x, buf.getvalue())
    assert changed == {"created": 0, "updated": 1, "unchanged": 979, "bad_rows": 20}
    audit = run(lambda: AuditEntry.select().where(AuditEntry.action == "elder.update").output(load_json=True))
    assert len(audit) == 1 and audit[0]["after"] == {"phone": "13900009999"}
    elder = run(
        lambda: (
            Elder.select(Elder.name, Elder.phone, Elder.version)
            .where(Elder.id == int(audit[0]["target_id"]))
            .first()
        )
    )
    assert elder["name"] == name and elder["phone"] == "13900009999" and elder["version"] == 2

    # Export: full IDs for the official, read back with openpyxl; masked for the operator.
    r = client.get(
        "/api/v1/elders/export", params={"district_id": world.district_x, "format": "xlsx"}, headers=h
    )
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 981 and rows[0][3] == "身份证号"
    assert all(len(str(x[3])) == 18 and "*" not in str(x[3]) for x in rows[1:])
    r = client.get(
        "/api/v1/elders/export",
        params={"district_id": world.district_x, "format": "csv"},
        headers=login("operator_a"),
    )
    assert r.status_code == 200 and "**********" in r.content.decode("utf-8-sig")
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "elder.export")) == 2
    assert (
        client.get(
            "/api/v1/elders/export", params={"district_id": world.district_x}, headers=login("cashier_a")
        ).status_code
        == 403
    )
    # The export reads back as an import that changes nothing.
    r = client.get("/api/v1/elders/export", params={"district_id": world.district_x}, headers=h)
    back = imported(client, finish_job, h, world.district_x, r.content)
    assert back["created"] == 0 and back["bad_rows"] == 0


def test_bad_uploads(client, world, login, run, finish_job):
    h = login("official_x")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    r = upload(client, "/api/v1/elders/import/dry-run", h, world.district_x, png, name="photo.png")
    assert r.status_code == 415 and r.json()["code"] == "import_file_type"
    rows = "姓名,身份证号,社区\n" + "张三,330105194403151244,卖鱼桥社区\n" * 20_050
    # Too many rows is found by the job, which reads them all: the run fails, in words.
    r = upload(client, "/api/v1/elders/import", h, world.district_x, rows.encode(), name="big.csv")
    done = finish_job(r, h)
    assert done["status"] == "failed" and done["error_code"] == "import_file_too_large"
    huge = b"a,b\n" + b"x" * (6 * 1024 * 1024)
    r = upload(client, "/api/v1/elders/import", h, world.district_x, huge, name="huge.csv")
    assert r.status_code == 413
    r = upload(client, "/api/v1/elders/import", h, world.district_x, b"name\n", name="empty.csv")
    assert r.status_code == 422
    r = upload(
        client,
        "/api/v1/elders/import",
        h,
        world.district_x,
        "姓名,身份证号\n张三,1\n".encode(),
        name="a.csv",
        mapping={"name": 7},
    )
    assert r.status_code == 422 and r.json()["code"] == "import_mapping_invalid"
    # Other districts' officials and non-writers cannot import here.
    data = "姓名,身份证号,社区\n张三,330105194403151244,卖鱼桥社区\n".encode()
    assert (
        upload(
            client, "/api/v1/elders/import", login("official_y"), world.district_x, data, "a.csv"
        ).status_code
        == 404
    )
    assert (
        upload(
            client, "/api/v1/elders/import", login("cashier_a"), world.district_x, data, "a.csv"
        ).status_code
        == 403
    )
    assert run(lambda: Elder.count()) == 0


def test_import_with_explicit_mapping(client, world, login, run, finish_job):
    csv = "老人,证件,住在\n沈桂英,330105194403151244,卖鱼桥社区\n".encode()
    h = login("official_x")
    mapping = {"name": 0, "national_id": 1, "community": 2}
    r = imported(client, finish_job, h, world.district_x, csv, name="a.csv", mapping=mapping)
    assert r["created"] == 1
