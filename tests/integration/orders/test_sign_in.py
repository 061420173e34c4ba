"""Elder sign-in: card number + PIN; five wrong PINs lock for 15 minutes and name the hotline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from canteen.core.clock import utcnow
from canteen.core.errors import DomainError
from canteen.orders.services import elder_sign_in
from tests.integration.orders.setup import PIN, delivery_world


def test_five_wrong_pins_lock_for_fifteen_minutes(world: Any, run: Any) -> None:
    from canteen.settings import get_settings

    d = run(lambda: delivery_world(world, n_elders=1, balance_fen=0))
    elder = d.elders[0]
    number = d.numbers[elder]
    now = utcnow()
    who = run(lambda: elder_sign_in(number, PIN, now=now))
    assert who.kind == "elder" and who.elder_ids == (elder,)
    assert run(lambda: elder_sign_in(d.cards[elder], PIN, now=now)).elder_ids == (elder,)  # scanned QR
    for _ in range(4):
        with pytest.raises(DomainError) as e:
            run(lambda: elder_sign_in(number, "0000", now=now))
        assert e.value.code == "pin_wrong"
    with pytest.raises(DomainError) as e:
        run(lambda: elder_sign_in(number, "0000", now=now))
    assert e.value.code == "pin_locked" and e.value.detail["hotline"] == get_settings().hotline
    with pytest.raises(DomainError) as e:  # even the right PIN, while locked
        run(lambda: elder_sign_in(number, PIN, now=now + dt.timedelta(minutes=14)))
    assert e.value.code == "pin_locked"
    assert run(lambda: elder_sign_in(number, PIN, now=now + dt.timedelta(minutes=16))).elder_ids == (elder,)
