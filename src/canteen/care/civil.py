"""Civil-affairs lists (民政名单) and re-verification of category evidence.

The civil-affairs bureau sends lists of elders who died, moved away or went into hospital.
``dry_run`` names what each row would do (the elder matched by the keyed hash of the ID number
within the official's district, a name that differs from the register, an unknown ID, a
duplicate row, a bad date or event, in words); nothing is written. ``apply_list`` then applies
the good rows, **one transaction per row**: a row that fails (an elder edited at the same moment)
leaves the rows before it applied and is reported, and running the file again finishes the rest.
Each applied row is kept as a ``CivilListEntry`` whose ``row_key`` (elder, event, date) is
unique, so the same file twice changes nothing the second time, and two officials applying it
at once cannot both apply a row.

What a row does to an elder (each through the owner's service, never its rows):

- status: deceased → ``deceased``, moved → ``moved``, in hospital → ``suspended``
  (``registry.services.set_status``, with the event date and the list in the reason);
- deceased / moved: every live card revoked (``card_services.revoke_card``; the counter reads
  the card row on every scan, so the next scan is refused with ``card_revoked``), active
  standing orders stopped (``orders.services.stop_standing_order``), placed delivery orders
  from today on cancelled through the order state machine (``orders.services.cancel_order``,
  whose own rules refund them), and a refund task opened when the balance is above zero, with
  the family members and the emergency contact to call;
- any event: meals served after the event date are flagged for claim review
  (``ClaimFlag`` kind ``after_status_end``, one per elder and month).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

import msgspec

from canteen.accounts import jobs as jobs_access
from canteen.accounts.roles import COMMUNITY_WORKER, OFFICIAL, Principal
from canteen.care.civil_rows import (
    ENDING_EVENTS,
    EVENT_WORDS,
    TARGET_STATUS,
    ListRow,
    RowProblem,
    read_rows,
)
from canteen.care.tables import CivilListEntry, RefundTask
from canteen.core import audit, queue
from canteen.core.clock import utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.tables import JobRun
from canteen.meals.tables import Meal
from canteen.orders import lifecycle
from canteen.orders import services as order_services
from canteen.payments import ledger
from canteen.quality.tables import ClaimFlag
from canteen.regions.tables import Community
from canteen.registry import card_services, import_service
from canteen.registry import services as registry
from canteen.registry.importing import peek_table, read_table
from canteen.registry.national_id import mask_national_id
from canteen.registry.tables import Elder, ElderCategory

register("refund_task_closed", 409)

FLAG_KIND = "after_status_end"
# The flag's detail is shown as written on the claims pages: words, not event codes.
_EVENT_PROSE = {"deceased": "died", "moved": "moved away", "in_hospital": "went into hospital"}
REFUND_OUTCOMES = ("refunded_cash", "refunded_transfer", "cancelled")
EXPIRING_DAYS = 30
# The status an event may not overwrite: a death is final, a move is not undone by a stay in
# hospital (the list is then older than the register and the row is refused, in words).
_RANK = {"active": 0, "suspended": 1, "moved": 2, "deceased": 3}

Action = Literal["apply", "unchanged", "bad"]

# The stages the list's jobs report (msgids) and how they report them (canteen.care.jobs).
CHECK_STAGE = "Checking the rows"
APPLY_STAGE = "Applying the rows"
Progress = Callable[[int, int, str], Coroutine[Any, Any, None]]


class CivilProblem(msgspec.Struct, frozen=True):
    field: str
    code: str
    message_zh: str
    message_en: str


class CivilRowPlan(msgspec.Struct, kw_only=True):
    """What one row of the list will do (or why it will not)."""

    row: int
    action: Action
    national_id_masked: str = ""
    name: str = ""
    event: str | None = None
    event_date: dt.date | None = None
    note: str = ""
    elder_id: int | None = None
    elder_name: str = ""
    community_name: str = ""
    status_before: str = ""
    status_after: str = ""
    live_cards: int = 0
    standing_orders: int = 0
    future_orders: int = 0
    balance_fen: int = 0
    meals_after: int = 0
    problems: list[CivilProblem] = msgspec.field(default_factory=list)
    warnings: list[CivilProblem] = msgspec.field(default_factory=list)


class CivilPreview(msgspec.Struct, kw_only=True):
    filename: str
    district_id: int
    total_rows: int
    will_apply: int
    unchanged: int
    bad_rows: list[int]
    rows: list[CivilRowPlan]


class CivilResult(msgspec.Struct, kw_only=True):
    applied: int
    unchanged: int
    bad_rows: list[int]
    failed_rows: list[int]
    cards_revoked: int
    standing_stopped: int
    orders_cancelled: int
    refund_tasks_opened: int
    meals_flagged: int


class RefundTaskView(msgspec.Struct, kw_only=True):
    id: int
    district_id: int
    elder_id: int
    elder_name: str
    community_name: str
    balance_fen: int
    current_balance_fen: int
    reason: str
    event_date: dt.date
    contacts: list[dict[str, str]]
    status: str
    outcome: str
    close_note: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: int | None


class RefundTaskList(msgspec.Struct):
    items: list[RefundTaskView]


class ExpiringItem(msgspec.Struct, kw_only=True):
    elder_id: int
    elder_name: str
    community_id: int
    community_name: str
    category: str
    valid_until: dt.date
    days_left: int


class ExpiringList(msgspec.Struct, kw_only=True):
    today: dt.date
    until: dt.date
    items: list[ExpiringItem]


# ------------------------------------------------------------------------------ dry run


def _p(p: RowProblem) -> CivilProblem:
    return CivilProblem(field=p.field, code=p.code, message_zh=p.zh, message_en=p.en)


def row_key(elder_id: int, event: str, day: dt.date) -> str:
    return hashlib.sha256(f"civil:{elder_id}:{event}:{day.isoformat()}".encode()).hexdigest()


def _official(actor: Principal, district_id: int) -> None:
    registry.writable_district(actor, district_id)


async def _elders(district_id: int, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not hashes:
        return {}
    rows = await Elder.select(
        Elder.id,
        Elder.name,
        Elder.status,
        Elder.national_id_hash,
        Elder.community.name.as_alias("community_name"),
    ).where((Elder.district == district_id) & Elder.national_id_hash.is_in(list(hashes)))
    return {r["national_id_hash"]: r for r in rows}


async def _facts(actor: Principal, elder_id: int, event: str, day: dt.date, today: dt.date) -> dict[str, int]:
    """What the row would touch: live cards, active standing orders, placed orders from today,
    the balance and the meals served after the event date."""
    facts = {"live_cards": 0, "standing_orders": 0, "future_orders": 0, "balance_fen": 0}
    if event in ENDING_EVENTS:
        cards = await card_services.elder_cards(actor, elder_id)
        facts["live_cards"] = int(cards.live is not None)
        facts["standing_orders"] = sum(
            s.active for s in await order_services.list_standing_orders(actor, elder_id)
        )
        facts["future_orders"] = len(await _future_orders(actor, elder_id, today))
        facts["balance_fen"] = await ledger.balance_of(elder_id)
    facts["meals_after"] = len(await _meals_after(elder_id, day))
    return facts


async def _future_orders(actor: Principal, elder_id: int, today: dt.date) -> list[int]:
    orders = await order_services.list_orders(actor, elder_id, limit=200)
    return [o.id for o in orders if o.status == lifecycle.PLACED and o.service_date >= today]


async def _meals_after(elder_id: int, day: dt.date) -> list[dict[str, Any]]:
    return list(
        await Meal.select(Meal.id, Meal.district, Meal.site, Meal.service_date)
        .where((Meal.elder == elder_id) & (Meal.service_date > day) & Meal.voided_at.is_null())
        .order_by(Meal.id)
    )


async def _plan(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    today: dt.date,
    progress: Progress | None = None,
) -> CivilPreview:
    _official(actor, district_id)
    rows = read_rows(read_table(filename, data), today=today)
    hashes = {r.row: registry.id_hash(r.national_id) for r in rows if r.national_id}
    elders = await _elders(district_id, sorted(set(hashes.values())))
    seen: dict[int, ListRow] = {}  # elder id → first row naming them
    plans: list[CivilRowPlan] = []
    for i, r in enumerate(rows):
        if progress is not None:
            await progress(i, len(rows), CHECK_STAGE)
        elder = elders.get(hashes[r.row]) if r.row in hashes else None
        if r.national_id and elder is None:
            r.add("national_id", "unknown_id", "本区没有登记这个身份证号的老人",
                  "no elder with this ID number is registered in this district")  # fmt: skip
        if elder is not None:
            if r.name and r.name != elder["name"]:
                r.add("name", "name_mismatch", f"姓名“{r.name}”与登记的“{elder['name']}”不一致，请核对",
                      f"the name “{r.name}” differs from the registered “{elder['name']}”: check it",
                      warning=True)  # fmt: skip
            # Only a row that could be applied claims the elder: a later row is judged against it.
            first = seen.get(int(elder["id"]))
            if first is not None and r.event and r.event_date:
                if (first.event, first.event_date) == (r.event, r.event_date):
                    r.add("national_id", "duplicate_row", f"与第{first.row}行重复",
                          f"the same elder and event as row {first.row}")  # fmt: skip
                else:
                    r.add("national_id", "conflicting_row", f"与第{first.row}行是同一位老人，情形或日期不同",
                          f"the same elder as row {first.row} with another event or date")  # fmt: skip
            elif not r.problems:
                seen[int(elder["id"])] = r
            if r.event is not None and _RANK[str(elder["status"])] > _RANK[TARGET_STATUS[r.event]]:
                zh, en = EVENT_WORDS[r.event]
                zh_now, en_now = _STATUS_WORDS.get(str(elder["status"]), ("", ""))
                r.add("event", "status_conflict", f"登记状态已是“{zh_now}”，不能改为{zh}",
                      f"the register already records the elder as {en_now}, not {en}")  # fmt: skip
        plan = CivilRowPlan(
            row=r.row,
            action="bad",
            national_id_masked=mask_national_id(r.national_id) if r.national_id else "",
            name=r.name,
            event=r.event,
            event_date=r.event_date,
            note=r.note,
            elder_id=int(elder["id"]) if elder else None,
            elder_name=str(elder["name"]) if elder else "",
            community_name=str(elder["community_name"] or "") if elder else "",
            status_before=str(elder["status"]) if elder else "",
        )
        if not r.problems and elder is not None and r.event and r.event_date:
            plan.status_after = TARGET_STATUS[r.event]
            done = await CivilListEntry.exists().where(
                CivilListEntry.row_key == row_key(int(elder["id"]), r.event, r.event_date)
            )
            if done:
                plan.action = "unchanged"
            else:
                plan.action = "apply"
                for k, v in (await _facts(actor, int(elder["id"]), r.event, r.event_date, today)).items():
                    setattr(plan, k, v)
        plan.problems = [_p(p) for p in r.problems]
        plan.warnings = [_p(p) for p in r.warnings]
        plans.append(plan)
    return CivilPreview(
        filename=filename[:200],
        district_id=district_id,
        total_rows=len(plans),
        will_apply=sum(p.action == "apply" for p in plans),
        unchanged=sum(p.action == "unchanged" for p in plans),
        bad_rows=[p.row for p in plans if p.action == "bad"],
        rows=plans,
    )


_STATUS_WORDS = {
    "active": ("在册", "registered"),
    "suspended": ("暂停", "suspended"),
    "moved": ("迁出", "moved away"),
    "deceased": ("死亡", "deceased"),
}


async def check_file(actor: Principal, district_id: int, filename: str, data: bytes) -> None:
    """What an upload request checks before the job reads every row: the scope (admin and the
    district's officials; other districts are ``not_found``), the file's type and size, and the
    columns (``civil_columns_missing``), from the first rows only."""
    _official(actor, district_id)
    read_rows(peek_table(filename, data), today=registry.today_of(utcnow()))


async def dry_run(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> CivilPreview:
    """What applying this list would do, row by row, in words; writes nothing.
    Only admin and the district's officials; other districts are ``not_found``."""
    now = now or utcnow()
    return await _plan(actor, district_id, filename, data, registry.today_of(now), progress)


# ------------------------------------------------------------------------------ apply


async def apply_list(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> CivilResult:
    """Apply the list's good rows, one transaction per row (see the module docstring); rows
    already applied are left alone, bad rows are skipped and named in ``bad_rows``."""
    now = now or utcnow()
    today = registry.today_of(now)
    preview = await _plan(actor, district_id, filename, data, today, progress)
    totals: dict[str, int] = defaultdict(int)
    failed: list[int] = []
    unchanged = preview.unchanged
    for i, plan in enumerate(preview.rows):
        if progress is not None:
            await progress(i, len(preview.rows), APPLY_STAGE)
        if plan.action != "apply":
            continue
        try:
            effects = await _apply_row(actor, district_id, plan, filename, now, today)
        except UniqueViolation:
            unchanged += 1  # applied by someone else a moment ago: the unique row key referees
            continue
        except DomainError as err:
            if err.code not in ("conflict", "order_not_cancellable"):
                raise
            failed.append(plan.row)
            continue
        totals["applied"] += 1
        for k, v in effects.items():
            totals[k] += v
    return CivilResult(
        applied=totals["applied"],
        unchanged=unchanged,
        bad_rows=preview.bad_rows,
        failed_rows=failed,
        cards_revoked=totals["cards_revoked"],
        standing_stopped=totals["standing_stopped"],
        orders_cancelled=totals["orders_cancelled"],
        refund_tasks_opened=totals["refund_tasks_opened"],
        meals_flagged=totals["meals_flagged"],
    )


async def _apply_row(
    actor: Principal,
    district_id: int,
    plan: CivilRowPlan,
    filename: str,
    now: dt.datetime,
    today: dt.date,
) -> dict[str, int]:
    assert plan.elder_id is not None and plan.event is not None and plan.event_date is not None
    elder_id, event, day = plan.elder_id, plan.event, plan.event_date
    zh, _ = EVENT_WORDS[event]
    reason = f"民政名单：{zh} {day.isoformat()}" + (f"（{plan.note}）" if plan.note else "")
    effects = {"cards_revoked": 0, "standing_stopped": 0, "orders_cancelled": 0, "refund_tasks_opened": 0}
    # One transaction for the row: every service below joins it (write_transaction nests), so an
    # elder is never left half-processed (status set but the card still live).
    async with write_transaction():
        await CivilListEntry.insert(
            CivilListEntry(
                district=district_id,
                elder=elder_id,
                event=event,
                event_date=day,
                note=plan.note,
                row_key=row_key(elder_id, event, day),
                filename=filename[:200],
                applied_at=now,
                actor_id=actor.user_id,
            )
        )
        await registry.set_status(actor, elder_id, TARGET_STATUS[event], reason[:300], now=now)
        if event in ENDING_EVENTS:
            cards = await card_services.elder_cards(actor, elder_id)
            if cards.live is not None:
                await card_services.revoke_card(actor, cards.live.id, f"民政名单：{zh}", now=now)
                effects["cards_revoked"] += 1
            for s in await order_services.list_standing_orders(actor, elder_id):
                if s.active:
                    await order_services.stop_standing_order(actor, s.id, now=now)
                    effects["standing_stopped"] += 1
            for order_id in await _future_orders(actor, elder_id, today):
                await order_services.cancel_order(actor, order_id, reason=reason[:200], now=now)
                effects["orders_cancelled"] += 1
            effects["refund_tasks_opened"] = await _open_refund_task(
                actor, district_id, elder_id, event, day, now
            )
        effects["meals_flagged"] = await _flag_meals(elder_id, event, day, now)
        await CivilListEntry.update({CivilListEntry.effects: effects}).where(
            CivilListEntry.row_key == row_key(elder_id, event, day)
        )
        await audit.record(
            actor,
            "civil.apply",
            "elder",
            elder_id,
            district_id=district_id,
            before={"status": plan.status_before},
            after={"status": TARGET_STATUS[event], "event": event, "event_date": day.isoformat(), **effects},
            note=filename[:200],
            now=now,
        )
    return effects


async def _contacts(actor: Principal, elder_id: int) -> list[dict[str, str]]:
    out = [
        {"kind": "family", "name": f.name, "phone": f.phone}
        for f in await order_services.family_links(actor, elder_id)
        if f.active
    ]
    row = await Elder.select(Elder.emergency_name, Elder.emergency_phone).where(Elder.id == elder_id).first()
    if row and (row["emergency_name"] or row["emergency_phone"]):
        out.append({"kind": "emergency", "name": row["emergency_name"], "phone": row["emergency_phone"]})
    return out


async def _open_refund_task(
    actor: Principal, district_id: int, elder_id: int, event: str, day: dt.date, now: dt.datetime
) -> int:
    balance = await ledger.balance_of(elder_id)
    if balance <= 0:
        return 0
    if await RefundTask.exists().where((RefundTask.elder == elder_id) & (RefundTask.status == "open")):
        return 0
    rows = await RefundTask.insert(
        RefundTask(
            district=district_id,
            elder=elder_id,
            balance_fen=balance,
            reason=event,
            event_date=day,
            contacts=await _contacts(actor, elder_id),
            status="open",
            opened_at=now,
        )
    ).returning(RefundTask.id)
    await audit.record(
        actor,
        "refund_task.open",
        "refund_task",
        int(rows[0]["id"]),
        district_id=district_id,
        after={"elder_id": elder_id, "balance_fen": balance, "reason": event},
        now=now,
    )
    return 1


async def _flag_meals(elder_id: int, event: str, day: dt.date, now: dt.datetime) -> int:
    """One open ``after_status_end`` flag per (district, month) of the meals served after the
    event date; a flag already raised for that elder and month gets the new meals added while it
    is open, and a decided one stands (as ``quality.run_claim_checks`` does)."""
    meals = await _meals_after(elder_id, day)
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for m in meals:
        groups[(int(m["district"]), m["service_date"].strftime("%Y-%m"))].append(m)
    fingerprint = f"{FLAG_KIND}:{elder_id}"
    flagged = 0
    for (district, month), ms in sorted(groups.items()):
        ids = sorted(int(m["id"]) for m in ms)
        what = _EVENT_PROSE[event]
        detail = f"{len(ids)} meals after the civil-affairs list reported that the elder {what} on {day}"
        existing = (
            await ClaimFlag.select(ClaimFlag.id, ClaimFlag.status)
            .where(
                (ClaimFlag.district == district)
                & (ClaimFlag.month == month)
                & (ClaimFlag.fingerprint == fingerprint)
            )
            .first()
        )
        if existing is None:
            await ClaimFlag.insert(
                ClaimFlag(
                    district=district,
                    month=month,
                    kind=FLAG_KIND,
                    site=int(ms[0]["site"]),
                    elder=elder_id,
                    meal_ids=ids,
                    detail=detail,
                    fingerprint=fingerprint,
                    status="open",
                    created_at=now,
                )
            )
        elif existing["status"] == "open":
            await ClaimFlag.update({ClaimFlag.meal_ids: ids, ClaimFlag.detail: detail}).where(
                ClaimFlag.id == existing["id"]
            )
        flagged += len(ids)
    return flagged


# ------------------------------------------------------------------------------ refund tasks


def _task_view(r: dict[str, Any], balances: dict[int, int]) -> RefundTaskView:
    return RefundTaskView(
        id=int(r["id"]),
        district_id=int(r["district"]),
        elder_id=int(r["elder"]),
        elder_name=str(r["elder_name"]),
        community_name=str(r["community_name"] or ""),
        balance_fen=int(r["balance_fen"]),
        current_balance_fen=balances.get(int(r["elder"]), 0),
        reason=str(r["reason"]),
        event_date=r["event_date"],
        contacts=list(r["contacts"] or []),
        status=str(r["status"]),
        outcome=str(r["outcome"]),
        close_note=str(r["close_note"]),
        opened_at=r["opened_at"],
        closed_at=r["closed_at"],
        closed_by=r["closed_by"],
    )


_TASK_COLUMNS = (
    *RefundTask.all_columns(),
    RefundTask.elder.name.as_alias("elder_name"),
    RefundTask.elder._.community._.name.as_alias("community_name"),
)


async def list_refund_tasks(
    actor: Principal, district_id: int, *, status: str | None = "open", limit: int = 200
) -> RefundTaskList:
    """The district's refund tasks (open ones by default), oldest first."""
    _official(actor, district_id)
    query = RefundTask.select(*_TASK_COLUMNS).where(RefundTask.district == district_id)
    if status:
        query = query.where(RefundTask.status == status)
    rows = await query.order_by(RefundTask.id).limit(limit).output(load_json=True)
    balances = {int(r["elder"]): await ledger.balance_of(int(r["elder"])) for r in rows}
    return RefundTaskList(items=[_task_view(r, balances) for r in rows])


async def get_refund_task(actor: Principal, task_id: int) -> RefundTaskView:
    row = (
        await RefundTask.select(*_TASK_COLUMNS).where(RefundTask.id == task_id).first().output(load_json=True)
    )
    if row is None or not actor.can_district(int(row["district"])) or not actor.has_role(OFFICIAL):
        raise DomainError("not_found", {"refund_task_id": task_id})
    return _task_view(row, {int(row["elder"]): await ledger.balance_of(int(row["elder"]))})


async def close_refund_task(
    actor: Principal, task_id: int, outcome: str, note: str = "", *, now: dt.datetime | None = None
) -> RefundTaskView:
    """Close a refund task: ``refunded_cash`` / ``refunded_transfer`` (done: the money was
    handed to the family outside the system, recorded here) or ``cancelled`` (nothing to give
    back, with a note saying why). Audited; a closed task refuses a second close."""
    now = now or utcnow()
    if outcome not in REFUND_OUTCOMES:
        raise DomainError("validation_failed", {"field": "outcome"})
    note = note.strip()[:300]
    if outcome == "cancelled" and not note:
        raise DomainError("reason_required", {"field": "note"})
    async with write_transaction():
        task = await get_refund_task(actor, task_id)
        registry.writable_district(actor, task.district_id)
        if task.status != "open":
            raise DomainError("refund_task_closed", {"refund_task_id": task_id, "status": task.status})
        status = "cancelled" if outcome == "cancelled" else "done"
        await RefundTask.update(
            {
                RefundTask.status: status,
                RefundTask.outcome: outcome,
                RefundTask.close_note: note,
                RefundTask.closed_at: now,
                RefundTask.closed_by: actor.user_id,
            }
        ).where((RefundTask.id == task_id) & (RefundTask.status == "open"))
        await audit.record(
            actor,
            "refund_task.close",
            "refund_task",
            task_id,
            district_id=task.district_id,
            before={"status": "open"},
            after={"status": status, "outcome": outcome, "balance_fen": task.current_balance_fen},
            note=note,
            now=now,
        )
    return await get_refund_task(actor, task_id)


async def elder_civil(actor: Principal, elder_id: int) -> dict[str, Any] | None:
    """The elder profile's civil-affairs part: list entries and refund tasks (officials only)."""
    row = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if row is None or not actor.can_district(int(row["district"])):
        return None
    entries = await (
        CivilListEntry.select(
            CivilListEntry.event, CivilListEntry.event_date, CivilListEntry.applied_at, CivilListEntry.note
        )
        .where(CivilListEntry.elder == elder_id)
        .order_by(CivilListEntry.id, ascending=False)
    )
    tasks = await (
        RefundTask.select(RefundTask.id, RefundTask.balance_fen, RefundTask.status, RefundTask.opened_at)
        .where(RefundTask.elder == elder_id)
        .order_by(RefundTask.id, ascending=False)
    )
    if not entries and not tasks:
        return None
    return {"entries": entries, "tasks": tasks, "district_id": int(row["district"])}


# ------------------------------------------------------------------------------ re-verification


async def expiring_categories(
    actor: Principal,
    *,
    district_id: int | None = None,
    community_id: int | None = None,
    today: dt.date | None = None,
    days: int = EXPIRING_DAYS,
) -> ExpiringList:
    """Categories whose evidence ends between today and ``days`` days on (both included), of
    elders still registered (active or suspended), by community then end date.

    Officials (and admin) see a district; community workers and volunteers the communities they
    are scoped to; a community outside the caller's scope is ``not_found``."""
    today = today or registry.today_of(utcnow())
    until = today + dt.timedelta(days=days)
    query = ElderCategory.select(
        ElderCategory.elder,
        ElderCategory.code,
        ElderCategory.valid_until,
        ElderCategory.elder.name.as_alias("elder_name"),
        ElderCategory.elder.community.as_alias("community_id"),
        ElderCategory.elder._.community._.name.as_alias("community_name"),
    ).where(
        (ElderCategory.valid_until >= today)
        & (ElderCategory.valid_until <= until)
        & ElderCategory.elder.status.is_in(["active", "suspended"])
    )
    if district_id is not None:
        if not actor.can_district(district_id):
            raise DomainError("not_found", {"district_id": district_id})
        query = query.where(ElderCategory.elder.district == district_id)
        if community_id is not None:
            query = query.where(ElderCategory.elder.community == community_id)
    else:
        mine = actor.community_ids(COMMUNITY_WORKER)
        if not mine and actor.has_role(OFFICIAL):
            raise DomainError("validation_failed", {"field": "district_id", "reason": "required"})
        if not mine:
            raise DomainError("forbidden", {"needs_role": [OFFICIAL, COMMUNITY_WORKER]})
        if community_id is not None and community_id not in mine:
            raise DomainError("not_found", {"community_id": community_id})
        wanted = [community_id] if community_id is not None else sorted(mine)
        query = query.where(ElderCategory.elder.community.is_in(wanted))
    rows = await query
    items = [
        ExpiringItem(
            elder_id=int(r["elder"]),
            elder_name=str(r["elder_name"]),
            community_id=int(r["community_id"]),
            community_name=str(r["community_name"] or ""),
            category=str(r["code"]),
            valid_until=r["valid_until"],
            days_left=(r["valid_until"] - today).days,
        )
        for r in rows
    ]
    items.sort(key=lambda i: (i.community_name, i.valid_until, i.elder_name, i.category))
    return ExpiringList(today=today, until=until, items=items)


async def communities_of(district_id: int) -> list[tuple[int, str]]:
    rows = await Community.select(Community.id, Community.name).where(Community.district == district_id)
    return sorted(((int(r["id"]), str(r["name"])) for r in rows), key=lambda t: t[1])


# ------------------------------------------------------------------------------ as jobs

CIVIL_UPLOAD = "civil_list"
CHECK_JOB = "care.civil_check"
APPLY_JOB = "care.civil_apply"


async def submit_check(
    actor: Principal, upload: import_service.PendingUpload, *, token: str | None = None
) -> queue.JobRunView:
    """Queue the check of a stashed list (``care.civil_check``): with ``token`` (the pages) the
    run links to the check page; without (the API) the preview is the run's download (JSON)."""
    _official(actor, upload.district_id)
    return await queue.submit(
        CHECK_JOB,
        {"upload_id": upload.upload_id, "token": token},
        user_id=actor.user_id,
        district_id=upload.district_id,
        key=str(upload.upload_id),
    )


async def submit_apply(actor: Principal, upload: import_service.PendingUpload) -> queue.JobRunView:
    """Queue applying a stashed list (``care.civil_apply``); pressing twice joins the first run,
    and a later run changes nothing (each applied row's key is unique)."""
    _official(actor, upload.district_id)
    return await queue.submit(
        APPLY_JOB,
        {"upload_id": upload.upload_id},
        user_id=actor.user_id,
        district_id=upload.district_id,
        key=str(upload.upload_id),
    )


async def run_check_job(ctx: queue.JobContext, upload_id: int, token: str | None) -> dict[str, Any]:
    actor = await import_service.job_actor(ctx.user_id)
    upload = await import_service.upload_for_job(upload_id, kind=CIVIL_UPLOAD)
    preview = await dry_run(actor, upload.district_id, upload.filename, upload.data, progress=ctx.progress)
    await JobRun.update(
        {
            JobRun.output: msgspec.json.encode(preview),
            JobRun.output_name: "civil-check.json",
            JobRun.output_type: "application/json",
        }
    ).where(JobRun.id == ctx.run_id)
    counts = {"apply": preview.will_apply, "unchanged": preview.unchanged, "bad": len(preview.bad_rows)}
    result: dict[str, Any] = {
        **counts,
        "summary": "{apply} to apply, {unchanged} unchanged, {bad} bad rows",
        "summary_args": counts,
    }
    if token:
        result.update(url=f"/care/civil/{token}/checked/{ctx.run_id}", link_text="Show the check")
    else:
        result["download"] = True
    return result


async def run_apply_job(ctx: queue.JobContext, upload_id: int) -> dict[str, Any]:
    actor = await import_service.job_actor(ctx.user_id)
    upload = await import_service.upload_for_job(upload_id, kind=CIVIL_UPLOAD)
    result = await apply_list(actor, upload.district_id, upload.filename, upload.data, progress=ctx.progress)
    await import_service.retire_upload(upload_id)
    counts = msgspec.structs.asdict(result)
    return {
        **counts,
        "district_id": upload.district_id,
        "filename": upload.filename,
        "summary": "{applied} applied, {unchanged} unchanged",
        "summary_args": {"applied": result.applied, "unchanged": result.unchanged},
        "url": f"/care/civil/done/{ctx.run_id}",
        "link_text": "Show what was applied",
    }


async def checked_preview(actor: Principal, run_id: str) -> CivilPreview:
    """The preview a finished check run stored (``job_not_found`` for anyone who may not see it)."""
    run = await jobs_access.run_for(actor, run_id)
    if run.kind != CHECK_JOB:
        raise DomainError("job_not_found", {"job_id": run_id})
    data, _, _ = await jobs_access.output_for(actor, run_id)
    return msgspec.json.decode(data, type=CivilPreview)


async def finished_apply(actor: Principal, run_id: str) -> tuple[CivilResult, int, str]:
    """A finished apply run's counts, district and file name, for the result page."""
    run = await jobs_access.run_for(actor, run_id)
    if run.kind != APPLY_JOB or run.status != "done":
        raise DomainError("job_not_found", {"job_id": run_id})
    return (
        msgspec.convert(run.result, CivilResult),
        int(run.result.get("district_id") or 0),
        str(run.result.get("filename") or ""),
    )
