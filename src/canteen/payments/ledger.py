"""The ledger: append-only, double-entry, integer fen.

Every money movement is ONE ``LedgerEntry`` row: ``amount_fen`` (> 0) is debited to
``debit`` and credited to ``credit``. The rows of one business transaction share a
``txn`` id. Rows are never updated or deleted: a mistake is undone by a *reversal*, a new
txn (kind ``reversal``) with the mirror movements and ``reverses_txn`` set; a txn can be
reversed once (a unique index is the referee).

Accounts (names are plain strings, at most 64 characters):

=====================================  ===========  ===============================================
account                                normal side  what it holds
=====================================  ===========  ===============================================
``elder:{id}``                         credit       an elder's prepaid balance — a liability we owe
                                                    the elder: balance = credits − debits
``cash:site:{id}:{YYYY-MM-DD}``        debit        the cash drawer of a site on one service day
``revenue:site:{id}``                  credit       co-pays and full-price sales of a site
``receivable:{source}:op:{operator}``  debit        subsidies a funding source (city, district,
                                                    street, charity …) owes an operator
``clearing:stripe``                    debit        card payments captured, not yet paid out
``adjustment:site:{id}``               debit        write-offs and corrections, with a note
=====================================  ===========  ===============================================

``ledger_balance_of(account)`` answers on the account's normal side (credit-normal
prefixes: ``elder:``, ``revenue:``), so a top-up of 50 yuan makes both
``elder:7`` and ``cash:site:3:2026-11-23`` read +5000.

Kinds: ``topup_cash``, ``topup_card``, ``meal`` (a co-pay or sale), ``void``, ``refund``,
``reversal``, ``adjustment``, ``subsidy``.

``ElderBalance`` caches each ``elder:{id}`` balance and is written in the same
transaction as the entries. It makes the hot path one row read, and it is where an
overdraft is refused: ``balance_fen = balance_fen - X WHERE elder = ? AND balance_fen >= X``
is one conditional UPDATE, so two concurrent charges can never both spend the same money.
The ledger stays the truth: ``verify_balances`` compares the cache to the sums.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Sum

from canteen.accounts.roles import CASHIER, OFFICIAL, OPERATOR, SITE_ROLES, Principal
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.clock import local_date, utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.idempotency import check_key, run_once
from canteen.payments.schemas import (
    TOPUP_MAX_FEN,
    TOPUP_MIN_FEN,
    BalanceView,
    CashDrawer,
    CashEntry,
    EntryView,
    Mismatch,
    Movement,
    ReversalView,
    Statement,
    TopUpReceipt,
)
from canteen.payments.tables import ElderBalance, LedgerEntry
from canteen.regions.tables import Site
from canteen.registry.tables import Elder
from canteen.settings import get_settings

register("insufficient_balance", 409)
register("invalid_amount", 422)
register("already_reversed", 409)
register("not_reversible", 409)

Actor = Principal | SystemActor
CREDIT_NORMAL = ("elder:", "revenue:")
CLEARING_STRIPE = "clearing:stripe"
TOPUP_CODES = (
    "invalid_amount",
    "not_found",
    "idempotency_key_missing",
    "idempotency_key_invalid",
    "idempotency_key_reused",
)
REVERSE_CODES = ("not_found", "already_reversed", "not_reversible", "insufficient_balance")


def elder_account(elder_id: int) -> str:
    return f"elder:{elder_id}"


def cash_account(site_id: int, day: dt.date) -> str:
    return f"cash:site:{site_id}:{day.isoformat()}"


def revenue_account(site_id: int) -> str:
    return f"revenue:site:{site_id}"


def receivable_account(source: str, operator_id: int) -> str:
    return f"receivable:{source}:op:{operator_id}"


def adjustment_account(site_id: int) -> str:
    return f"adjustment:site:{site_id}"


def _elder_of(account: str) -> int | None:
    if account.startswith("elder:"):
        tail = account[6:]
        if tail.isdigit():
            return int(tail)
    return None


def new_txn() -> str:
    return uuid.uuid4().hex


# --- posting -------------------------------------------------------------------------------


async def _balance_row(elder_id: int) -> int:
    row = await ElderBalance.select(ElderBalance.balance_fen).where(ElderBalance.elder == elder_id).first()
    return int(row["balance_fen"]) if row else 0


async def _apply_to_cache(deltas: dict[int, int], now: dt.datetime, *, no_overdraft: bool) -> dict[int, int]:
    """Move the cached balances; returns the new balance of each elder the conditional
    UPDATE decremented (so a charge needs no second read)."""
    after: dict[int, int] = {}
    for elder_id, delta in sorted(deltas.items()):  # a fixed order: no lock-order deadlocks on PostgreSQL
        if delta == 0:
            continue
        if delta < 0 and no_overdraft:
            need = -delta
            done = (
                await ElderBalance.update(
                    {ElderBalance.balance_fen: ElderBalance.balance_fen - need, ElderBalance.updated_at: now}
                )
                .where((ElderBalance.elder == elder_id) & (ElderBalance.balance_fen >= need))
                .returning(ElderBalance.balance_fen)
            )
            if not done:
                raise DomainError(
                    "insufficient_balance",
                    {"elder_id": elder_id, "balance_fen": await _balance_row(elder_id), "needed_fen": need},
                )
            after[elder_id] = int(done[0]["balance_fen"])
            continue
        await ElderBalance.insert(ElderBalance(elder=elder_id, balance_fen=0, updated_at=now)).on_conflict(
            target=ElderBalance.elder, action="DO NOTHING"
        )
        await ElderBalance.update(
            {ElderBalance.balance_fen: ElderBalance.balance_fen + delta, ElderBalance.updated_at: now}
        ).where(ElderBalance.elder == elder_id)
    return after


async def post(
    txn_kind: str,
    movements: Sequence[Movement],
    *,
    ref_type: str = "",
    ref_id: int | None = None,
    site_id: int | None = None,
    elder_id: int | None = None,
    actor: Actor,
    now: dt.datetime,
    note: str = "",
    no_overdraft: bool = False,
    reverses_txn: str | None = None,
    txn: str | None = None,
    entries_first: bool = False,
) -> str:
    """Append one business transaction (one row per movement) and update the elder
    balance cache for every ``elder:{id}`` account it touches; returns the txn id.
    See :func:`_post` for the rules (it also returns the balances a charge left)."""
    txn_id, _ = await _post(
        txn_kind,
        movements,
        ref_type=ref_type,
        ref_id=ref_id,
        site_id=site_id,
        elder_id=elder_id,
        actor=actor,
        now=now,
        note=note,
        no_overdraft=no_overdraft,
        reverses_txn=reverses_txn,
        txn=txn,
        entries_first=entries_first,
    )
    return txn_id


async def _post(
    txn_kind: str,
    movements: Sequence[Movement],
    *,
    ref_type: str = "",
    ref_id: int | None = None,
    site_id: int | None = None,
    elder_id: int | None = None,
    actor: Actor,
    now: dt.datetime,
    note: str = "",
    no_overdraft: bool = False,
    reverses_txn: str | None = None,
    txn: str | None = None,
    entries_first: bool = False,
) -> tuple[str, dict[int, int]]:
    """Append one business transaction (one row per movement) and update the elder
    balance cache for every ``elder:{id}`` account it touches; returns the txn id.

    Call it inside the caller's write transaction (it joins one, or opens its own).
    With ``no_overdraft`` every elder account the txn takes money from is decremented by
    one conditional UPDATE and the whole txn is refused with ``insufficient_balance`` if
    the balance would go negative. ``entries_first`` writes the rows before touching the
    cache, so a unique index on the rows (one reversal per txn) is the first referee; on a
    refusal the caller's transaction must roll back (a DomainError leaving
    ``write_transaction`` does that).
    """
    if not movements:
        raise ValueError("a ledger txn needs at least one movement")
    for m in movements:
        if m.amount_fen <= 0 or m.amount_fen > 2_147_483_647:
            raise ValueError(f"movement amounts are positive int4 fen, got {m.amount_fen}")
        if m.debit == m.credit or not m.debit or not m.credit or max(len(m.debit), len(m.credit)) > 64:
            raise ValueError(f"bad accounts {m.debit!r} / {m.credit!r}")
    txn = txn or new_txn()
    deltas: dict[int, int] = defaultdict(int)
    for m in movements:
        if (e := _elder_of(m.credit)) is not None:
            deltas[e] += m.amount_fen
        if (e := _elder_of(m.debit)) is not None:
            deltas[e] -= m.amount_fen
    async with write_transaction():
        after: dict[int, int] = {}
        if not entries_first:
            after = await _apply_to_cache(dict(deltas), now, no_overdraft=no_overdraft)
        await LedgerEntry.insert(
            *[
                LedgerEntry(
                    txn=txn,
                    seq=i,
                    kind=txn_kind[:20],
                    debit=m.debit,
                    credit=m.credit,
                    amount_fen=m.amount_fen,
                    ref_type=ref_type[:20],
                    ref_id=ref_id,
                    site=site_id,
                    elder=elder_id,
                    at=now,
                    actor_id=actor.user_id,
                    reverses_txn=reverses_txn,
                    note=note[:300],
                )
                for i, m in enumerate(movements)
            ]
        )
        if entries_first:
            after = await _apply_to_cache(dict(deltas), now, no_overdraft=no_overdraft)
    return txn, after


async def charge_elder(
    elder_id: int,
    amount_fen: int,
    credit_account: str,
    *,
    kind: str = "meal",
    ref_type: str = "",
    ref_id: int | None = None,
    site_id: int | None = None,
    actor: Actor,
    now: dt.datetime,
    note: str = "",
    extra: Sequence[Movement] = (),
    txn: str | None = None,
) -> tuple[str, int]:
    """Take ``amount_fen`` from an elder's balance into ``credit_account`` (e.g. the site's
    revenue), plus any ``extra`` movements in the same txn (e.g. subsidies receivable).

    Refuses with ``insufficient_balance`` ``{balance_fen, needed_fen}`` unless the balance
    covers it; the check and the decrement are one conditional UPDATE, so concurrent
    charges never overdraw. Call it inside the caller's write transaction.
    Returns ``(txn, balance_after_fen)``.
    """
    if amount_fen <= 0:
        raise DomainError("invalid_amount", {"amount_fen": amount_fen})
    txn, after = await _post(
        kind,
        [Movement(elder_account(elder_id), credit_account, amount_fen), *extra],
        ref_type=ref_type,
        ref_id=ref_id,
        site_id=site_id,
        elder_id=elder_id,
        actor=actor,
        now=now,
        note=note,
        no_overdraft=True,
        txn=txn,
    )
    return txn, after[elder_id]


# --- scope ---------------------------------------------------------------------------------


async def _site(site_id: int) -> dict[str, Any]:
    row = await Site.select(Site.id, Site.district, Site.name).where(Site.id == site_id).first()
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    return row


def _check_site(actor: Actor, site: dict[str, Any], *roles: str) -> None:
    if not isinstance(actor, Principal) or actor.can_site(site["id"], site["district"], *roles):
        return
    if actor.can_site(site["id"], site["district"], OFFICIAL, *SITE_ROLES):
        raise DomainError("forbidden", {"site_id": site["id"]})
    raise DomainError("not_found", {"site_id": site["id"]})


async def _elder(elder_id: int) -> dict[str, Any]:
    row = (
        await Elder.select(Elder.id, Elder.district, Elder.community, Elder.name)
        .where(Elder.id == elder_id)
        .first()
    )
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    return row


# --- top-ups and reversals -----------------------------------------------------------------


async def top_up_cash(
    actor: Actor,
    site_id: int,
    elder_id: int,
    amount_fen: int,
    *,
    idempotency_key: str | None,
    now: dt.datetime | None = None,
) -> TopUpReceipt:
    """Cash handed in at a site's counter onto an elder's balance (the site's cashiers and
    operators, admins). A retry with the same ``idempotency_key`` returns the first receipt."""
    now = now or utcnow()
    check_key(idempotency_key)
    if not TOPUP_MIN_FEN <= amount_fen <= TOPUP_MAX_FEN:
        raise DomainError(
            "invalid_amount", {"amount_fen": amount_fen, "min_fen": TOPUP_MIN_FEN, "max_fen": TOPUP_MAX_FEN}
        )
    site = await _site(site_id)
    _check_site(actor, site, CASHIER, OPERATOR)
    elder = await _elder(elder_id)
    if elder["district"] != site["district"]:
        raise DomainError("not_found", {"elder_id": elder_id})
    day = local_date(now, get_settings().tz)

    async def effect() -> tuple[int, Any]:
        txn = await post(
            "topup_cash",
            [Movement(cash_account(site_id, day), elder_account(elder_id), amount_fen)],
            ref_type="elder",
            ref_id=elder_id,
            site_id=site_id,
            elder_id=elder_id,
            actor=actor,
            now=now,
        )
        receipt = TopUpReceipt(
            txn=txn,
            elder_id=elder_id,
            amount_fen=amount_fen,
            balance_after_fen=await _balance_row(elder_id),
            site_id=site_id,
            at=now,
        )
        await audit.record(
            actor,
            "ledger.topup_cash",
            "ledger_txn",
            txn,
            after={"elder_id": elder_id, "site_id": site_id, "amount_fen": amount_fen},
            district_id=site["district"],
            now=now,
        )
        return 201, receipt

    outcome = await run_once(
        "topup_cash",
        idempotency_key,
        {"site_id": site_id, "elder_id": elder_id, "amount_fen": amount_fen},
        effect,
        now=now,
    )
    if isinstance(outcome.body, TopUpReceipt):
        return outcome.body
    return _receipt_from(outcome.body)


def _receipt_from(body: Any) -> TopUpReceipt:
    return msgspec.convert(body, TopUpReceipt, strict=False)


async def _txn_rows(txn: str) -> list[dict[str, Any]]:
    return await (
        LedgerEntry.select(
            LedgerEntry.id,
            LedgerEntry.seq,
            LedgerEntry.kind,
            LedgerEntry.debit,
            LedgerEntry.credit,
            LedgerEntry.amount_fen,
            LedgerEntry.ref_type,
            LedgerEntry.ref_id,
            LedgerEntry.site,
            LedgerEntry.elder,
            LedgerEntry.at,
            LedgerEntry.reverses_txn,
        )
        .where(LedgerEntry.txn == txn)
        .order_by(LedgerEntry.seq)
    )


async def reverse_in_txn(
    txn_id: str,
    *,
    kind: str = "reversal",
    actor: Actor,
    now: dt.datetime,
    note: str = "",
    rows: list[dict[str, Any]] | None = None,
) -> str:
    """Post the mirror of ``txn_id`` (with ``reverses_txn`` set) inside the caller's write
    transaction and return the new txn id; no permission check (the caller decided).

    ``kind`` is ``reversal`` for a correction, ``void`` for a voided meal. Refuses
    ``not_found``, ``not_reversible`` (the txn is itself a reversal or void),
    ``already_reversed`` and ``insufficient_balance`` (the elder already spent the money).
    """
    rows = rows if rows is not None else await _txn_rows(txn_id)
    if not rows:
        raise DomainError("not_found", {"txn": txn_id})
    first = rows[0]
    if first["reverses_txn"] is not None:
        raise DomainError("not_reversible", {"txn": txn_id})
    if await LedgerEntry.exists().where(LedgerEntry.reverses_txn == txn_id):
        raise DomainError("already_reversed", {"txn": txn_id})
    try:
        return await post(
            kind,
            [Movement(r["credit"], r["debit"], r["amount_fen"]) for r in rows],
            ref_type=first["ref_type"],
            ref_id=first["ref_id"],
            site_id=first["site"],
            elder_id=first["elder"],
            actor=actor,
            now=now,
            note=note,
            no_overdraft=True,
            reverses_txn=txn_id,
            # The (reverses_txn, seq) index makes a racing second reversal wait for the first
            # and then fail as a duplicate, before it could misreport the spent balance.
            entries_first=True,
        )
    except UniqueViolation as exc:  # PostgreSQL: a racing reversal committed first
        raise DomainError("already_reversed", {"txn": txn_id}) from exc


async def reverse(actor: Actor, txn_id: str, reason: str, *, now: dt.datetime | None = None) -> ReversalView:
    """Undo a txn with its mirror movements (kind ``reversal``, ``reverses_txn`` set).

    The operator of the txn's site or an admin. Refuses a second reversal
    (``already_reversed``), reversing a reversal (``not_reversible``) and a reversal that
    would take an elder's balance below zero (``insufficient_balance``: the money of a
    top-up was already spent).
    """
    now = now or utcnow()
    reason = reason.strip()[:300]
    if not reason:
        raise DomainError("validation_failed", {"field": "reason"})
    rows = await _txn_rows(txn_id)
    if not rows:
        raise DomainError("not_found", {"txn": txn_id})
    first = rows[0]
    district_id: int | None = None
    if isinstance(actor, Principal) and not actor.is_admin:
        if first["site"] is None:
            raise DomainError("forbidden", {"txn": txn_id})
        site = await _site(int(first["site"]))
        district_id = site["district"]
        _check_site(actor, site, OPERATOR)
    try:
        async with write_transaction():
            new = await reverse_in_txn(txn_id, actor=actor, now=now, note=reason)
            await audit.record(
                actor,
                "ledger.reverse",
                "ledger_txn",
                txn_id,
                after={"reversal_txn": new, "kind": first["kind"]},
                district_id=district_id,
                note=reason,
                now=now,
            )
    except UniqueViolation as exc:
        raise DomainError("already_reversed", {"txn": txn_id}) from exc
    return ReversalView(
        txn=new,
        reverses_txn=txn_id,
        kind=first["kind"],
        amount_fen=sum(r["amount_fen"] for r in rows),
        elder_id=first["elder"],
        at=now,
    )


# --- reading -------------------------------------------------------------------------------


async def balance_of(elder_id: int) -> int:
    """An elder's balance from the cache (0 before the first top-up)."""
    return await _balance_row(elder_id)


