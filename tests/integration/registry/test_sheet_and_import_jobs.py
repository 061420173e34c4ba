"""Card sheets, elder imports and civil-affairs lists as jobs (issue #15): 202 → done → the file
or the counts; and a run delivered twice (a worker killed after the work, before the run was
marked done) gives the same output and writes nothing twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pypdfium2
import zxingcpp

from canteen.care.tables import CivilListEntry, RefundTask
from canteen.core import queue
from canteen.core.tables import AuditEntry, JobRun
from canteen.demo.people import DemoCommunity, make_import_workbook
from canteen.registry.tables import Card, Elder
from tests.integration.cards.elders import add_elder
from tests.integration.care.test_civil import _list_file, _today, _upload
from tests.integration.care.test_civil import setup as setup
from tests.integration.registry.jobwait import wait_api_run


def _again(run: Any, run_id: str) -> queue.JobRunView:
    """Deliver a finished run once more, as procrastinate does after a worker died mid-run."""

    async def go() -> queue.JobRunView:
        await JobRun.update({JobRun.status: "running"}).where(JobRun.id == run_id)
        view = await queue.run(run_id)
        assert view is not None
        return view

    return run(go)


def _output(run: Any, run_id: str) -> bytes:
    rows = run(lambda: JobRun.select(JobRun.output).where(JobRun.id == run_id))
    return bytes(rows[0]["output"])


def _pdf_cards(data: bytes) -> tuple[int, set[str]]:
    pdf = pypdfium2.PdfDocument(data)
    tokens: set[str] = set()
    for page in pdf:
        tokens |= {r.text for r in zxingcpp.read_barcodes(page.render(scale=200 / 72).to_pil())}
    return len(pdf), tokens


def test_card_sheet_job_twice_issues_once_and_prints_the_same_cards(client, run, world, login) -> None:
    elders = [
        run(lambda i=i: add_elder(district=world.district_x, community=world.community_x, name=f"王秀{i}"))
        for i in range(12)
    ]
    h = login("official_x")
    r = client.post("/api/v1/cards/sheet.pdf", json={"community_id": world.community_x}, headers=h)
    assert r.status_code == 202, r.text
    done = wait_api_run(client, r.json()["id"], h)
    assert done["status"] == "done" and done["result"]["cards"] == 12, done
    first = client.get(done["download_url"], headers=h)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert "cards-community-" in first.headers["content-disposition"]
    pages, tokens = _pdf_cards(first.content)
    assert pages == 2 and len(tokens) == 12  # 10 cards a page
    cards = run(lambda: Card.count())
    assert cards == 12

    again = _again(run, done["id"])
    assert again.status == "done" and again.result["cards"] == 12
    assert _pdf_cards(_output(run, done["id"])) == (pages, tokens)  # the same cards, reprinted
    assert run(lambda: Card.count()) == 12  # none issued twice
    batch = run(lambda: AuditEntry.count().where(AuditEntry.action == "card.issue_batch"))
    assert batch == 1
    assert len(elders) == 12

    # Another district's official may neither queue nor download it.
    hy = login("official_y")
    r = client.post("/api/v1/cards/sheet.pdf", json={"community_id": world.community_x}, headers=hy)
    assert r.status_code == 404
    assert client.get(done["download_url"], headers=hy).status_code == 404


def test_elder_import_job_twice_changes_nothing_the_second_time(client, run, world, login) -> None:
    comms = [DemoCommunity(world.community_x, "卖鱼桥社区", "米市巷街道", 30.2975, 120.1430, ("湖墅南路",))]
    wb = make_import_workbook(40, 2, seed=99, communities=comms, today=dt.date.today())
    h = login("official_x")
    r = client.post(
        "/api/v1/elders/import",
        files={"file": ("名单.xlsx", wb.data, "application/octet-stream")},
        data={"district_id": str(world.district_x)},
        headers=h,
    )
    assert r.status_code == 202, r.text
    done = wait_api_run(client, r.json()["id"], h)
    assert done["status"] == "done", done
    assert (done["result"]["created"], done["result"]["bad_rows"]) == (38, 2)
    assert done["progress_total"] >= 38 and done["percent"] == 100
    audits = run(lambda: AuditEntry.count().where(AuditEntry.action.is_in(["elder.update", "elder.create"])))

    again = _again(run, done["id"])
    assert again.status == "done"
    assert (again.result["created"], again.result["unchanged"]) == (0, 38)
    assert run(lambda: Elder.count()) == 38
    after = run(lambda: AuditEntry.count().where(AuditEntry.action.is_in(["elder.update", "elder.create"])))
    assert after == audits
    # The ID numbers stay as they were: encrypted, masked for display.
    row = run(lambda: Elder.select(Elder.national_id_enc, Elder.national_id_masked).first())
    assert row["national_id_masked"].count("*") >= 8 and not row["national_id_enc"].isdigit()


def test_civil_apply_job_twice_applies_each_row_once(client, run, world, login, setup) -> None:
    body = _list_file(setup, _today() - dt.timedelta(days=1))
    h = login("official_x")
    applied = _upload(client, h, "apply", world.district_x, body)
    assert applied.json()["applied"] == 2
    entries = run(lambda: CivilListEntry.count())
    tasks = run(lambda: RefundTask.count())
    assert entries == 2 and tasks >= 1

    again = _again(run, applied.run["id"])
    assert again.status == "done" and again.result["applied"] == 0 and again.result["unchanged"] == 2
    assert run(lambda: CivilListEntry.count()) == entries and run(lambda: RefundTask.count()) == tasks
