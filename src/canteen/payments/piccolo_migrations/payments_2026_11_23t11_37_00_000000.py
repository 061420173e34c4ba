from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T11:37:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger rows unique per txn position; a txn is reversed at most once"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS ledger_entry_txn_seq ON ledger_entry (txn, seq)",
            # The referee for a double reversal: both attempts write seq 0 of a reversal of the same txn.
            "CREATE UNIQUE INDEX IF NOT EXISTS ledger_entry_one_reversal ON ledger_entry (reverses_txn, seq) "
            "WHERE reverses_txn IS NOT NULL",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS ledger_entry_txn_seq",
            "DROP INDEX IF EXISTS ledger_entry_one_reversal",
        )
    )
    return manager
