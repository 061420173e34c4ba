"""Demo civil-affairs list (民政名单): the bureau reports one elder of the demo district as
deceased three days ago, so the refund-task page has a task (the balance left on the card) and
the card is revoked; one category's evidence ends in two weeks, so the re-verification list is not
empty. Called from ``load_demo`` after the other steps.

Idempotent: nothing is added while the demo district already has a civil-affairs entry (run
twice = same data); the list itself is applied through ``canteen.care.civil.apply_list``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from canteen.accounts.roles import ADMIN, Grant, Principal
from canteen.care import civil
from canteen.care.tables import CivilListEntry
from canteen.core.clock import utcnow
from canteen.payments.ledger import balance_of
from canteen.registry import services as registry
from canteen.registry.tables import Elder, ElderCategory

NOTE = "街道民政办通报"


async def load_civil(district: Any, *, today: dt.date, now: dt.datetime | None = None) -> int | None:
    """The elder the demo list names (None when no elder fits)."""
    now = now or utcnow()
    done = (
        await CivilListEntry.select(CivilListEntry.elder)
        .where(CivilListEntry.district == district.district_id)
        .first()
    )
    if done is not None:
        return int(done["elder"])
    elders = (
        await Elder.select(Elder.id, Elder.name, Elder.national_id_enc)
        .where((Elder.district == district.district_id) & (Elder.status == "active"))
        .order_by(Elder.id, ascending=False)
    )
    chosen = None
    for e in elders:
        if await balance_of(int(e["id"])) > 0:
            chosen = e
            break
    if chosen is None:
        return None
    admin = Principal(user_id=0, username="demo", display_name="demo", grants=(Grant(ADMIN),))
    day = today - dt.timedelta(days=3)
    number = registry.decrypt_id(chosen["national_id_enc"])
    csv = f"身份证号,姓名,情形,日期,备注\r\n{number},{chosen['name']},死亡,{day.isoformat()},{NOTE}\r\n"
    data = csv.encode("utf-8-sig")
    await civil.apply_list(admin, district.district_id, "民政名单（演示）.csv", data, now=now)
    soon = today + dt.timedelta(days=14)
    expiring = await ElderCategory.exists().where(
        (ElderCategory.valid_until >= today)
        & (ElderCategory.valid_until <= today + dt.timedelta(days=civil.EXPIRING_DAYS))
        & (ElderCategory.elder.district == district.district_id)
    )
    if not expiring:
        first = (
            await ElderCategory.select(ElderCategory.id)
            .where(
                (ElderCategory.elder.district == district.district_id)
                & (ElderCategory.elder.status == "active")
                & ElderCategory.valid_until.is_null()
            )
            .order_by(ElderCategory.id)
            .first()
        )
        if first is not None:
            await ElderCategory.update({ElderCategory.valid_until: soon}).where(
                ElderCategory.id == first["id"]
            )
    return int(chosen["id"])
