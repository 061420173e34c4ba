"""A card of another city is refused at the counter and in quotes, in words; an elder of another
district of the same city is not refused by this rule."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from canteen.accounts.services import load_principal
from canteen.regions.tables import City, Community, District, Street
from canteen.registry.card_services import issue_card
from tests.integration.cards.elders import add_elder
from tests.integration.checkin.test_counter import _counter


async def _elder_of_ningbo() -> int:
    city = (await City.insert(City(name="宁波市", code="330200")).returning(City.id))[0]["id"]
    district = (
        await District.insert(District(name="海曙区", code="330203", city="宁波市", city_id=city)).returning(
            District.id
        )
    )[0]["id"]
    street = (await Street.insert(Street(district=district, name="南门街道")).returning(Street.id))[0]["id"]
    community = (
        await Community.insert(Community(street=street, district=district, name="南门社区")).returning(
            Community.id
        )
    )[0]["id"]
    return await add_elder(district=district, community=community, name="宁波长者", categories=("dibao",))


def test_a_card_of_another_city_is_refused_in_words(client: Any, world: Any, run: Any, login: Any) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    elder = run(_elder_of_ningbo)
    admin = run(lambda: load_principal(world.users["admin"]))
    token = run(lambda: issue_card(admin, elder, reason="new")).token
    cashier = login("cashier_all")
    body = {"site_id": c.sites[0], "card": token}
    r = client.post("/api/v1/checkins", json=body, headers={**cashier, "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 409 and r.json()["code"] == "card_other_city", r.text
    assert "其他城市" in r.json()["message"]
    # An admin's quote says the same; nothing was written.
    q = client.post(
        "/api/v1/quotes",
        json={
            "site_id": c.sites[0],
            "elder_id": elder,
            "slot": "lunch",
            "list_price_fen": 1500,
            "date": dt.date.today().isoformat(),
        },
        headers={**login("admin"), "Accept-Language": "en"},
    )
    assert q.status_code == 409, q.text
    assert q.json()["code"] == "card_other_city" and "another city" in q.json()["message"]
    # The counter page: the refusal in words with what to do next.
    from tests.integration.accounts.test_auth import _page_login

    _page_login(client, "cashier_all")
    page = client.post(
        f"/counter/{c.sites[0]}/preview",
        data={"card": token, "_csrf_token": client.cookies.get("csrftoken")},
    )
    words = re.sub(r"<[^>]*>", " ", page.text)
    assert page.status_code == 409 and "其他城市" in words and "card_other_city" not in words
