from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T12:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one missed-meal alert per elder, day and slot; one open stop per order; lookup indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="delivery", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            # Raising missed-meal alerts twice (a retry, two workers) must not alert twice.
            "CREATE UNIQUE INDEX IF NOT EXISTS delivery_alert_missed_once ON delivery_alert "
            "(elder, service_date, slot) WHERE kind = 'missed_meal'",
            # An order rides on one round at a time.
            'CREATE UNIQUE INDEX IF NOT EXISTS round_stop_order_once ON round_stop ("order")',
            "CREATE INDEX IF NOT EXISTS delivery_round_day ON delivery_round (site, service_date, slot)",
            "CREATE INDEX IF NOT EXISTS delivery_alert_district_status ON delivery_alert (district, status)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS delivery_alert_missed_once",
            "DROP INDEX IF EXISTS round_stop_order_once",
            "DROP INDEX IF EXISTS delivery_round_day",
            "DROP INDEX IF EXISTS delivery_alert_district_status",
        )
    )
    return manager
