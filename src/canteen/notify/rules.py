"""Pure rules of notifications: who hears of what, quiet hours, backoff."""

from __future__ import annotations

import datetime as dt

FAMILY, EMERGENCY, COMMUNITY_WORKER, WEBHOOK = "family", "emergency", "community_worker", "webhook"

# Who hears of each event (the README's table). The district's webhook, when set, gets every
# event: it is the district's own system and decides for itself.
ROUTING: dict[str, tuple[str, ...]] = {
    "door_not_home": (FAMILY, EMERGENCY, COMMUNITY_WORKER, WEBHOOK),
    "door_refused": (FAMILY, COMMUNITY_WORKER, WEBHOOK),
    "welfare_attention": (FAMILY, COMMUNITY_WORKER, WEBHOOK),
    "welfare_urgent": (FAMILY, EMERGENCY, COMMUNITY_WORKER, WEBHOOK),
    "missed_meals_alone": (FAMILY, EMERGENCY, COMMUNITY_WORKER, WEBHOOK),
    "low_balance": (FAMILY, WEBHOOK),
    "order_confirmed": (FAMILY, WEBHOOK),
    "order_cancelled": (FAMILY, WEBHOOK),
}

# Go at once, quiet hours or not.
URGENT_KINDS = frozenset({"welfare_urgent"})
# Channels that wake a person; the webhook is a machine and is never held back.
PERSONAL_CHANNELS = frozenset({"sms", "wechat"})

MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=1)


def backoff(attempts: int) -> dt.timedelta:
    """Wait after the ``attempts``-th failed try: 1 min, 2, 4, 8, 16 … capped at an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def parse_hhmm(text: str) -> dt.time:
    """``"21:00"`` → time; ValueError on anything else."""
    hh, _, mm = text.partition(":")
    if len(hh) != 2 or len(mm) != 2 or not (hh.isdigit() and mm.isdigit()):
        raise ValueError(text)
    return dt.time(int(hh), int(mm))


def in_quiet_hours(local: dt.time, start: dt.time, end: dt.time) -> bool:
    if start == end:
        return False  # no quiet hours
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight (21:00–07:00)


def release_at(
    when: dt.datetime, *, start: dt.time, end: dt.time, zone: dt.tzinfo, urgent: bool, channel: str
) -> dt.datetime:
    """When a message due at ``when`` may go: at once, or at the end of the quiet hours (in
    the service zone) for a non-urgent message to a person."""
    if urgent or channel not in PERSONAL_CHANNELS:
        return when
    local = when.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return when
    day = local.date()
    if local.time() >= end and start > end:  # evening part: quiet hours end tomorrow morning
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, end, zone).astimezone(dt.UTC)
