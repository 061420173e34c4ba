"""Demo community roles (issue #17): ``community`` is the community worker of 卖鱼桥社区 (she
registers and edits that community's elders and sees their personal data, nobody else's) and
``volunteer`` a volunteer of the same community (visits only: no registry). Called from
``load_demo`` at the ``# demo:care`` marker.

Idempotent: a user that exists already is left as it is (run twice = same data).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.passwords import hash_password
from canteen.accounts.roles import COMMUNITY_WORKER, VOLUNTEER
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction

COMMUNITY = "卖鱼桥社区"
# (username, display name, role): both of COMMUNITY.
SCOPE_USERS = [
    ("community", "陈丽华（卖鱼桥社区工作者）", COMMUNITY_WORKER),
    ("volunteer", "周志强（卖鱼桥社区志愿者）", VOLUNTEER),
]


async def load_scope(district: Any, *, now: dt.datetime | None = None) -> dict[str, int]:
    """The demo community users' ids by username (created on the first run only)."""
    # Imported here: demo.district imports this module's loader inside load_demo.
    from canteen.demo.district import DEMO_PASSWORD

    now = now or utcnow()
    community_id = district.community_ids.get(COMMUNITY)
    if community_id is None:
        return {}
    actor = SystemActor("demo")
    out: dict[str, int] = {}
    demo_hash: str | None = None
    for username, display, role in SCOPE_USERS:
        found = await StaffUser.select(StaffUser.id).where(StaffUser.username == username).first()
        if found:
            out[username] = int(found["id"])
            continue
        demo_hash = demo_hash or hash_password(DEMO_PASSWORD)
        async with write_transaction():
            rows = await StaffUser.insert(
                StaffUser(
                    username=username,
                    display_name=display,
                    password_hash=demo_hash,
                    created_at=now,
                    password_changed_at=now,
                )
            ).returning(StaffUser.id)
            uid = out[username] = int(rows[0]["id"])
            await RoleGrant.insert(RoleGrant(user=uid, role=role, community=community_id))
            await audit.record(
                actor,
                "user.create",
                "staff_user",
                uid,
                after={"username": username, "role": role, "community_id": community_id},
                now=now,
            )
    return out
