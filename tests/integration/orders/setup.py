"""A delivery world: district X with the demo policy, menus today and tomorrow at site A
(cut-off an hour ahead today, the eve for tomorrow), eligible elders (90+) with cards, PINs and balances."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from canteen.accounts.passwords import hash_password
from canteen.accounts.services import load_principal
from canteen.core.clock import utcnow
from canteen.menus.schemas import MealSetIn
from canteen.menus.services import set_menu
from canteen.payments.ledger import top_up_cash
from canteen.regions.tables import Site
from canteen.registry.card_services import issue_card
from canteen.registry.tables import Card, Elder
from canteen.settings import get_settings
from canteen.subsidies.demo import demo_policy
from canteen.subsidies.services import create_policy, publish_policy
from tests.factories import World
from tests.integration.cards.elders import add_elder

PIN = "2580"
LUNCH = [{"slot": "lunch", "start": "00:00", "end": "23:59", "cutoff": "00:00"}]  # counter open all day


@dataclass
class Delivery:
    site: int
    today: dt.date
    tomorrow: dt.date
    elders: list[int] = field(default_factory=list)
    cards: dict[int, str] = field(default_factory=dict)  # elder → QR token
    numbers: dict[int, str] = field(default_factory=dict)  # elder → card number
    sets_today: dict[str, int] = field(default_factory=dict)
    sets_tomorrow: dict[str, int] = field(default_factory=dict)


async def delivery_world(w: World, n_elders: int = 2, balance_fen: int = 5000) -> Delivery:
    admin = await load_principal(w.users["admin"])
    assert admin is not None
    now = utcnow()
    today = now.astimezone(get_settings().tz).date()
    tomorrow = today + dt.timedelta(days=1)
    await Site.update({Site.slots: LUNCH}).where(Site.id == w.site_a)
    policy = await create_policy(
        admin, w.district_x, demo_policy(district_id=w.district_x, effective_from=dt.date(2025, 1, 1))
    )
    await publish_policy(admin, policy.id)
    sets = [
        MealSetIn(name="套餐A", list_price_fen=1500),
        MealSetIn(name="软食套餐", list_price_fen=1200),
    ]
    m1 = await set_menu(admin, w.site_a, today, "lunch", sets, cutoff_at=now + dt.timedelta(hours=1))
    m2 = await set_menu(admin, w.site_a, tomorrow, "lunch", sets, cutoff_at=now + dt.timedelta(hours=20))
    d = Delivery(site=w.site_a, today=today, tomorrow=tomorrow)
    d.sets_today = {s.name: s.id for s in m1.sets}
    d.sets_tomorrow = {s.name: s.id for s in m2.sets}
    for i in range(n_elders):
        elder = await add_elder(
            district=w.district_x,
            community=w.community_x,
            name=f"送餐长者{i}",
            birth_date=dt.date(1931, 3, 1),
        )
        await Elder.update({Elder.pin_hash: hash_password(PIN)}).where(Elder.id == elder)
        d.elders.append(elder)
        d.cards[elder] = (await issue_card(admin, elder, reason="new")).token
        card = await Card.select(Card.number).where(Card.elder == elder).first()
        assert card is not None
        d.numbers[elder] = card["number"]
        if balance_fen:
            await top_up_cash(admin, w.site_a, elder, balance_fen, idempotency_key=f"seed-topup-{elder}")
    return d
