"""Demo welfare visits (issue #17): the district's visit rules, a few weeks of visits by the
卖鱼桥社区 community worker and volunteer (the courier's door checks of the demo rounds count
too), and one elder of that community last visited longer ago than the rule allows, so the plan
shows what overdue looks like.
Other communities are visited less well, so the officials' coverage table has something to say.

Idempotent: the rules are the marker; a second run finds them and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.roles import COMMUNITY_WORKER, VOLUNTEER, Grant, Principal
from canteen.accounts.services import load_principal
from canteen.accounts.tables import StaffUser
from canteen.care import visits
from canteen.care.tables import VisitRule
from canteen.core.clock import utcnow

COMMUNITY = "卖鱼桥社区"
RULES = [
    visits.VisitRuleIn(name="独居80岁以上 每周一次", every_days=7, alone=True, min_age=80),
    visits.VisitRuleIn(name="特困、失能 每两周一次", every_days=14, categories=["tekun", "disabled"]),
    visits.VisitRuleIn(
        name="计划生育特殊家庭 每两周一次", every_days=14, categories=["family_planning_special"]
    ),
    visits.VisitRuleIn(name="高龄90岁以上 每半月一次", every_days=15, min_age=90),
]
NOTES = ["精神不错，聊了家常", "帮忙取了药", "提醒按时吃降压药", "家里有点冷，已告知社区"]


async def _community_staff(username: str, role: str, community_id: int) -> Principal | None:
    row = (
        await StaffUser.select(StaffUser.id, StaffUser.display_name)
        .where(StaffUser.username == username)
        .first()
    )
    if row is None:
        return None
    # Built with the community grant as the community-scope loader reads it from RoleGrant.
    return Principal(
        user_id=int(row["id"]),
        username=username,
        display_name=str(row["display_name"]),
        grants=(Grant(role=role, community_id=community_id),),
    )


async def load_visits(district: Any, *, now: dt.datetime | None = None) -> int:
    """Rules and visits for the demo district; returns the number of visits written (0 on a rerun)."""
    now = now or utcnow()
    if await VisitRule.exists().where(VisitRule.district == district.district_id):
        return 0
    official_id = district.user_ids.get("official")
    official = await load_principal(official_id) if official_id else None
    if official is None:
        return 0
    # A month old, so an elder nobody has visited since is overdue today.
    for rule in RULES:
        await visits.create_rule(official, district.district_id, rule, now=now - dt.timedelta(days=30))
    community_id = district.community_ids.get(COMMUNITY)
    worker = await _community_staff("community", COMMUNITY_WORKER, community_id) if community_id else None
    volunteer = await _community_staff("volunteer", VOLUNTEER, community_id) if community_id else None
    plan = await visits.visit_plan(official, district.district_id)
    written = 0
    left_overdue = False
    for n, entry in enumerate(plan.items):
        when = now - dt.timedelta(days=1 + n % 5, hours=2)
        if entry.community_id == community_id:
            actor = (volunteer if n % 2 else worker) or official
            if entry.last_visit_at is None and not left_overdue:
                # The one the community worker sees at the top of the plan: last seen two days
                # longer ago than the rule allows (the registry's elders are new in the demo).
                left_overdue = True
                when = now - dt.timedelta(days=entry.every_days + 2)
        elif n % 3 == 0:
            actor = official
        else:
            continue  # other communities: only a third visited lately
        level: visits.Level = "attention" if n == 3 else "fine"
        await visits.record_visit(
            actor,
            entry.elder_id,
            visits.VisitIn(
                level=level,
                note=NOTES[n % len(NOTES)],
                minutes=20 + 10 * (n % 4),
                at=when,
            ),
            now=now,
        )
        written += 1
    return written
