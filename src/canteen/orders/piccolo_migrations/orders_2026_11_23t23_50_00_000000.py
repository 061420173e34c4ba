from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T23:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one live order per elder, day and slot; idempotency keys; plan indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS delivery_order_idempotency_key ON delivery_order "
            "(idempotency_key) WHERE idempotency_key IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS delivery_order_site_day ON delivery_order (site, service_date, slot)",
            "CREATE INDEX IF NOT EXISTS delivery_order_elder_day ON delivery_order (elder, service_date)",
            "CREATE UNIQUE INDEX IF NOT EXISTS family_link_pair ON family_link (family, elder)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS delivery_order_idempotency_key",
            "DROP INDEX IF EXISTS delivery_order_site_day",
            "DROP INDEX IF EXISTS delivery_order_elder_day",
            "DROP INDEX IF EXISTS family_link_pair",
        )
    )
    return manager
