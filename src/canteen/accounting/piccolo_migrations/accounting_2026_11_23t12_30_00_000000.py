from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-11-23T12:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "accounting unique keys and report indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS site_month_cost_key ON site_month_cost (site, month)",
            "CREATE UNIQUE INDEX IF NOT EXISTS funding_budget_key ON funding_budget (district, year, source)",
            "CREATE UNIQUE INDEX IF NOT EXISTS daily_rollup_key ON daily_rollup "
            "(site, service_date, slot, mode, category, tier, source, operator)",
            "CREATE INDEX IF NOT EXISTS daily_rollup_district_day "
            "ON daily_rollup (district, service_date, source)",
            "CREATE UNIQUE INDEX IF NOT EXISTS settlement_key ON settlement (operator, month, source)",
        )
    )
    manager.add_raw_backwards(
        ddl_step(
            "DROP INDEX IF EXISTS site_month_cost_key",
            "DROP INDEX IF EXISTS funding_budget_key",
            "DROP INDEX IF EXISTS daily_rollup_key",
            "DROP INDEX IF EXISTS daily_rollup_district_day",
            "DROP INDEX IF EXISTS settlement_key",
        )
    )
    return manager
