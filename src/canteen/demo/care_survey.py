"""Demo satisfaction survey and complaints: last quarter's survey answers at every demo meal point
(a handful of elders each, plus one paper form without a name) and two complaints, one of them
replied to by the point, so the viability page's satisfaction section and the elder's "my
complaints" page have something to show. Called from ``load_demo``.

Idempotent: answers are only added while the district has none for that quarter, complaints
while it has none (run twice = same data).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.roles import ADMIN, Grant, Principal
from canteen.core.clock import utcnow
from canteen.orders.actors import ElderPrincipal
from canteen.quality import complaints, survey
from canteen.quality.tables import Complaint, SurveyAnswer
from canteen.regions.tables import Site
from canteen.registry.tables import Elder

# Deterministic, plausible scores: mostly satisfied, price and taste the weak points.
PATTERNS = (
    {"taste": 4, "quantity": 5, "hygiene": 5, "service": 5, "price": 4},
    {"taste": 3, "quantity": 4, "hygiene": 5, "service": 4, "price": 3},
    {"taste": 5, "quantity": 4, "hygiene": 4, "service": 5, "price": 4},
    {"taste": 4, "quantity": 3, "hygiene": 4, "service": 4, "price": 5},
    {"taste": 2, "quantity": 4, "hygiene": 4, "service": 3, "price": 3},
)
COMMENTS = ("希望多点软烂的菜", "", "阿姨态度很好", "", "")
PER_POINT = 5


async def load_survey(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> dict[str, int]:
    """Counts of what exists afterwards: {"answers": …, "complaints": …}."""
    now = now or utcnow()
    admin = Principal(user_id=0, username="demo", display_name="demo", grants=(Grant(ADMIN),))
    quarter = survey.shift_quarter(survey.quarter_of(today), -1)
    answered_at = dt.datetime.combine(survey.quarter_bounds(quarter)[1], dt.time(2, 0), tzinfo=dt.UTC)
    points = await (
        Site.select(Site.id)
        .where((Site.district == district.district_id) & (Site.kind == "meal_point"))
        .order_by(Site.id)
    )
    elders = [
        int(e["id"])
        for e in await Elder.select(Elder.id)
        .where((Elder.district == district.district_id) & (Elder.status == "active"))
        .order_by(Elder.id)
    ]
    has_answers = await SurveyAnswer.exists().where(
        (SurveyAnswer.district == district.district_id) & (SurveyAnswer.quarter == quarter)
    )
    if not has_answers and elders:
        for i, p in enumerate(points):
            for j in range(PER_POINT):
                elder = elders[(i * PER_POINT + j) % len(elders)]
                who = ElderPrincipal(kind="elder", account_id=elder, elder_ids=(elder,))
                k = (i + j) % len(PATTERNS)
                await survey.answer_survey(
                    who,
                    int(p["id"]),
                    PATTERNS[k],
                    comment=COMMENTS[k],
                    elder_id=elder,
                    quarter=quarter,
                    now=answered_at,
                )
            # A paper form from a drop-in diner who left no name.
            await survey.answer_survey(
                admin, int(p["id"]), PATTERNS[1], quarter=quarter, comment="纸质问卷", now=answered_at
            )
    has_complaints = await Complaint.exists().where(Complaint.district == district.district_id)
    if not has_complaints and points and elders:
        site = int(points[0]["id"])
        first = ElderPrincipal(kind="elder", account_id=elders[0], elder_ids=(elders[0],))
        filed = await complaints.file_complaint(
            first,
            site,
            "food",
            "最近的红烧肉太咸了，我有高血压，吃不了。",
            elder_id=elders[0],
            now=now - dt.timedelta(days=3),
        )
        await complaints.reply(
            admin,
            filed.id,
            "谢谢您告诉我们。厨房已经减少了盐量，也会给您备注少盐。",
            now=now - dt.timedelta(days=2),
        )
        other = elders[1] if len(elders) > 1 else elders[0]
        second = ElderPrincipal(kind="elder", account_id=other, elder_ids=(other,))
        await complaints.file_complaint(
            second,
            site,
            "delivery",
            "送餐时间不固定，有时候十二点半才到。",
            elder_id=other,
            now=now - dt.timedelta(hours=5),
        )
    return {
        "answers": await SurveyAnswer.count().where(SurveyAnswer.district == district.district_id),
        "complaints": await Complaint.count().where(Complaint.district == district.district_id),
    }
