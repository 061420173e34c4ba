"""One dirty marker per district-day: the meal's write inserts it ``ON CONFLICT DO NOTHING``
(``canteen.meals.rollups.mark_dirty``); the rebuild claims it (``rollup_day``)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T23:07:53:575948"
VERSION = "1.38.0"
DESCRIPTION = "one rollup_dirty row per district and day"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS rollup_dirty_once ON rollup_dirty (district, service_date)",
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS rollup_dirty_once"))
    return manager
