"""Pure parts of the ledger and menus: account names, set tags, cut-offs."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from canteen.menus.services import cutoff_from_config, set_diet_tags
from canteen.payments import ledger

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_account_names() -> None:
    assert ledger.elder_account(7) == "elder:7"
    assert ledger.cash_account(3, dt.date(2026, 11, 23)) == "cash:site:3:2026-11-23"
    assert ledger.revenue_account(3) == "revenue:site:3"
    assert ledger.receivable_account("district", 2) == "receivable:district:op:2"
    assert ledger._elder_of("elder:12") == 12 and ledger._elder_of("elder:x") is None
    assert ledger._elder_of("revenue:site:1") is None
    assert len(ledger.new_txn()) <= 40


def test_cutoff_same_day_or_evening_before() -> None:
    day = dt.date(2026, 11, 23)
    lunch = cutoff_from_config({"start": "10:30", "cutoff": "09:00"}, day, SHANGHAI)
    assert lunch == dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
    breakfast = cutoff_from_config({"start": "06:30", "cutoff": "18:00"}, day, SHANGHAI)
    assert breakfast == dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


TAGS = st.lists(st.sampled_from(["low_salt", "low_sugar", "soft", "no_pork", "vegetarian"]), max_size=5)


@given(st.lists(TAGS, max_size=5))
def test_set_tags_are_what_every_dish_shares(dishes: list[list[str]]) -> None:
    tags = set_diet_tags(dishes)
    assert len(tags) == len(set(tags))
    for t in tags:
        assert all(t in d for d in dishes)
    if dishes:
        assert set(tags) == set.intersection(*(set(d) for d in dishes))
    else:
        assert tags == []
