"""Quiet hours and backoff (canteen.notify.rules): pure, checked over many instants."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from canteen.notify import rules

ZONE = ZoneInfo("Asia/Shanghai")
START, END = dt.time(21), dt.time(7)
instants = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(dt.UTC)
)


@given(instants, st.sampled_from(["sms", "wechat", "webhook"]), st.booleans())
def test_release_is_never_early_never_in_quiet_hours_and_at_once_when_allowed(
    when: dt.datetime, channel: str, urgent: bool
) -> None:
    out = rules.release_at(when, start=START, end=END, zone=ZONE, urgent=urgent, channel=channel)
    assert out >= when
    quiet_now = rules.in_quiet_hours(when.astimezone(ZONE).time(), START, END)
    if urgent or channel == "webhook" or not quiet_now:
        assert out == when
    else:
        local = out.astimezone(ZONE)
        assert local.time() == END and out - when <= dt.timedelta(hours=10)
        assert not rules.in_quiet_hours(local.time(), START, END)


def test_quiet_hours_examples() -> None:
    at_22 = dt.datetime(2026, 12, 3, 22, 0, tzinfo=ZONE)
    at_05 = dt.datetime(2026, 12, 4, 5, 30, tzinfo=ZONE)
    seven = dt.datetime(2026, 12, 4, 7, 0, tzinfo=ZONE)
    for t in (at_22, at_05):
        assert rules.release_at(t, start=START, end=END, zone=ZONE, urgent=False, channel="sms") == seven
    assert rules.release_at(at_22, start=START, end=END, zone=ZONE, urgent=True, channel="sms") == at_22
    noon = dt.datetime(2026, 12, 4, 12, 0, tzinfo=ZONE)
    assert rules.release_at(noon, start=START, end=END, zone=ZONE, urgent=False, channel="sms") == noon


def test_backoff_doubles_from_a_minute_and_is_capped() -> None:
    assert [rules.backoff(n).total_seconds() / 60 for n in range(1, 7)] == [1, 2, 4, 8, 16, 32]
    assert rules.backoff(30) == dt.timedelta(hours=1)
    assert rules.parse_hhmm("21:00") == dt.time(21)
