"""Satisfaction survey and complaints: exact means and shares (and their invariants), one answer
per elder, point and quarter, the complaint state machine (illegal → 409 with its code), replies
seen by the elder on the elder pages, scope (another district, another elder → 404), the audit
trail, and the viability report's new section on the page and in its export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.core.tables import AuditEntry
from canteen.orders.actors import ElderPrincipal
from canteen.quality import complaints, survey
from canteen.quality.tables import Complaint, MealRating, SurveyAnswer
from tests.factories import World
from tests.integration.cards.elders import add_elder
from tests.integration.orders.setup import PIN, delivery_world

DIMS = survey.DIMENSIONS
score = st.integers(min_value=1, max_value=5)
answer = st.fixed_dictionaries({d: score for d in DIMS})


# --- pure rules ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(answer, max_size=40))
def test_summary_invariants_and_exact_values(rows: list[dict[str, int]]) -> None:
    out = survey.summarise(rows)
    assert out["n"] == len(rows)
    if not rows:
        assert out["mean"] is None and out["satisfied_share"] is None
        assert all(v["mean"] is None for v in out["dimensions"].values())
        return
    assert 1 <= out["mean"] <= 5 and 0 <= out["satisfied_share"] <= 1
    for d in DIMS:
        exact = Fraction(sum(r[d] for r in rows), len(rows))
        got = out["dimensions"][d]
        assert 1 <= got["mean"] <= 5 and 0 <= got["satisfied_share"] <= 1
        assert abs(Fraction(str(got["mean"])) - exact) <= Fraction(1, 200)
        assert got["satisfied_share"] == round(sum(r[d] >= 4 for r in rows) / len(rows), 4)
    overall = Fraction(sum(sum(r.values()) for r in rows), 5 * len(rows))
    assert abs(Fraction(str(out["mean"])) - overall) <= Fraction(1, 200)


def test_quarters() -> None:
    assert survey.quarter_of(dt.date(2026, 11, 5)) == "2026-Q4"
    assert survey.quarter_bounds("2026-Q4") == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert survey.quarter_bounds("2027-Q1") == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert survey.shift_quarter("2026-Q4", 1) == "2027-Q1"
    assert survey.shift_quarter("2026-Q1", -1) == "2025-Q4"
    # Out of shape, or a year no survey of this service has (0000 is no date at all: it was a 500).
    for bad in ("2026-Q5", "0000-Q1", "1994-Q2", "2100-Q1"):
        with pytest.raises(DomainError) as e:
            survey.quarter_bounds(bad)
        assert e.value.code == "invalid_quarter"


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("open", "in_progress", True),
        ("open", "replied", True),
        ("open", "closed", True),
        ("in_progress", "replied", True),
        ("in_progress", "open", False),
        ("replied", "in_progress", True),
        ("replied", "open", False),
        ("closed", "open", False),
        ("closed", "in_progress", False),
        ("closed", "replied", False),
    ],
)
def test_transition_table(current: str, target: str, ok: bool) -> None:
    assert complaints.can_move(current, target) is ok


# --- survey over HTTP and services ----------------------------------------------------------------

SCORES_A = {"taste": 5, "quantity": 4, "hygiene": 5, "service": 4, "price": 3}  # mean 4.2: satisfied
SCORES_B = {"taste": 2, "quantity": 3, "hygiene": 4, "service": 3, "price": 2}  # mean 2.8


async def _elders(w: World, n: int) -> list[int]:
    return [
        await add_elder(district=w.district_x, community=w.community_x, name=f"测评长者{i}") for i in range(n)
    ]


def test_survey_results_exact_and_one_answer_per_elder_per_quarter(
    client: Any, world: World, run: Any, login: Any
) -> None:
    e1, e2, e3 = run(lambda: _elders(world, 3))
    quarter = survey.current_quarter()
    who = ElderPrincipal(kind="elder", account_id=e1, elder_ids=(e1,))
    run(lambda: survey.answer_survey(who, world.site_a, SCORES_B, elder_id=e1, comment="米饭偏硬"))
    # The same elder again this quarter: the second answer replaces the first.
    again = run(lambda: survey.answer_survey(who, world.site_a, SCORES_A, elder_id=e1))
    assert again.scores == SCORES_A and again.source == "elder"
    assert run(lambda: SurveyAnswer.count().where(SurveyAnswer.elder == e1)) == 1
    # Paper forms by the point's operator: with an elder, and without one (each counted).
    op = login("operator_a")
    r = client.post(
        f"/api/v1/sites/{world.site_a}/survey-answers", json={**SCORES_B, "elder_id": e2}, headers=op
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "paper"
    r = client.post(f"/api/v1/sites/{world.site_a}/survey-answers", json=SCORES_B, headers=op)
    assert r.status_code == 201
    # Last quarter's answer does not count in this quarter.
    last = survey.shift_quarter(quarter, -1)
    r = client.post(
        f"/api/v1/sites/{world.site_a}/survey-answers",
        json={**SCORES_A, "elder_id": e3, "quarter": last},
        headers=op,
    )
    assert r.status_code == 201
    # Faces of this quarter: two happy, one unhappy, one neutral (rows as the counter writes them).

    async def faces() -> None:
        for i, s in enumerate((3, 3, 1, 2)):
            await MealRating.insert(
                MealRating(
                    meal=9000 + i,
                    site=world.site_a,
                    district=world.district_x,
                    service_date=survey.quarter_bounds(quarter)[0] + dt.timedelta(days=i),
                    score=s,
                    source="counter",
                    at=utcnow(),
                )
            )

    run(faces)
    r = client.get(f"/api/v1/sites/{world.site_a}/survey-results", params={"quarter": quarter}, headers=op)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["n"] == 3
    by = {d["dimension"]: d for d in res["dimensions"]}
    assert by["taste"]["mean"] == 3.0  # (5 + 2 + 2) / 3
    assert by["hygiene"]["mean"] == 4.33 and by["hygiene"]["satisfied_share"] == 1.0
    assert by["taste"]["satisfied_share"] == 0.3333
    assert res["mean"] == round((4.2 + 2.8 + 2.8) / 3, 2)
    assert res["satisfied_share"] == 0.3333
    assert res["faces_n"] == 4 and res["faces_happy_share"] == 0.5 and res["faces_unhappy_share"] == 0.25
    r = client.get(f"/api/v1/sites/{world.site_a}/survey-results", params={"quarter": last}, headers=op)
    assert r.json()["n"] == 1
    # District list for the official; the other district's official sees nothing of it.
    r = client.get(f"/api/v1/districts/{world.district_x}/survey-results", headers=login("official_x"))
    assert r.status_code == 200
    assert {i["site_id"]: i["n"] for i in r.json()["items"]}[world.site_a] == 3
    other = login("official_y")
    assert client.get(f"/api/v1/sites/{world.site_a}/survey-results", headers=other).status_code == 404
    assert (
        client.get(f"/api/v1/districts/{world.district_x}/survey-results", headers=other).status_code == 404
    )
    assert (
        client.post(f"/api/v1/sites/{world.site_a}/survey-answers", json=SCORES_A, headers=other).status_code
        == 404
    )
    # Every answer and replacement is audited.
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "survey.replace")) == 1
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "survey.answer")) == 4


def test_survey_refuses_bad_input_in_words(client: Any, world: World, run: Any, login: Any) -> None:
    (e1,) = run(lambda: _elders(world, 1))
    op = login("operator_a")
    url = f"/api/v1/sites/{world.site_a}/survey-answers"
    for body in (
        {**SCORES_A, "taste": 6},
        {**SCORES_A, "taste": 0},
        {k: v for k, v in SCORES_A.items() if k != "price"},
        {**SCORES_A, "comment": "长" * 301},
        {**SCORES_A, "quarter": "2026-Q5"},
        {**SCORES_A, "elder_id": 2**40},
    ):
        r = client.post(url, json=body, headers=op)
        assert 400 <= r.status_code < 500 and r.json()["code"], (body, r.text)
    # Another district's elder, or one that does not exist: not found, nothing written.
    y_elder = run(lambda: add_elder(district=world.district_y, community=world.community_y))
    for eid in (y_elder, 99_999):
        r = client.post(url, json={**SCORES_A, "elder_id": eid}, headers=op)
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert run(lambda: SurveyAnswer.count()) == 0
    r = client.get(f"/api/v1/sites/{world.site_a}/survey-results", params={"quarter": "2026-Q9"}, headers=op)
    assert r.status_code == 422 and r.json()["code"]
    # An elder signed in cannot answer for someone else.
    who = ElderPrincipal(kind="elder", account_id=e1, elder_ids=(e1,))
    with pytest.raises(DomainError) as err:
        run(lambda: survey.answer_survey(who, world.site_a, SCORES_A, elder_id=e1 + 1000))
    assert err.value.code == "not_found"
    # A point of another district is not the elder's to rate.
    with pytest.raises(DomainError):
        run(lambda: survey.answer_survey(who, world.site_c, SCORES_A, elder_id=e1))


# --- complaints ---------------------------------------------------------------------------------


def test_complaint_lifecycle_transitions_scope_and_audit(
    client: Any, world: World, run: Any, login: Any
) -> None:
    e1, e2 = run(lambda: _elders(world, 2))
    official = login("official_x")
    r = client.post(
        f"/api/v1/sites/{world.site_a}/complaints",
        json={"category": "food", "text": "菜太咸了，老人吃不下。", "elder_id": e1},
        headers=official,
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "open" and c["filed_by_kind"] == "staff" and c["replies"] == []
    cid = c["id"]
    op = login("operator_a")
    r = client.post(f"/api/v1/complaints/{cid}/status", json={"status": "in_progress"}, headers=op)
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    # in_progress → open is not in the table.
    r = client.post(f"/api/v1/complaints/{cid}/status", json={"status": "open"}, headers=op)
    assert r.status_code == 409 and r.json()["code"] == "complaint_bad_transition"
    r = client.post(
        f"/api/v1/complaints/{cid}/replies", json={"text": "已调整盐量，明天起少放盐。"}, headers=op
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "replied" and body["first_reply_at"] is not None
    assert body["replies"][0]["author_role"] == "operator"
    r = client.post(f"/api/v1/complaints/{cid}/status", json={"status": "closed"}, headers=official)
    assert r.status_code == 200 and r.json()["closed_at"] is not None
    for path, payload in (("status", {"status": "in_progress"}), ("replies", {"text": "再补充一句"})):
        r = client.post(f"/api/v1/complaints/{cid}/{path}", json=payload, headers=op)
        assert r.status_code == 409 and r.json()["code"] == "complaint_bad_transition"
    r = client.post(f"/api/v1/complaints/{cid}/status", json={"status": "reopened"}, headers=op)
    assert r.status_code == 422 and r.json()["code"]
    # Scope: another district's official and a cashier of the point see nothing.
    other = login("official_y")
    assert client.get(f"/api/v1/complaints/{cid}", headers=other).status_code == 404
    assert (
        client.post(f"/api/v1/complaints/{cid}/replies", json={"text": "越权"}, headers=other).status_code
        == 404
    )
    assert client.get("/api/v1/complaints", headers=other).json()["items"] == []
    assert (
        client.get("/api/v1/complaints", params={"district_id": world.district_x}, headers=other).status_code
        == 404
    )
    assert client.get(f"/api/v1/complaints/{cid}", headers=login("cashier_a")).status_code == 403
    listed = client.get("/api/v1/complaints", params={"status": "closed"}, headers=op).json()["items"]
    assert [i["id"] for i in listed] == [cid]
    # Elders: their own only; another elder gets not found.
    mine = ElderPrincipal(kind="elder", account_id=e1, elder_ids=(e1,))
    theirs = ElderPrincipal(kind="elder", account_id=e2, elder_ids=(e2,))
    seen = run(lambda: complaints.get_complaint(mine, cid))
    assert seen.replies[0].text == "已调整盐量，明天起少放盐。"
    with pytest.raises(DomainError) as err:
        run(lambda: complaints.get_complaint(theirs, cid))
    assert err.value.code == "not_found"
    with pytest.raises(DomainError):
        run(lambda: complaints.for_elder(theirs, e1))
    # Every change audited: filed, two status moves, a reply, closed.
    actions = run(
        lambda: (
            AuditEntry.select(AuditEntry.action)
            .where((AuditEntry.target_type == "complaint") & (AuditEntry.target_id == str(cid)))
            .order_by(AuditEntry.id)
        )
    )
    assert [a["action"] for a in actions] == [
        "complaint.file",
        "complaint.status",
        "complaint.reply",
        "complaint.status",
    ]


def test_complaint_bad_input_writes_nothing(client: Any, world: World, run: Any, login: Any) -> None:
    op = login("operator_a")
    url = f"/api/v1/sites/{world.site_a}/complaints"
    for body in (
        {"category": "noise", "text": "太吵了"},
        {"category": "food", "text": "x" * 501},
        {"category": "food", "text": ""},
        {"category": "food"},
    ):
        r = client.post(url, json=body, headers=op)
        assert 400 <= r.status_code < 500 and r.json()["code"], body
    assert client.post(f"/api/v1/sites/{world.site_c}/complaints", json={"category": "food", "text": "很咸"},
                       headers=op).status_code == 404  # fmt: skip
    assert run(lambda: Complaint.count()) == 0


# --- elder pages ----------------------------------------------------------------------------------


def _elder_sign_in(client: Any, number: str) -> None:
    client.get("/elder/sign-in")
    r = client.post(
        "/elder/sign-in",
        data={"card_number": number, "pin": PIN, "_csrf_token": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text


def _form(client: Any, path: str, data: dict[str, str]) -> Any:
    return client.post(
        path, data={**data, "_csrf_token": client.cookies.get("csrftoken")}, follow_redirects=False
    )


def test_elder_answers_files_and_reads_the_reply_on_the_elder_pages(
    client: Any, world: World, run: Any, login: Any
) -> None:
    d = run(lambda: delivery_world(world, n_elders=2))
    e1, e2 = d.elders
    _elder_sign_in(client, d.numbers[e1])
    r = client.get(f"/elder/{e1}/survey")
    assert r.status_code == 200 and "口味" in r.text and "很满意" in r.text
    # A missing face is named next to its line; nothing written.
    r = _form(
        client, f"/elder/{e1}/survey", {"site_id": str(d.site), **{k: "4" for k in DIMS if k != "price"}}
    )
    assert r.status_code == 422 and "请为“价格”选一个表情" in r.text
    assert run(lambda: SurveyAnswer.count()) == 0
    r = _form(
        client, f"/elder/{e1}/survey", {"site_id": str(d.site), **{k: str(v) for k, v in SCORES_A.items()}}
    )
    assert r.status_code in (302, 303)
    row = run(lambda: SurveyAnswer.select().first())
    assert row["elder"] == e1 and row["source"] == "elder" and row["taste"] == 5
    assert "您本季度已经评价过" in client.get(f"/elder/{e1}/survey").text

    r = _form(client, f"/elder/{e1}/complaints", {"site_id": str(d.site), "category": "", "text": ""})
    assert r.status_code == 422 and "请选择投诉的类别" in r.text and "请写一下发生了什么" in r.text
    r = _form(
        client,
        f"/elder/{e1}/complaints",
        {"site_id": str(d.site), "category": "delivery", "text": "送来的饭凉了"},
    )
    assert r.status_code in (302, 303)
    c = run(lambda: Complaint.select().first())
    assert c["filed_by_kind"] == "elder" and c["elder"] == e1 and c["status"] == "open"
    page = client.get(f"/elder/{e1}/complaints").text
    assert "送来的饭凉了" in page and "待处理" in page and "送餐" in page
    # The operator replies; the elder sees it, with the time in the service zone.
    staff = login("operator_a")
    r = client.post(
        f"/api/v1/complaints/{c['id']}/replies", json={"text": "已加保温箱，谢谢提醒。"}, headers=staff
    )
    assert r.status_code == 201
    page = client.get(f"/elder/{e1}/complaints").text
    assert "已加保温箱，谢谢提醒。" in page and "已答复" in page and "助餐点" in page
    local = dt.datetime.fromisoformat(r.json()["replies"][0]["at"]).astimezone(
        dt.timezone(dt.timedelta(hours=8))
    )
    assert local.strftime("%H:%M") in page
    # Another elder's pages are not reachable with this session.
    assert client.get(f"/elder/{e2}/complaints", follow_redirects=False).status_code in (302, 303)
    r = _form(
        client, f"/elder/{e2}/complaints", {"site_id": str(d.site), "category": "food", "text": "冒名投诉"}
    )
    assert r.status_code in (302, 303) and run(lambda: Complaint.count()) == 1


# --- viability report -----------------------------------------------------------------------------


def test_viability_report_carries_the_quarter_survey_and_complaints(
    client: Any, world: World, run: Any, login: Any
) -> None:
    e1, e2 = run(lambda: _elders(world, 2))
    now = utcnow()
    month = now.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m")
    for e, s in ((e1, SCORES_A), (e2, SCORES_B)):
        who = ElderPrincipal(kind="elder", account_id=e, elder_ids=(e,))
        run(lambda who=who, e=e, s=s: survey.answer_survey(who, world.site_a, s, elder_id=e, now=now))
    official = login("official_x")
    ids = []
    for text in ("饭菜偏咸", "服务态度差"):
        r = client.post(f"/api/v1/sites/{world.site_a}/complaints", json={"category": "food", "text": text},
                        headers=official)  # fmt: skip
        ids.append(r.json()["id"])
    # One replied 2 days after filing (filed_at moved back: the reply's wait is what is measured).
    run(
        lambda: Complaint.update({Complaint.filed_at: now - dt.timedelta(days=2)}).where(
            Complaint.id == ids[0]
        )
    )
    client.post(f"/api/v1/complaints/{ids[0]}/replies", json={"text": "已改进"}, headers=official)
    r = client.get(
        f"/api/v1/districts/{world.district_x}/viability", params={"month": month}, headers=official
    )
    assert r.status_code == 200, r.text
    point = next(p for p in r.json()["points"] if p["site_id"] == world.site_a)
    q = point["quality"]
    assert q["quarter"] == survey.current_quarter(now)
    assert q["survey_n"] == 2 and q["survey_mean"] == 3.5
    assert q["dimension_means"]["taste"] == 3.5 and q["dimension_means"]["hygiene"] == 4.5
    assert q["complaints_filed"] == 2 and q["complaints_open"] == 1
    assert 1.99 <= q["mean_days_to_reply"] <= 2.01
    other = next(p for p in r.json()["points"] if p["site_id"] == world.site_b)
    assert other["quality"]["survey_n"] == 0 and other["quality"]["survey_mean"] is None
    # The export: the same numbers, as numbers.
    r = client.get(
        f"/api/v1/districts/{world.district_x}/viability",
        params={"month": month, "format": "csv"},
        headers={**official, "Accept-Language": "en"},
    )
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = rows[0]
    row = next(x for x in rows[1:] if x[0] == "卖鱼桥幸福食堂")
    cell = dict(zip(header, row, strict=True))
    assert cell["Survey answers"] == "2" and float(cell["Satisfaction (1–5)"]) == 3.5
    assert cell["Complaints filed"] == "2" and cell["Complaints not yet answered"] == "1"
    assert float(cell["Taste"]) == 3.5
    # The page: the section beside the existing figures.
    client.get("/login")
    from tests.factories import PASSWORD

    client.post(
        "/login",
        data={"username": "official_x", "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken")},
    )
    page = client.get("/accounting/viability", params={"district_id": world.district_x, "month": month})
    assert page.status_code == 200
    assert "满意度与投诉" in page.text and "3.50" in page.text


# --- staff pages ------------------------------------------------------------------------------------


def test_staff_pages_paper_form_and_status_buttons(client: Any, world: World, run: Any, login: Any) -> None:
    from tests.factories import PASSWORD

    (e1,) = run(lambda: _elders(world, 1))
    client.get("/login")
    client.post(
        "/login",
        data={"username": "operator_a", "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken")},
    )
    r = client.get("/quality/survey")
    assert r.status_code == 200 and "录入纸质问卷" in r.text
    # A missing score is named; an unknown elder number is refused next to the field.
    r = _form(client, f"/quality/survey/{world.site_a}", {k: "4" for k in DIMS if k != "taste"})
    assert r.status_code == 422 and "口味" in r.text
    r = _form(client, f"/quality/survey/{world.site_a}", {**{k: "4" for k in DIMS}, "elder_id": "99999"})
    assert r.status_code == 404 and "本区没有这个编号的老人" in r.text
    r = _form(client, f"/quality/survey/{world.site_a}", {**{k: "5" for k in DIMS}, "elder_id": str(e1)})
    assert r.status_code in (302, 303)
    assert "5.00" in client.get(r.headers["location"]).text
    # Another district's point is not found.
    r = _form(client, f"/quality/survey/{world.site_c}", {k: "4" for k in DIMS})
    assert r.status_code == 404
    # A complaint, answered and closed from the staff pages; an illegal move is refused in words.
    r = client.post(
        f"/api/v1/sites/{world.site_a}/complaints",
        json={"category": "hygiene", "text": "餐桌没擦干净"},
        headers=login("operator_a"),
    )
    cid = r.json()["id"]
    assert "餐桌没擦干净" in client.get("/quality/complaints").text
    assert _form(client, f"/quality/complaints/{cid}/reply", {"text": "x"}).status_code == 422
    assert _form(client, f"/quality/complaints/{cid}/reply", {"text": "已安排每餐后消毒"}).status_code in (
        302,
        303,
    )
    assert _form(client, f"/quality/complaints/{cid}/status", {"status": "closed"}).status_code in (302, 303)
    r = _form(client, f"/quality/complaints/{cid}/status", {"status": "in_progress"})
    assert r.status_code == 409 and "不能改成这个状态" in r.text
    page = client.get(f"/quality/complaints/{cid}").text
    assert "已结束" in page and "已安排每餐后消毒" in page and "complaint.status" not in page
    assert (
        run(lambda: Complaint.select(Complaint.status).where(Complaint.id == cid).first())["status"]
        == "closed"
    )