async def _sum_side(column: Any, account: str, *, up_to_id: int | None = None) -> int:
    query = LedgerEntry.select(Sum(LedgerEntry.amount_fen).as_alias("total")).where(column == account)
    if up_to_id is not None:
        query = query.where(LedgerEntry.id <= up_to_id)
    rows = await query
    return int(rows[0]["total"] or 0) if rows else 0


async def ledger_balance_of(account: str, *, up_to_id: int | None = None) -> int:
    """An account's balance from the entries, on its normal side (see the module docstring)."""
    debits = await _sum_side(LedgerEntry.debit, account, up_to_id=up_to_id)
    credits = await _sum_side(LedgerEntry.credit, account, up_to_id=up_to_id)
    return credits - debits if account.startswith(CREDIT_NORMAL) else debits - credits


def _entry_view(row: dict[str, Any], account: str) -> EntryView:
    sign = 1 if row["credit"] == account else -1
    return EntryView(
        id=row["id"],
        txn=row["txn"],
        kind=row["kind"],
        amount_fen=sign * row["amount_fen"],
        at=row["at"],
        site_id=row["site"],
        ref_type=row["ref_type"],
        ref_id=row["ref_id"],
        reverses_txn=row["reverses_txn"],
        note=row["note"],
    )


_ENTRY_COLS = (
    LedgerEntry.id,
    LedgerEntry.txn,
    LedgerEntry.kind,
    LedgerEntry.debit,
    LedgerEntry.credit,
    LedgerEntry.amount_fen,
    LedgerEntry.at,
    LedgerEntry.site,
    LedgerEntry.elder,
    LedgerEntry.actor_id,
    LedgerEntry.ref_type,
    LedgerEntry.ref_id,
    LedgerEntry.reverses_txn,
    LedgerEntry.note,
)


