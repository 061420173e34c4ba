from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T16:10:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Backfill meal.policy_district: meals before portability were priced by the site's district"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "UPDATE meal SET policy_district = district "
            "WHERE policy_version IS NOT NULL AND policy_district IS NULL"
        )
    )
    return manager
