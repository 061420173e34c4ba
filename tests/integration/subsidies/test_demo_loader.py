"""The demo loader publishes the demo policy once and gives every elder a card once."""

from __future__ import annotations

from canteen.core.tables import AuditEntry
from canteen.demo.district import DemoDistrict
from canteen.demo.policy_cards import load_policy_and_cards
from canteen.registry.tables import Card
from canteen.subsidies.tables import SubsidyPolicy
from tests.factories import NOW
from tests.integration.cards.elders import add_elder


def test_load_policy_and_cards_is_idempotent(client, run, world, login) -> None:
    x, cx = world.district_x, world.community_x
    for name in ("王秀英", "李建华", "张桂兰"):
        run(lambda n=name: add_elder(district=x, community=cx, name=n))
    run(lambda: add_elder(district=x, community=cx, name="赵老伯", status="deceased"))
    demo = DemoDistrict(district_id=x, site_ids={}, community_ids={}, user_ids={}, created=True)

    run(lambda: load_policy_and_cards(demo, now=NOW))
    run(lambda: load_policy_and_cards(demo, now=NOW))

    policies = run(lambda: SubsidyPolicy.select(SubsidyPolicy.status).where(SubsidyPolicy.district == x))
    assert [p["status"] for p in policies] == ["published"]
    assert run(lambda: Card.count().where(Card.revoked_at.is_null())) == 3
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "card.issue_batch")) == 1
    assert run(lambda: AuditEntry.count().where(AuditEntry.action == "card.issue")) == 0

    # The demo policy is live for quotes straight away.
    q = client.post(
        "/api/v1/quotes",
        json={"site_id": world.site_a, "slot": "lunch", "date": "2026-11-23", "mode": "dine_in",
              "list_price_fen": 1500},
        headers=login("cashier_a"),
    )  # fmt: skip
    assert q.status_code == 200 and q.json()["copay_fen"] == 1500
