from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T16:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique policy version per city"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="subsidies", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS subsidy_policy_city_version ON subsidy_policy (city, version)"
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS subsidy_policy_city_version"))
    return manager
