from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T11:34:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique ID per district; one live card per elder; unique card serials"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="registry", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS elder_district_id_hash ON elder (district, national_id_hash)",
            "CREATE UNIQUE INDEX IF NOT EXISTS card_elder_serial ON card (elder, serial)",
            # A partial index: at most one card per elder that is not revoked (both engines accept it).
            "CREATE UNIQUE INDEX IF NOT EXISTS card_one_live_per_elder ON card (elder) "
            "WHERE revoked_at IS NULL",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS elder_district_id_hash",
            "DROP INDEX IF EXISTS card_elder_serial",
            "DROP INDEX IF EXISTS card_one_live_per_elder",
        )
    )
    return manager