async def elder_statement(elder_id: int, limit: int = 50, cursor: int | None = None) -> Statement:
    """An elder's movements, newest first; ``cursor`` is the last id of the previous page."""
    account = elder_account(elder_id)
    query = LedgerEntry.select(*_ENTRY_COLS).where(
        (LedgerEntry.debit == account) | (LedgerEntry.credit == account)
    )
    if cursor is not None:
        query = query.where(LedgerEntry.id < cursor)
    rows = await query.order_by(LedgerEntry.id, ascending=False).limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Statement(
        items=[_entry_view(r, account) for r in rows],
        next_cursor=str(rows[-1]["id"]) if more and rows else None,
    )


async def elder_balance(actor: Actor, elder_id: int, *, limit: int = 20) -> BalanceView:
    """Balance and recent movements for staff of the elder's district (404 outside it)."""
    elder = await _elder(elder_id)
    if isinstance(actor, Principal):
        visible = actor.visible_district_ids()
        # A community grant's district is visible for its configuration, not for every elder in it.
        seen = visible is None or elder["district"] in visible
        if not seen or not actor.reads_elders_of(int(elder["district"]), elder["community"]):
            raise DomainError("not_found", {"elder_id": elder_id})
    statement = await elder_statement(elder_id, limit)
    return BalanceView(elder_id=elder_id, balance_fen=await balance_of(elder_id), entries=statement.items)


