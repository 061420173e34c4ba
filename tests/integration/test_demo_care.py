"""The demo district's care around the meal (issue #17), loaded once for every part: the demo
takes a minute or more to load, so the parts' checks share one load and one reload.

- visits: four rules, visits written, exactly one overdue elder in 卖鱼桥社区;
- survey: last quarter's answers and two complaints (one replied);
- notifications: the demo's door and welfare events reach the log page with no gateway
  configured;
- a second load changes none of it (every demo step is idempotent).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.services import load_principal
from canteen.care import visits
from canteen.care.tables import Visit, VisitRule
from canteen.core.clock import utcnow
from canteen.notify.tables import Notification
from canteen.quality.tables import Complaint, SurveyAnswer


def test_demo_care_parts_load_once_and_reload_unchanged(run: Any, client: Any) -> None:
    from canteen.demo.care_survey import load_survey
    from canteen.demo.care_visits import COMMUNITY, load_visits
    from canteen.demo.district import DEMO_PASSWORD, load_demo

    now = utcnow()
    district = run(lambda: load_demo(now))

    # Visits: the plan of the demo community has one overdue elder, first.
    rules = run(lambda: VisitRule.count().where(VisitRule.district == district.district_id))
    written = run(lambda: Visit.count())

    async def plan() -> Any:
        official = await load_principal(district.user_ids["official"])
        assert official is not None
        return await visits.visit_plan(
            official, district.district_id, community_id=district.community_ids[COMMUNITY]
        )

    items = run(plan).items
    assert rules == 4 and written > 0
    assert items and items[0].status == "overdue"
    assert sum(1 for p in items if p.status == "overdue") == 1

    # Survey and complaints.
    answers = run(lambda: SurveyAnswer.count())
    assert answers > 0
    assert run(lambda: Complaint.count()) == 2
    assert run(lambda: Complaint.count().where(Complaint.status == "replied")) == 1

    # Notifications: nothing configured, so "sent" to the log only (or held by quiet hours).
    rows = run(lambda: Notification.select(Notification.kind, Notification.status))
    assert {"door_not_home", "welfare_attention"} <= {r["kind"] for r in rows}
    assert {r["status"] for r in rows} <= {"logged", "pending"}
    r = client.post("/api/v1/auth/login", json={"username": "official", "password": DEMO_PASSWORD})
    assert r.status_code == 201, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    page = client.get(f"/official/districts/{district.district_id}/notifications", headers=h)
    assert page.status_code == 200 and ("仅记录" in page.text or "等待发送" in page.text)

    # A second load, and each part's own loader again: nothing new.
    run(lambda: load_demo(now))
    assert run(lambda: load_visits(district, now=now)) == 0
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    again = run(lambda: load_survey(district, today=today))
    assert again["complaints"] == 2
    assert run(lambda: Visit.count()) == written
    assert run(lambda: SurveyAnswer.count()) == answers
    assert run(lambda: Complaint.count()) == 2
    assert run(lambda: Notification.count()) == len(rows)
