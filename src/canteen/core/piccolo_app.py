import os

from piccolo.conf.apps import AppConfig

from canteen.core.tables import AuditEntry, IdempotencyRecord, JobRun, OutboxEvent

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[AuditEntry, IdempotencyRecord, OutboxEvent, JobRun],
    migration_dependencies=[],
    commands=[],
)
