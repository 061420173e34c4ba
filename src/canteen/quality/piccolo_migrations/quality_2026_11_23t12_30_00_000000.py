from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T12:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one claim flag per district, month and subject"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="quality", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS claim_flag_subject "
            "ON claim_flag (district, month, fingerprint)",
            "CREATE INDEX IF NOT EXISTS meal_rating_site_day ON meal_rating (site, service_date)",
        )
    )
    manager.add_raw_backwards(
        ddl_step("DROP INDEX IF EXISTS claim_flag_subject", "DROP INDEX IF EXISTS meal_rating_site_day")
    )
    return manager
