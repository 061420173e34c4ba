"""The rollups' unique keys take the shard (issue #12; hand-written, after the shard columns).

Existing rows keep shard 0, which is a valid split (readers sum a key's shards); a rebuild
(``canteen.meals.rollups.rollup_day``) spreads a day over the shards as new meals are.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-01T14:05:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup keys with the shard"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "DROP INDEX IF EXISTS daily_rollup_key",
            "CREATE UNIQUE INDEX IF NOT EXISTS daily_rollup_key ON daily_rollup "
            "(site, service_date, slot, mode, category, tier, source, operator, shard)",
            "DROP INDEX IF EXISTS monthly_rollup_key",
            "CREATE UNIQUE INDEX IF NOT EXISTS monthly_rollup_key ON monthly_rollup "
            "(site, month, mode, category, tier, source, operator, shard)",
        )
    )
    return manager
