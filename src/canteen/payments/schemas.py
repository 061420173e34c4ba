"""Ledger Structs: inputs, receipts and views."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from canteen.core.schemas import Id, Input

# 1 fen to 2,000 yuan per cash top-up: more is a typing slip, or money the counter should not hold.
TOPUP_MIN_FEN = 1
TOPUP_MAX_FEN = 200_000
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class Movement(msgspec.Struct, frozen=True):
    """``amount_fen`` moves from the ``credit`` account to the ``debit`` account."""

    debit: str
    credit: str
    amount_fen: int


class TopUpIn(Input):
    site_id: Id
    elder_id: Id
    # Bounds are checked by the service (``invalid_amount``), so the API and pages say the same.
    amount_fen: Annotated[int, msgspec.Meta(ge=-2_147_483_648, le=2_147_483_647)]


class ReverseIn(Input):
    reason: Reason


class TopUpReceipt(msgspec.Struct):
    txn: str
    elder_id: int
    amount_fen: int
    balance_after_fen: int
    site_id: int
    at: dt.datetime


class ReversalView(msgspec.Struct):
    txn: str
    reverses_txn: str
    kind: str
    amount_fen: int
    elder_id: int | None
    at: dt.datetime


class EntryView(msgspec.Struct):
    """One ledger row as an elder's statement shows it: ``amount_fen`` signed for the elder
    (+ money in, − money out)."""

    id: int
    txn: str
    kind: str
    amount_fen: int
    at: dt.datetime
    site_id: int | None
    ref_type: str
    ref_id: int | None
    reverses_txn: str | None
    note: str


class Statement(msgspec.Struct):
    items: list[EntryView]
    next_cursor: str | None


class BalanceView(msgspec.Struct):
    elder_id: int
    balance_fen: int
    entries: list[EntryView]


class CashEntry(msgspec.Struct):
    id: int
    txn: str
    kind: str
    amount_fen: int  # + into the drawer, − out of it
    at: dt.datetime
    elder_id: int | None
    actor_id: int | None
    reverses_txn: str | None


class CashDrawer(msgspec.Struct):
    site_id: int
    date: dt.date
    account: str
    cash_in_fen: int
    entries: list[CashEntry]


class Mismatch(msgspec.Struct):
    elder_id: int
    cached_fen: int
    ledger_fen: int
