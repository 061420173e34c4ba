"""Demo loader: the district's subsidy policy and a member card for every elder.

Call it after the elders are loaded (``load_demo`` → district, elders, then
this). Idempotent: a district that already has a policy keeps it, and elders
who hold a live card keep it.
"""

from __future__ import annotations

import datetime as dt

from canteen.core.audit import SystemActor
from canteen.demo.district import DemoDistrict
from canteen.registry.card_services import issue_missing_cards
from canteen.registry.tables import Card, Elder
from canteen.subsidies import services as subsidies
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.tables import SubsidyPolicy


async def load_policy_and_cards(district: DemoDistrict, *, now: dt.datetime) -> None:
    """Publish the demo policy if the district has none, then issue the missing cards
    (one transaction, one ``card.issue_batch`` audit row instead of one per card)."""
    actor = SystemActor("demo-loader")
    district_id = district.district_id
    if not await SubsidyPolicy.exists().where(SubsidyPolicy.district == district_id):
        draft = await subsidies.create_policy(
            actor, district_id, demo_policy(district_id=district_id), now=now
        )
        await subsidies.publish_policy(actor, draft.id, now=now)
    rows = await Elder.select(Elder.id).where((Elder.district == district_id) & (Elder.status == "active"))
    live = {
        int(r["elder"])
        for r in await Card.select(Card.elder).where(
            Card.revoked_at.is_null() & (Card.elder.district == district_id)
        )
    }
    missing = [int(r["id"]) for r in rows if int(r["id"]) not in live]
    await issue_missing_cards(actor, missing, now=now, note="demo data")
