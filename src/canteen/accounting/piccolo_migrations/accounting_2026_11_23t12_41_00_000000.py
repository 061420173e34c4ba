from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T12:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "monthly rollup key and report indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS monthly_rollup_key ON monthly_rollup "
            "(site, month, mode, category, tier, source, operator)",
            "CREATE INDEX IF NOT EXISTS monthly_rollup_district_month "
            "ON monthly_rollup (district, month, source)",
            "CREATE INDEX IF NOT EXISTS daily_rollup_days "
            "ON daily_rollup (district, source, service_date, site)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS monthly_rollup_key",
            "DROP INDEX IF EXISTS monthly_rollup_district_month",
            "DROP INDEX IF EXISTS daily_rollup_days",
        )
    )
    return manager
