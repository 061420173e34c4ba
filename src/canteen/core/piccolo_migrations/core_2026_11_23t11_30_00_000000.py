from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T11:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique (scope, key) for idempotency records"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS idempotency_record_scope_key "
            "ON idempotency_record (scope, key)"
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS idempotency_record_scope_key"))
    return manager
