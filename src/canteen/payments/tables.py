"""The ledger (append-only, one row per movement) and the elder balance cache.

See ``canteen.payments.ledger`` for the accounts and the rules. (txn, seq) is unique and a
transaction can be reversed once ((reverses_txn, seq) unique where set): raw indexes in
a migration of their own.
"""

from piccolo.columns import ForeignKey, Integer, Serial, SmallInt, Timestamptz, Varchar
from piccolo.table import Table

from canteen.registry.tables import Elder


class LedgerEntry(Table, tablename="ledger_entry"):
    """One movement: ``amount_fen`` (> 0) from ``credit`` to ``debit``. Never updated or deleted."""

    id: Serial
    txn = Varchar(length=40, index=True)  # groups the rows of one business transaction
    seq = SmallInt(default=0)  # position of the row within its txn
    kind = Varchar(length=20, index=True)
    debit = Varchar(length=64, index=True)
    credit = Varchar(length=64, index=True)
    amount_fen = Integer()
    ref_type = Varchar(length=20, default="")
    ref_id = Integer(null=True, default=None)
    site = Integer(null=True, default=None, index=True)
    elder = Integer(null=True, default=None, index=True)
    at = Timestamptz(index=True)
    actor_id = Integer(null=True, default=None)
    reverses_txn = Varchar(length=40, null=True, default=None)
    note = Varchar(length=300, default="")


class ElderBalance(Table, tablename="elder_balance"):
    """Cache of ``elder:{id}``'s ledger balance, written in the same transaction as the entries.
    Never trusted over the ledger: ``ledger.verify_balances`` compares the two."""

    id: Serial
    elder = ForeignKey(Elder, unique=True)
    balance_fen = Integer(default=0)
    updated_at = Timestamptz()
