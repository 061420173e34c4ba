from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T19:42:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one survey answer per elder, point and quarter"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="quality", description=DESCRIPTION)
    # Paper forms without an elder never collide (partial index, both engines).
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS survey_answer_once "
            "ON survey_answer (elder, site, quarter) WHERE elder IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS complaint_site_status ON complaint (site, status)",
        )
    )
    manager.add_raw_backwards(
        ddl_step("DROP INDEX IF EXISTS survey_answer_once", "DROP INDEX IF EXISTS complaint_site_status")
    )
    return manager