async def cash_drawer(site_id: int, day: dt.date, *, actor: Actor | None = None) -> CashDrawer:
    """Cash taken at a site on a service day: the drawer account's balance and its entries."""
    site = await _site(site_id)
    if actor is not None:
        _check_site(actor, site, CASHIER, OPERATOR, OFFICIAL)
    account = cash_account(site_id, day)
    rows = await (
        LedgerEntry.select(*_ENTRY_COLS)
        .where((LedgerEntry.debit == account) | (LedgerEntry.credit == account))
        .order_by(LedgerEntry.id)
    )
    entries = [
        CashEntry(
            id=r["id"],
            txn=r["txn"],
            kind=r["kind"],
            amount_fen=r["amount_fen"] if r["debit"] == account else -r["amount_fen"],
            at=r["at"],
            elder_id=r["elder"],
            actor_id=r["actor_id"],
            reverses_txn=r["reverses_txn"],
        )
        for r in rows
    ]
    return CashDrawer(
        site_id=site_id,
        date=day,
        account=account,
        cash_in_fen=sum(e.amount_fen for e in entries),
        entries=entries,
    )


class ReceiptView(TopUpReceipt):
    site_name: str = ""
    elder_name: str = ""
    reversed: bool = False


def _mask_name(name: str) -> str:
    # A receipt may be left on the counter: the family name and the last character suffice.
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


