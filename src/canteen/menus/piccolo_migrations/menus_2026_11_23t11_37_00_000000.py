from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T11:37:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one menu per site, day and slot; set names unique per menu"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="menus", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS daily_menu_site_date_slot "
            "ON daily_menu (site, service_date, slot)",
            "CREATE UNIQUE INDEX IF NOT EXISTS meal_set_menu_name ON meal_set (menu, name)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS daily_menu_site_date_slot",
            "DROP INDEX IF EXISTS meal_set_menu_name",
        )
    )
    return manager
