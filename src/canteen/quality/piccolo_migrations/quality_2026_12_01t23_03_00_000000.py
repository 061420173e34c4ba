from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T23:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one claim flag per district, month and fingerprint: the claim checks' upsert key"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="quality", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS claim_flag_once ON claim_flag (district, month, fingerprint)"
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS claim_flag_once"))
    return manager
