from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T11:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one subsidised meal per elder, day and slot; idempotency keys; report indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            # The referee of the one-subsidised-meal rule (partial index: both engines accept it).
            "CREATE UNIQUE INDEX IF NOT EXISTS meal_one_subsidy ON meal (elder, service_date, slot) "
            "WHERE subsidised AND voided_at IS NULL",
            "CREATE UNIQUE INDEX IF NOT EXISTS meal_idempotency_key ON meal (idempotency_key) "
            "WHERE idempotency_key IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS meal_site_day ON meal (site, service_date, slot)",
            "CREATE INDEX IF NOT EXISTS meal_elder_day ON meal (elder, service_date)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS meal_one_subsidy",
            "DROP INDEX IF EXISTS meal_idempotency_key",
            "DROP INDEX IF EXISTS meal_site_day",
            "DROP INDEX IF EXISTS meal_elder_day",
        )
    )
    return manager
