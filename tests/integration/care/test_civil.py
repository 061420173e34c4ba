"""Civil-affairs lists end to end over HTTP on a real database: the dry run names every row and
writes nothing; applying sets the status, revokes the card (the counter refuses it at once),
stops standing orders, opens a refund task with the balance and flags later meals; applying
the same file again changes nothing. Plus the expiring-evidence list with an injected day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.accounts.services import load_principal
from canteen.care import civil
from canteen.care.tables import CivilListEntry, RefundTask
from canteen.core.clock import utcnow
from canteen.core.tables import AuditEntry
from canteen.orders.tables import StandingOrder
from canteen.payments.ledger import balance_of
from canteen.quality.tables import ClaimFlag
from canteen.registry import services as registry
from canteen.registry.national_id import make_national_id
from canteen.registry.tables import Elder, ElderCategory
from canteen.settings import get_settings
from tests.factories import NOW, World
from tests.integration.cards.elders import add_elder
from tests.integration.checkin.test_counter import _counter, _scan
from tests.integration.registry.jobwait import wait_api_run

HEADER = "身份证号,姓名,情形,日期,备注\r\n"


def _today() -> dt.date:
    return utcnow().astimezone(get_settings().tz).date()


async def _number(elder_id: int) -> tuple[str, str]:
    row = await Elder.select(Elder.national_id_enc, Elder.name).where(Elder.id == elder_id).first()
    assert row is not None
    return registry.decrypt_id(row["national_id_enc"]), str(row["name"])


class _Done:
    """A finished list job as the tests read it: the check's preview (the run's download) or the
    apply's counts (the run's result), with the 200 the synchronous routes used to answer."""

    status_code = 200

    def __init__(self, body: dict[str, Any], run: dict[str, Any]) -> None:
        self._body, self.run = body, run

    def json(self) -> dict[str, Any]:
        return self._body


def _upload(
    client: Any, headers: dict[str, str], path: str, district: int, body: bytes, name: str = "名单.csv"
) -> Any:
    """Post a list; a refusal comes back at once, a queued check or apply (202) is followed to
    its end and read from the run."""
    r = client.post(
        f"/api/v1/care/civil/{path}",
        files={"file": (name, body, "text/csv")},
        data={"district_id": str(district)},
        headers=headers,
    )
    if r.status_code != 202:
        return r
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    run = wait_api_run(client, r.json()["id"], headers)
    assert run["status"] == "done", run
    if path == "dry-run":
        download = client.get(run["download_url"], headers=headers)
        assert download.status_code == 200
        return _Done(download.json(), run)
    assert run["result"]["url"] == f"/care/civil/done/{run['id']}"
    return _Done(run["result"], run)


@pytest.fixture
def setup(world: World, run: Any) -> dict[str, Any]:
    c = run(lambda: _counter(world, n_elders=3))
    ids = {e: run(lambda e=e: _number(e)) for e in c.elders}
    return {"counter": c, "ids": ids}


def _list_file(setup: dict[str, Any], yesterday: dt.date) -> bytes:
    c = setup["counter"]
    (n0, name0), (n1, _), (n2, _) = (setup["ids"][e] for e in c.elders)
    unknown = make_national_id("330105", dt.date(1941, 2, 3), 977)
    lines = [
        f"{n0},{name0},死亡,{yesterday.isoformat()},家属来电",  # row 2: good
        f"{unknown},李建国,迁出,{yesterday.isoformat()},",  # row 3: unknown ID
        f"{n1},王大妈,迁出,{yesterday.isoformat()},",  # row 4: name mismatch (a warning; applied)
        f"{n2},,住院,昨天,",  # row 5: bad date
        f"{n2},,出国,{yesterday.isoformat()},",  # row 6: bad event
        f"{n0},{name0},死亡,{yesterday.isoformat()},",  # row 7: duplicate of row 2
    ]
    return (HEADER + "\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def test_dry_run_names_each_row_and_writes_nothing(
    client: Any, world: World, run: Any, login: Any, setup: Any
) -> None:
    body = _list_file(setup, _today() - dt.timedelta(days=1))
    r = _upload(client, login("official_x"), "dry-run", world.district_x, body)
    assert r.status_code == 200, r.text
    rows = {x["row"]: x for x in r.json()["rows"]}
    codes = {n: [p["code"] for p in x["problems"]] for n, x in rows.items()}
    assert rows[2]["action"] == "apply" and codes[2] == []
    assert (
        rows[2]["live_cards"] == 1
        and rows[2]["balance_fen"] == 5000
        and rows[2]["status_after"] == "deceased"
    )
    assert rows[3]["action"] == "bad" and codes[3] == ["unknown_id"]
    assert rows[4]["action"] == "apply" and [w["code"] for w in rows[4]["warnings"]] == ["name_mismatch"]
    assert "王大妈" in rows[4]["warnings"][0]["message_zh"] and rows[4]["warnings"][0][
        "message_zh"
    ].startswith("第4行")
    assert rows[5]["action"] == "bad" and codes[5] == ["bad_date"]
    assert (
        rows[6]["action"] == "bad"
        and codes[6] == ["bad_event"]
        and "出国" in rows[6]["problems"][0]["message_zh"]
    )
    assert (
        rows[7]["action"] == "bad"
        and codes[7] == ["duplicate_row"]
        and "row 2" in rows[7]["problems"][0]["message_en"]
    )
    assert r.json()["will_apply"] == 2 and r.json()["bad_rows"] == [3, 5, 6, 7]
    # Nothing written.
    assert run(lambda: CivilListEntry.count()) == 0 and run(lambda: RefundTask.count()) == 0
    statuses = run(lambda: Elder.select(Elder.status).where(Elder.id.is_in(setup["counter"].elders)))
    assert {s["status"] for s in statuses} == {"active"}
    # Another district's official learns nothing; a cashier may not.
    assert _upload(client, login("official_y"), "dry-run", world.district_x, body).status_code == 404
    assert _upload(client, login("cashier_a"), "dry-run", world.district_x, body).status_code in (403, 404)


def test_apply_refuses_the_card_at_once_opens_the_refund_task_and_twice_changes_nothing(
    client: Any, world: World, run: Any, login: Any, setup: Any
) -> None:
    c = setup["counter"]
    e0, e1 = c.elders[0], c.elders[1]
    cashier = login("cashier_all")
    served = _scan(client, cashier, c.sites[0], c.cards[e0])  # a meal today, after the event date
    assert served.status_code == 201, served.text
    meal_id = served.json()["meal_id"]
    balance = run(lambda: balance_of(e0))
    assert 0 < balance < 5000
    run(
        lambda: StandingOrder.insert(
            StandingOrder(
                elder=e0,
                site=world.site_a,
                slot="lunch",
                placed_by_kind="staff",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    )
    body = _list_file(setup, _today() - dt.timedelta(days=1))
    official = login("official_x")
    r = _upload(client, official, "apply", world.district_x, body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["applied"] == 2 and result["unchanged"] == 0 and result["bad_rows"] == [3, 5, 6, 7]
    assert (
        result["cards_revoked"] == 2
        and result["standing_stopped"] == 1
        and result["refund_tasks_opened"] == 2
    )
    assert result["meals_flagged"] == 1
    # The counter refuses the card at once (the next scan, not the next minute).
    refused = _scan(client, cashier, c.sites[1], c.cards[e0])
    assert refused.status_code == 409 and refused.json()["code"] == "card_revoked", refused.text
    status = {
        r["id"]: r["status"]
        for r in run(lambda: Elder.select(Elder.id, Elder.status).where(Elder.id.is_in([e0, e1])))
    }
    assert status == {e0: "deceased", e1: "moved"}
    assert (
        run(lambda: StandingOrder.select(StandingOrder.active).where(StandingOrder.elder == e0).first())[
            "active"
        ]
        is False
    )
    tasks = client.get(f"/api/v1/care/refund-tasks?district_id={world.district_x}", headers=official).json()[
        "items"
    ]
    task = next(t for t in tasks if t["elder_id"] == e0)
    assert task["balance_fen"] == balance and task["status"] == "open" and task["reason"] == "deceased"
    flags = run(lambda: ClaimFlag.select().where(ClaimFlag.kind == "after_status_end").output(load_json=True))
    assert len(flags) == 1 and flags[0]["elder"] == e0 and flags[0]["meal_ids"] == [meal_id]
    audits = run(lambda: AuditEntry.count().where(AuditEntry.action == "civil.apply"))
    assert audits == 2
    # The same file again: nothing changes.
    again = _upload(client, official, "apply", world.district_x, body).json()
    assert again["applied"] == 0 and again["unchanged"] == 2 and again["cards_revoked"] == 0
    assert run(lambda: RefundTask.count()) == 2 and run(lambda: CivilListEntry.count()) == 2
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "civil.apply")) == 2
    assert run(lambda: ClaimFlag.count().where(ClaimFlag.kind == "after_status_end")) == 1
    # Closing the task: a cancel needs a note; done once, a second close is refused.
    url = f"/api/v1/care/refund-tasks/{task['id']}/close"
    assert (
        client.post(url, json={"outcome": "cancelled"}, headers=official).json()["code"] == "reason_required"
    )
    done = client.post(url, json={"outcome": "refunded_cash", "note": "交给女儿"}, headers=official)
    assert (
        done.status_code == 200
        and done.json()["status"] == "done"
        and done.json()["closed_by"] == world.users["official_x"]
    )
    again_close = client.post(url, json={"outcome": "refunded_cash"}, headers=official)
    assert again_close.status_code == 409 and again_close.json()["code"] == "refund_task_closed"
    assert client.post(url, json={"outcome": "refunded_cash"}, headers=login("official_y")).status_code == 404


def test_in_hospital_suspends_without_ending_and_a_death_is_not_undone(
    client: Any, world: World, run: Any, login: Any, setup: Any
) -> None:
    c = setup["counter"]
    e2 = c.elders[2]
    n2, name2 = setup["ids"][e2]
    day = (_today() - dt.timedelta(days=2)).isoformat()
    official = login("official_x")
    body = f"{HEADER}{n2},{name2},住院,{day},\r\n".encode("gb18030")
    r = _upload(client, official, "apply", world.district_x, body)
    assert r.status_code == 200 and r.json()["applied"] == 1 and r.json()["cards_revoked"] == 0
    assert run(lambda: Elder.select(Elder.status).where(Elder.id == e2).first())["status"] == "suspended"
    run(lambda: Elder.update({Elder.status: "deceased"}).where(Elder.id == e2))
    later = f"{HEADER}{n2},{name2},住院,{_today().isoformat()},\r\n".encode()
    rows = _upload(client, official, "dry-run", world.district_x, later).json()["rows"]
    assert rows[0]["action"] == "bad" and rows[0]["problems"][0]["code"] == "status_conflict"


def test_bad_files_are_refused_in_words(client: Any, world: World, login: Any) -> None:
    official = login("official_x")
    r = _upload(client, official, "dry-run", world.district_x, "姓名,备注\r\n张三,x\r\n".encode())
    assert r.status_code == 422 and r.json()["code"] == "civil_columns_missing"
    r = _upload(client, official, "dry-run", world.district_x, b"\x00\x01binary", name="x.bin")
    assert r.status_code == 415


def test_expiring_list_is_exact_for_the_day(client: Any, world: World, run: Any, login: Any) -> None:
    today = dt.date(2026, 12, 1)

    async def seed() -> dict[str, int]:
        ids = {}
        for name, community, until, status in (
            ("到期当天", world.community_x, today, "active"),
            ("第三十天", world.community_b, today + dt.timedelta(days=30), "active"),
            ("第三十一天", world.community_x, today + dt.timedelta(days=31), "active"),
            ("已过期", world.community_x, today - dt.timedelta(days=1), "active"),
            ("已故老人", world.community_x, today + dt.timedelta(days=3), "deceased"),
        ):
            e = await add_elder(district=world.district_x, community=community, name=name, status=status)
            await ElderCategory.insert(
                ElderCategory(
                    elder=e, code="dibao", valid_from=dt.date(2025, 1, 1), valid_until=until, created_at=NOW
                )
            )
            ids[name] = e
        return ids

    ids = run(seed)
    official = run(lambda: load_principal(world.users["official_x"]))
    got = run(lambda: civil.expiring_categories(official, district_id=world.district_x, today=today))
    assert [(i.elder_id, i.days_left) for i in got.items] == [
        (ids["第三十天"], 30),
        (ids["到期当天"], 0),
    ] or [(i.elder_id, i.days_left) for i in got.items] == [(ids["到期当天"], 0), (ids["第三十天"], 30)]
    assert got.until == dt.date(2026, 12, 31)
    worker = run(lambda: load_principal(world.users["community_b"]))
    mine = run(lambda: civil.expiring_categories(worker, today=today))
    assert [i.elder_id for i in mine.items] == [ids["第三十天"]]
    with pytest.raises(Exception) as err:
        run(lambda: civil.expiring_categories(worker, community_id=world.community_x, today=today))
    assert getattr(err.value, "code", "") == "not_found"
    other = run(lambda: load_principal(world.users["official_y"]))
    with pytest.raises(Exception) as err:
        run(lambda: civil.expiring_categories(other, district_id=world.district_x, today=today))
    assert getattr(err.value, "code", "") == "not_found"
    # Over HTTP (the real clock: the list answers, scoped).
    assert (
        client.get(
            f"/api/v1/care/civil/expiring?district_id={world.district_x}", headers=login("official_x")
        ).status_code
        == 200
    )
    assert client.get("/api/v1/care/civil/expiring", headers=login("community_a")).status_code == 200
    assert (
        client.get(
            f"/api/v1/care/civil/expiring?district_id={world.district_x}", headers=login("official_y")
        ).status_code
        == 404
    )


def test_demo_list_is_idempotent(world: World, run: Any, setup: Any) -> None:
    from types import SimpleNamespace

    from canteen.demo.care_civil import load_civil

    district = SimpleNamespace(district_id=world.district_x)
    first = run(lambda: load_civil(district, today=_today()))
    assert first is not None
    assert run(lambda: Elder.select(Elder.status).where(Elder.id == first).first())["status"] == "deceased"
    counts = (
        run(lambda: CivilListEntry.count()),
        run(lambda: RefundTask.count()),
        run(lambda: AuditEntry.count()),
    )
    assert run(lambda: load_civil(district, today=_today())) == first
    assert (
        run(lambda: CivilListEntry.count()),
        run(lambda: RefundTask.count()),
        run(lambda: AuditEntry.count()),
    ) == counts


def test_xlsx_list_with_a_title_row_reads_like_the_csv(
    client: Any, world: World, run: Any, login: Any, setup: Any
) -> None:
    import io

    import openpyxl

    c = setup["counter"]
    n0, name0 = setup["ids"][c.elders[0]]
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["拱墅区民政局 死亡人员名单"])
    ws.append(["身份证号", "姓名", "情形", "日期", "备注"])
    ws.append([n0, name0, "去世", _today() - dt.timedelta(days=5), ""])
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    h = login("official_x")
    r = client.post(
        "/api/v1/care/civil/dry-run",
        files={"file": ("名单.xlsx", buf.getvalue(), xlsx)},
        data={"district_id": str(world.district_x)},
        headers=h,
    )
    assert r.status_code == 202, r.text
    done = wait_api_run(client, r.json()["id"], h)
    assert done["status"] == "done", done
    row = client.get(done["download_url"], headers=h).json()["rows"][0]
    assert row["row"] == 3 and row["action"] == "apply" and row["event"] == "deceased"
    assert row["event_date"] == (_today() - dt.timedelta(days=5)).isoformat()