async def topup_receipt(actor: Actor, txn: str) -> ReceiptView:
    """What a top-up receipt prints: amount, balance right after it, site, masked name, time."""
    rows = await _txn_rows(txn)
    if not rows or rows[0]["kind"] != "topup_cash" or rows[0]["elder"] is None or rows[0]["site"] is None:
        raise DomainError("not_found", {"txn": txn})
    first = rows[0]
    site = await _site(int(first["site"]))
    _check_site(actor, site, CASHIER, OPERATOR, OFFICIAL)
    elder = await _elder(int(first["elder"]))
    return ReceiptView(
        txn=txn,
        elder_id=elder["id"],
        amount_fen=sum(r["amount_fen"] for r in rows),
        balance_after_fen=await ledger_balance_of(
            elder_account(elder["id"]), up_to_id=max(r["id"] for r in rows)
        ),
        site_id=site["id"],
        at=first["at"],
        site_name=site["name"],
        elder_name=_mask_name(elder["name"]),
        reversed=await LedgerEntry.exists().where(LedgerEntry.reverses_txn == txn),
    )


# --- invariants ----------------------------------------------------------------------------


async def _elder_sums(elder_ids: Sequence[int] | None) -> dict[int, int]:
    sums: dict[int, int] = defaultdict(int)
    for column, sign in ((LedgerEntry.credit, 1), (LedgerEntry.debit, -1)):
        query = LedgerEntry.select(column.as_alias("account"), Sum(LedgerEntry.amount_fen).as_alias("total"))
        if elder_ids is None:
            query = query.where(column.like("elder:%"))
        else:
            query = query.where(column.is_in([elder_account(e) for e in elder_ids]))
        for row in await query.group_by(column):
            elder_id = _elder_of(row["account"])
            if elder_id is not None:
                sums[elder_id] += sign * int(row["total"] or 0)
    return dict(sums)


