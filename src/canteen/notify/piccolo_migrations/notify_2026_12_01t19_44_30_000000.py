from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T19:44:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification: one row per event, recipient and channel; the dispatcher's due index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="notify", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS notification_recipient_key ON notification "
            "(event, recipient_kind, recipient_ref, channel, address)",
            "CREATE INDEX IF NOT EXISTS notification_due ON notification (status, next_attempt_at)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS notification_recipient_key",
            "DROP INDEX IF EXISTS notification_due",
        )
    )
    return manager
