"""Typed look-ups at the counter are counted; scans are not; a Redis outage never stops the queue.

A typed card number (or a name search) names an elder without the card in hand, so the counter
page counts it per cashier and per address with the one rate limiter (`card_lookup` limits); a
scanned token is signed and is not counted. While the limiter's store is unreachable these
look-ups fail open (the database stays the referee of every subsidy) — sign-in still fails closed.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from canteen.core import ratelimit
from canteen.core.ratelimit import make_limiter
from canteen.registry.tables import Card
from tests.integration.accounts.test_auth import _page_login
from tests.integration.checkin.test_counter import _counter

EN = {"Accept-Language": "en"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _preview(client: Any, site: int, card: str) -> Any:
    return client.post(
        f"/counter/{site}/preview",
        data={"card": card, "_csrf_token": client.cookies.get("csrftoken")},
        headers=EN,
    )


def test_typed_look_ups_are_limited_per_cashier_and_scans_are_not(client: Any, world: Any, run: Any) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    elder = c.elders[0]
    number = run(lambda: Card.select(Card.number).where(Card.elder == elder).first())["number"]
    site = c.sites[0]
    _page_login(client, "cashier_all")
    allowed = ratelimit.CARD_LOOKUP_PER_ACCOUNT.amount

    answers = [_preview(client, site, number).status_code for _ in range(allowed - 10)]
    search = f"/counter/{site}/lookup"
    answers += [client.get(search, params={"q": "测试"}, headers=EN).status_code for _ in range(10)]
    assert answers == [200] * allowed

    refused = _preview(client, site, number)
    assert refused.status_code == 429
    words = re.sub(r"<[^>]*>", " ", refused.text)  # what the cashier sees, without the markup
    assert "Scan the card instead" in words and "too_many_attempts" not in words
    refused_search = client.get(search, params={"q": "测试"}, headers=EN)
    assert refused_search.status_code == 429 and "Scan the card instead" in refused_search.text

    # The signed token is not a guess: the queue keeps moving.
    scanned = _preview(client, site, c.cards[elder])
    assert scanned.status_code == 200, scanned.text[:300]
    assert "Scan the card instead" not in scanned.text


def test_typed_look_ups_pass_while_the_limiter_store_is_away(client: Any, world: Any, run: Any) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    elder = c.elders[0]
    number = run(lambda: Card.select(Card.number).where(Card.elder == elder).first())["number"]
    site = c.sites[0]
    _page_login(client, "cashier_all")
    state = client.app.state
    working = state.limiter
    state.limiter = make_limiter(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        answer = _preview(client, site, number)
        assert answer.status_code == 200, answer.text[:300]
        assert "测试长者0" in answer.text or "测试长者0" in client.get(f"/counter/{site}").text
        search = client.get(f"/counter/{site}/lookup", params={"q": "测试长者"}, headers=EN)
        assert search.status_code == 200 and "测试长者0" in search.text
    finally:
        state.limiter = working


def test_typed_card_numbers_over_the_api_are_limited_too(
    client: Any, world: Any, run: Any, login: Any
) -> None:
    c = run(lambda: _counter(world, n_elders=1))
    elder = c.elders[0]
    number = run(lambda: Card.select(Card.number).where(Card.elder == elder).first())["number"]
    cashier = login("cashier_all")
    body = {"site_id": c.sites[0], "card": number}
    allowed = ratelimit.CARD_LOOKUP_PER_ACCOUNT.amount
    codes = [
        client.post("/api/v1/checkins/preview", json=body, headers=cashier).status_code
        for _ in range(allowed)
    ]
    assert codes == [200] * allowed
    refused = client.post("/api/v1/checkins/preview", json=body, headers=cashier)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    refused = client.post(
        "/api/v1/checkins", json=body, headers={**cashier, "Idempotency-Key": "typed-number-over-limit"}
    )
    assert refused.status_code == 429
    scanned = client.post(
        "/api/v1/checkins",
        json={**body, "card": c.cards[elder]},
        headers={**cashier, "Idempotency-Key": "scanned-card-after-limit"},
    )
    assert scanned.status_code == 201, scanned.text
