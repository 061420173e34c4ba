from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T19:43:51:000000"
VERSION = "1.38.0"
DESCRIPTION = "at most one open refund task per elder"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="care", description=DESCRIPTION)
    # A partial index (both engines accept it): the referee when two imports open a task at once.
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS refund_task_one_open ON refund_task (elder) "
            "WHERE status = 'open'"
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS refund_task_one_open"))
    return manager
