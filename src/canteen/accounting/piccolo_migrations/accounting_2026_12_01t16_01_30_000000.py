"""settlement's unique key takes the district: one statement per operator × district × month ×
funder (issue #11; hand-written, an index only — no column changes).

Existing statements all carry their operator's home district, so the narrower old key holds
them in the new one unchanged.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T16:01:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "settlement key per operator, district, month and source"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "DROP INDEX IF EXISTS settlement_key",
            "CREATE UNIQUE INDEX IF NOT EXISTS settlement_key "
            "ON settlement (operator, district, month, source)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS settlement_key",
            "CREATE UNIQUE INDEX IF NOT EXISTS settlement_key ON settlement (operator, month, source)",
        )
    )
    return manager
