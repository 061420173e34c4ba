"""The elder PIN lockout, durable in the database and atomic under concurrent guesses.

Every PIN attempt first takes a try in ONE conditional UPDATE (``reserve``): the failure count
goes up, or the statement matches no row because the PIN is locked. Only then is the PIN
checked. So 50 simultaneous wrong PINs are 50 increments of one row, serialised by the
database: the ``PIN_MAX_FAILURES``-th locks the PIN in the same statement and the rest are
refused without their PIN being looked at, the right PIN included. A right PIN
(``succeeded``) resets the count.

Lockouts are progressive: the first lasts 15 minutes, the next (while the last one ended less
than a day ago) 1 hour, then 24 hours each. An admin, or an official of the elder's district,
can lift a lockout (``unlock``, audited).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from canteen.accounts.roles import ADMIN, OFFICIAL, Principal
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError
from canteen.registry.tables import Elder

PIN_MAX_FAILURES = 5
LOCK_DURATIONS = (dt.timedelta(minutes=15), dt.timedelta(hours=1), dt.timedelta(hours=24))
# A lockout that ended longer ago than this no longer makes the next one longer.
LOCKOUT_MEMORY = dt.timedelta(hours=24)

# One statement, the referee. Column references on the right of SET are the row's values
# before the update (both engines), so every CASE sees the same "before". The parameters:
# max, max, lock1, lock1, lock2, lock3, max, memory cutoff, id, now — in placeholder order.
_RESERVE = """
UPDATE elder SET
  pin_failures = CASE WHEN pin_failures + 1 < {} THEN pin_failures + 1 ELSE 0 END,
  pin_locked_until = CASE
    WHEN pin_failures + 1 < {} THEN pin_locked_until
    WHEN pin_locked_until IS NULL OR pin_locked_until < {} OR pin_lockouts <= 0 THEN {}
    WHEN pin_lockouts = 1 THEN {}
    ELSE {}
  END,
  pin_lockouts = CASE
    WHEN pin_failures + 1 < {} THEN pin_lockouts
    WHEN pin_locked_until IS NULL OR pin_locked_until < {} OR pin_lockouts <= 0 THEN 1
    ELSE pin_lockouts + 1
  END
WHERE id = {} AND (pin_locked_until IS NULL OR pin_locked_until <= {})
RETURNING pin_failures, pin_lockouts, pin_hash, status
"""


def lock_duration(lockouts: int) -> dt.timedelta:
    """How long the ``lockouts``-th lockout in a row lasts (1-based)."""
    return LOCK_DURATIONS[min(max(lockouts, 1), len(LOCK_DURATIONS)) - 1]


@dataclass(frozen=True, slots=True)
class Reservation:
    """One PIN try taken (or refused). ``locked_until`` set and ``taken`` False: the PIN was
    locked before this attempt, so it must not be checked. ``taken`` with ``locked_until``:
    this attempt was the last try; if its PIN is wrong the PIN stays locked until then."""

    taken: bool
    tries_left: int
    locked_until: dt.datetime | None
    pin_hash: str | None = None
    status: str = ""


async def reserve(elder_id: int, *, now: dt.datetime | None = None) -> Reservation:
    """Take one PIN try for ``elder_id`` before the PIN is checked (atomic)."""
    now = now or utcnow()
    cutoff = now - LOCKOUT_MEMORY
    first, second, third = (now + d for d in LOCK_DURATIONS)
    m = PIN_MAX_FAILURES
    rows: list[dict[str, Any]] = await Elder.raw(
        _RESERVE, m, m, cutoff, first, second, third, m, cutoff, elder_id, now
    )
    if not rows:
        row = await Elder.select(Elder.pin_locked_until).where(Elder.id == elder_id).first()
        until = row["pin_locked_until"] if row else None
        return Reservation(False, 0, until if until is not None and until > now else now)
    r = rows[0]
    failures = int(r["pin_failures"])
    locked = failures == 0  # the statement resets the count when it locks
    return Reservation(
        True,
        0 if locked else m - failures,
        now + lock_duration(int(r["pin_lockouts"])) if locked else None,
        r["pin_hash"],
        str(r["status"]),
    )


async def succeeded(elder_id: int) -> None:
    """The right PIN: the count, the lock and the lockout history start again."""
    await Elder.update({Elder.pin_failures: 0, Elder.pin_locked_until: None, Elder.pin_lockouts: 0}).where(
        Elder.id == elder_id
    )


async def unlock(actor: Principal, elder_id: int, *, now: dt.datetime | None = None) -> bool:
    """Lift an elder's PIN lockout (admin, or an official of the elder's district); audited.

    True if the PIN was locked. Out of scope answers like an unknown elder (``not_found``)."""
    now = now or utcnow()
    row = (
        await Elder.select(Elder.district, Elder.pin_failures, Elder.pin_locked_until, Elder.pin_lockouts)
        .where(Elder.id == elder_id)
        .first()
    )
    district = int(row["district"]) if row else -1
    if row is None or not (
        actor.has_role(ADMIN) or (actor.has_role(OFFICIAL) and actor.can_district(district))
    ):
        raise DomainError("not_found", {"elder_id": elder_id})
    until = row["pin_locked_until"]
    was_locked = until is not None and until > now
    async with write_transaction():
        await succeeded(elder_id)
        await audit.record(
            actor,
            "elder.pin_unlock",
            "elder",
            elder_id,
            district_id=district,
            before={
                "failures": int(row["pin_failures"] or 0),
                "locked_until": until.isoformat() if until is not None else None,
                "lockouts": int(row["pin_lockouts"] or 0),
            },
            after={"was_locked": was_locked},
            now=now,
        )
    return was_locked
