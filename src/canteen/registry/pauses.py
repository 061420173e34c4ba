"""Service pauses (报停): an elder away (hospital, visiting children, travel) from one day to
another, for delivery, the counter or both; service resumes by itself after the last day.

Who may pause or end a pause: the elder (signed in on /elder), a linked family member, and staff
with scope for the elder: an admin, an official of the elder's district, a community worker of
the elder's community. Everyone else is answered ``not_found`` (the id says nothing about who
exists elsewhere). Every create and end writes an audit row in the same transaction.

A pause is in effect on day ``d`` when ``first_day <= d <= last_day`` and it was not ended on or
before ``d`` (``ended_on``: the service day it was ended early; service runs again from that day
on). So ending a pause that has not started yet withdraws it, and nothing is ever deleted.

Overlaps are refused (``pause_overlaps``), not merged: a merged pause would change dates the
person did not type and blur who asked for what; the refusal names the pause already there so
the person can end it or pick other days. Bounds: the first day is today or later (up to
``MAX_AHEAD_DAYS`` ahead), the last day is not before the first, at most ``MAX_DAYS`` days.

Effects (read by orders and delivery through :func:`paused_elders`): standing orders skip a
delivery-paused day, a delivery order for one is refused (``service_paused``), and missed-meal
alerts stay quiet for the mode that is paused. The counter still serves a paused elder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Protocol

import msgspec

from canteen.accounts.roles import ADMIN, COMMUNITY_WORKER, OFFICIAL, Principal
from canteen.core import audit
from canteen.core.clock import local_date, utcnow
from canteen.core.db import any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.schemas import Input
from canteen.registry.tables import Elder, ServicePause
from canteen.settings import get_settings

register("pause_dates_invalid", 422)
register("pause_in_past", 422)
register("pause_too_long", 422)
register("pause_too_far_ahead", 422)
register("pause_overlaps", 409)
register("pause_already_ended", 409)
register("service_paused", 409)

DELIVERY, COUNTER = "delivery", "counter"
PauseKinds = Literal["delivery", "counter", "both"]
PauseReason = Literal["hospital", "visiting_family", "travel", "other"]
KINDS: tuple[str, ...] = ("delivery", "counter", "both")
REASONS: tuple[str, ...] = ("hospital", "visiting_family", "travel", "other")
MAX_DAYS = 180
MAX_AHEAD_DAYS = 365
INT4_MAX = 2_147_483_647
# Words of the codes, English msgids of the catalogs (pages and views translate them).
KIND_WORDS = {"delivery": "Meal delivery", "counter": "Eating at the canteen", "both": "Delivery and canteen"}
REASON_WORDS = {
    "hospital": "In hospital",
    "visiting_family": "Staying with family",
    "travel": "Travelling",
    "other": "Other reason",
}
BY_WORDS = {"elder": "The elder", "family": "A family member", "staff": "Staff"}

PauseNote = Annotated[str, msgspec.Meta(max_length=200)]


class PauseIn(Input):
    """A new pause: which service, the days (inclusive, service zone), why."""

    kinds: PauseKinds
    first_day: dt.date
    last_day: dt.date
    reason: PauseReason
    note: PauseNote = ""


class PauseView(msgspec.Struct):
    id: int
    elder_id: int
    kinds: str  # delivery | counter | both
    delivery: bool
    counter: bool
    first_day: dt.date
    last_day: dt.date
    reason: str
    note: str
    by_kind: str  # elder | family | staff
    by_role: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    ended_on: dt.date | None
    # The last day it is (or was) in effect; None: ended before it began (withdrawn).
    effective_last_day: dt.date | None
    state: str  # upcoming | current | over | withdrawn


class PauseList(msgspec.Struct):
    items: list[PauseView]


class ElderActor(Protocol):
    """An elder or family member signed in on /elder (``canteen.orders.actors.ElderPrincipal``)."""

    @property
    def kind(self) -> str: ...
    @property
    def account_id(self) -> int: ...
    @property
    def elder_ids(self) -> tuple[int, ...]: ...
    @property
    def user_id(self) -> int | None: ...
    @property
    def username(self) -> str: ...


PauseActor = Principal | ElderActor


def today_of(now: dt.datetime) -> dt.date:
    return local_date(now, get_settings().tz)


def _valid_id(value: int) -> bool:
    return 1 <= value <= INT4_MAX


async def _elder(actor: PauseActor, elder_id: int) -> dict[str, Any]:
    """The elder row if ``actor`` may pause their service; ``not_found`` otherwise."""
    row = None
    if _valid_id(elder_id):
        row = (
            await Elder.select(Elder.id, Elder.district, Elder.community, Elder.name)
            .where(Elder.id == elder_id)
            .first()
        )
    if row is None or not _may(actor, row):
        raise DomainError("not_found", {"elder_id": elder_id})
    return row


def _may(actor: PauseActor, elder: dict[str, Any]) -> bool:
    if isinstance(actor, Principal):
        return actor.can_community(int(elder["community"]), int(elder["district"]), COMMUNITY_WORKER)
    return int(elder["id"]) in actor.elder_ids


def _who(actor: PauseActor) -> tuple[str, int | None, str]:
    """(by_kind, by_id, by_role) as the pause row records its author."""
    if isinstance(actor, Principal):
        role = next((r for r in (ADMIN, OFFICIAL, COMMUNITY_WORKER) if r in actor.roles), "")
        return "staff", actor.user_id, role
    return ("family" if actor.kind == "family" else "elder"), actor.account_id, ""


def _kinds_of(row: dict[str, Any]) -> str:
    if row["delivery"] and row["counter"]:
        return "both"
    return DELIVERY if row["delivery"] else COUNTER


def effective_last(row: dict[str, Any]) -> dt.date | None:
    """The last day the pause is (or was) in effect; None if it was withdrawn before it began."""
    last: dt.date = row["last_day"]
    ended_on: dt.date | None = row["ended_on"]
    if ended_on is not None and ended_on <= last:
        last = ended_on - dt.timedelta(days=1)
    return last if last >= row["first_day"] else None


def _state(row: dict[str, Any], today: dt.date) -> str:
    last = effective_last(row)
    if last is None:
        return "withdrawn"
    if last < today:
        return "over"
    return "current" if row["first_day"] <= today else "upcoming"


def view_of(row: dict[str, Any], today: dt.date) -> PauseView:
    return PauseView(
        id=int(row["id"]),
        elder_id=int(row["elder"]),
        kinds=_kinds_of(row),
        delivery=bool(row["delivery"]),
        counter=bool(row["counter"]),
        first_day=row["first_day"],
        last_day=row["last_day"],
        reason=str(row["reason"]),
        note=str(row["note"]),
        by_kind=str(row["by_kind"]),
        by_role=str(row["by_role"]),
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        ended_on=row["ended_on"],
        effective_last_day=effective_last(row),
        state=_state(row, today),
    )


def _in_effect_on(day: dt.date) -> Any:
    return (
        (ServicePause.first_day <= day)
        & (ServicePause.last_day >= day)
        & (ServicePause.ended_on.is_null() | (ServicePause.ended_on > day))
    )


def _audit_state(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "elder_id": int(row["elder"]),
        "kinds": _kinds_of(row),
        "first_day": row["first_day"].isoformat(),
        "last_day": row["last_day"].isoformat(),
        "reason": row["reason"],
        "note": row["note"],
        "ended_on": row["ended_on"].isoformat() if row["ended_on"] else None,
    }


async def create_pause(
    actor: PauseActor, elder_id: int, data: PauseIn, *, now: dt.datetime | None = None
) -> PauseView:
    """Pause an elder's delivery and/or counter service for ``first_day..last_day``.

    Refusals: ``not_found`` (no such elder or outside the actor's scope), ``pause_in_past``,
    ``pause_dates_invalid``, ``pause_too_long``, ``pause_too_far_ahead``, ``validation_failed``
    (note too long), ``pause_overlaps`` (a pause of the same service already covers a day).
    """
    now = now or utcnow()
    today = today_of(now)
    note = data.note
    if len(note) > 200:  # a Struct built in code skips msgspec's bound
        raise DomainError("validation_failed", {"field": "note", "max_length": 200})
    if data.first_day < today:
        raise DomainError("pause_in_past", {"field": "first_day", "today": today.isoformat()})
    if data.last_day < data.first_day:
        raise DomainError("pause_dates_invalid", {"field": "last_day"})
    if (data.last_day - data.first_day).days + 1 > MAX_DAYS:
        raise DomainError("pause_too_long", {"field": "last_day", "max_days": MAX_DAYS})
    if (data.first_day - today).days > MAX_AHEAD_DAYS:
        raise DomainError("pause_too_far_ahead", {"field": "first_day", "max_days_ahead": MAX_AHEAD_DAYS})
    delivery = data.kinds in (DELIVERY, "both")
    counter = data.kinds in (COUNTER, "both")
    by_kind, by_id, by_role = _who(actor)
    async with write_transaction():
        elder = await _elder(actor, elder_id)
        same_kind: Any = ServicePause.delivery.eq(True) if delivery else ServicePause.counter.eq(True)
        if delivery and counter:
            same_kind = ServicePause.delivery.eq(True) | ServicePause.counter.eq(True)
        for other in await ServicePause.select().where(
            (ServicePause.elder == elder_id)
            & same_kind
            & (ServicePause.first_day <= data.last_day)
            & (ServicePause.last_day >= data.first_day)
        ):
            last = effective_last(other)
            if last is not None and last >= data.first_day and other["first_day"] <= data.last_day:
                raise DomainError(
                    "pause_overlaps",
                    {
                        "field": "first_day",
                        "pause_id": other["id"],
                        "first_day": other["first_day"].isoformat(),
                        "last_day": last.isoformat(),
                    },
                )
        rows = await ServicePause.insert(
            ServicePause(
                elder=elder_id,
                district=int(elder["district"]),
                delivery=delivery,
                counter=counter,
                first_day=data.first_day,
                last_day=data.last_day,
                reason=data.reason,
                note=note.strip(),
                by_kind=by_kind,
                by_id=by_id,
                by_role=by_role,
                created_at=now,
            )
        ).returning(ServicePause.id)
        row = await _row(int(rows[0]["id"]))
        await audit.record(
            actor,
            "pause.create",
            "service_pause",
            row["id"],
            district_id=int(elder["district"]),
            after={**_audit_state(row), "by": by_kind, "by_role": by_role},
            now=now,
        )
    return view_of(row, today)


async def _row(pause_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = await ServicePause.select().where(ServicePause.id == pause_id).first()
    assert row is not None
    return row


async def end_pause(actor: PauseActor, pause_id: int, *, now: dt.datetime | None = None) -> PauseView:
    """End a pause early (提前恢复): service runs again from today. A pause that has not begun is
    withdrawn. Refusals: ``not_found``, ``pause_already_ended`` (over, withdrawn or ended)."""
    now = now or utcnow()
    today = today_of(now)
    async with write_transaction():
        row = None
        if _valid_id(pause_id):
            row = await ServicePause.select().where(ServicePause.id == pause_id).first()
        if row is None:
            raise DomainError("not_found", {"pause_id": pause_id})
        try:
            await _elder(actor, int(row["elder"]))
        except DomainError:
            raise DomainError("not_found", {"pause_id": pause_id}) from None
        last = effective_last(row)
        if row["ended_at"] is not None or last is None or last < today:
            raise DomainError("pause_already_ended", {"pause_id": pause_id})
        by_kind, by_id, _ = _who(actor)
        await ServicePause.update(
            {
                ServicePause.ended_at: now,
                ServicePause.ended_on: max(today, row["first_day"]),
                ServicePause.ended_by_kind: by_kind,
                ServicePause.ended_by_id: by_id,
            }
        ).where(ServicePause.id == pause_id)
        after = await _row(pause_id)
        await audit.record(
            actor,
            "pause.end",
            "service_pause",
            pause_id,
            district_id=int(row["district"]),
            before=_audit_state(row),
            after={**_audit_state(after), "by": by_kind},
            now=now,
        )
    return view_of(after, today)


async def list_pauses(
    actor: PauseActor,
    elder_id: int,
    *,
    now: dt.datetime | None = None,
    current_only: bool = False,
    limit: int = 50,
) -> PauseList:
    """The elder's pauses, the latest first; ``current_only``: those still ahead or running."""
    today = today_of(now or utcnow())
    await _elder(actor, elder_id)
    rows = (
        await ServicePause.select()
        .where(ServicePause.elder == elder_id)
        .order_by(ServicePause.first_day, ascending=False)
        .order_by(ServicePause.id, ascending=False)
        .limit(max(1, min(limit, 200)))
    )
    items = [view_of(r, today) for r in rows]
    if current_only:
        items = sorted((i for i in items if i.state in ("current", "upcoming")), key=lambda i: i.first_day)
    return PauseList(items=items)


# --- effects: read by orders (standing orders, placing) and delivery (missed-meal alerts) ---------


async def paused_elders(day: dt.date, kind: str, elder_ids: Iterable[int] | None = None) -> set[int]:
    """The elders whose ``kind`` (delivery | counter) service is paused on ``day``."""
    where = _in_effect_on(day) & (
        ServicePause.delivery.eq(True) if kind == DELIVERY else ServicePause.counter.eq(True)
    )
    if elder_ids is not None:
        ids: Sequence[int] = list(elder_ids)
        if not ids:
            return set()
        where = where & any_of(ServicePause.elder, list(ids))
    return {int(r["elder"]) for r in await ServicePause.select(ServicePause.elder).where(where)}


async def pause_on(elder_id: int, day: dt.date, kind: str) -> PauseView | None:
    """The pause of ``kind`` covering ``day`` for this elder, if any."""
    where = (
        (ServicePause.elder == elder_id)
        & _in_effect_on(day)
        & (ServicePause.delivery.eq(True) if kind == DELIVERY else ServicePause.counter.eq(True))
    )
    row = await ServicePause.select().where(where).first()
    return view_of(row, day) if row is not None else None


async def refuse_if_paused(elder_id: int, day: dt.date) -> None:
    """``service_paused`` if a delivery pause covers ``day`` (placing a delivery order)."""
    found = await pause_on(elder_id, day, DELIVERY)
    if found is not None:
        raise DomainError(
            "service_paused",
            {
                "elder_id": elder_id,
                "date": day.isoformat(),
                "pause_id": found.id,
                "last_day": (found.effective_last_day or found.last_day).isoformat(),
            },
        )
