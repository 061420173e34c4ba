"""The counter's serving window and the ``outside_hours`` claim check are one rule: a meal the
counter accepted is never flagged for its time, and a meal it would refuse always is."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canteen.checkin.rules import GRACE, pick_slot, slot_open_at
from canteen.core.errors import DomainError
from canteen.quality.services import served_outside_hours

LUNCH = {"slot": "lunch", "start": "10:30", "end": "13:00", "cutoff": "09:00"}
DINNER = {"slot": "dinner", "start": "16:30", "end": "18:30", "cutoff": "14:00"}


def _accepts(slots: list[dict[str, Any]], at: dt.time, requested: str | None) -> str | None:
    try:
        return pick_slot(slots, at, requested)
    except DomainError as err:
        assert err.code == "slot_closed"
        return None


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (dt.time(9, 59, 59), False),
        (dt.time(10, 0), True),  # GRACE before the start
        (dt.time(13, 20), True),  # a late elder inside the grace window
        (dt.time(13, 30, 59), True),  # to the minute: 13:30:59 is 13:30
        (dt.time(13, 31), False),
    ],
)
def test_the_window_is_the_hours_plus_grace(at: dt.time, open_: bool) -> None:
    assert GRACE == dt.timedelta(minutes=30)
    assert slot_open_at(LUNCH, at) is open_
    assert (_accepts([LUNCH, DINNER], at, "lunch") == "lunch") is open_
    assert served_outside_hours([LUNCH, DINNER], "lunch", at) is not open_


def test_a_late_meal_the_counter_took_is_not_flagged() -> None:
    # Before the fix the claim check ignored the grace window and flagged this meal.
    at = dt.time(13, 20, 30)
    assert pick_slot([LUNCH, DINNER], at) == "lunch"
    assert not served_outside_hours([LUNCH, DINNER], "lunch", at)


def test_a_slot_without_hours_is_never_open() -> None:
    broken = [{"slot": "lunch", "start": "", "end": "13:00"}, DINNER]
    assert not slot_open_at(broken[0], dt.time(12, 0))
    assert _accepts(broken, dt.time(12, 0), "lunch") is None
    assert served_outside_hours(broken, "lunch", dt.time(12, 0))


_hhmm = st.builds(lambda m: f"{m // 60:02d}:{m % 60:02d}", st.integers(0, 23 * 60 + 59))
_slot = st.fixed_dictionaries(
    {"slot": st.sampled_from(["breakfast", "lunch", "dinner"]), "start": _hhmm, "end": _hhmm}
)
_time = st.times()


@given(
    slots=st.lists(_slot, min_size=1, max_size=4),
    at=_time,
    requested=st.sampled_from(["breakfast", "lunch", "dinner"]),
)
def test_counter_accepts_iff_the_claim_check_does_not_flag(
    slots: list[dict[str, Any]], at: dt.time, requested: str
) -> None:
    accepted = _accepts(slots, at, requested) == requested
    assert accepted is not served_outside_hours(slots, requested, at)


@given(slots=st.lists(_slot, min_size=1, max_size=4), at=_time)
def test_the_slot_the_counter_picks_is_never_flagged(slots: list[dict[str, Any]], at: dt.time) -> None:
    picked = _accepts(slots, at, None)
    if picked is None:
        assert all(served_outside_hours(slots, s["slot"], at) for s in slots)
    else:
        assert not served_outside_hours(slots, picked, at)