async def verify_balances(elder_ids: Sequence[int] | None = None) -> list[Mismatch]:
    """Every cached elder balance that differs from its ledger sum (empty when all agree)."""
    if elder_ids is not None and not elder_ids:
        return []
    ledger = await _elder_sums(elder_ids)
    query = ElderBalance.select(ElderBalance.elder, ElderBalance.balance_fen)
    if elder_ids is not None:
        query = query.where(ElderBalance.elder.is_in(list(elder_ids)))
    cached = {int(r["elder"]): int(r["balance_fen"]) for r in await query}
    out = []
    for elder_id in sorted(set(ledger) | set(cached)):
        c, s = cached.get(elder_id, 0), ledger.get(elder_id, 0)
        if c != s:
            out.append(Mismatch(elder_id=elder_id, cached_fen=c, ledger_fen=s))
    return out


async def ledger_balanced() -> bool:
    """True when the ledger is well formed: every row moves a positive amount between two
    different accounts (so each txn's debits equal its credits), the debits and credits
    over all accounts sum to zero, and every reversal mirrors its original's total."""
    bad = await LedgerEntry.count().where((LedgerEntry.amount_fen <= 0) | LedgerEntry.debit.is_null())
    if bad:
        return False
    same = await LedgerEntry.raw("SELECT COUNT(*) AS n FROM ledger_entry WHERE debit = credit")
    if same and int(same[0]["n"]):
        return False
    totals = {}
    for column in (LedgerEntry.debit, LedgerEntry.credit):
        rows = await LedgerEntry.select(
            column.as_alias("account"), Sum(LedgerEntry.amount_fen).as_alias("t")
        ).group_by(column)
        totals[column._meta.name] = sum(int(r["t"] or 0) for r in rows)
    if totals["debit"] != totals["credit"]:
        return False
    mirrored = await LedgerEntry.raw(
        "SELECT r.reverses_txn AS txn, SUM(r.amount_fen) AS rev, "
        "(SELECT SUM(o.amount_fen) FROM ledger_entry o WHERE o.txn = r.reverses_txn) AS orig "
        "FROM ledger_entry r WHERE r.reverses_txn IS NOT NULL GROUP BY r.reverses_txn"
    )
    return all(int(r["rev"] or 0) == int(r["orig"] or 0) for r in mirrored)
