from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step

ID = "2026-12-02T00:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for the dashboards: away meals by day, distinct diners by district-day"


async def forwards():
    # reports.away_meals reads the meals of a month priced by another district's policy (补贴跟着人走):
    # a few per cent of the month. Without this partial index PostgreSQL scanned every meal of the
    # month (3.1 M rows at half a city) for each dashboard view (scripts/bench/city.py).
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE INDEX IF NOT EXISTS meal_away_day ON meal (service_date) "
            "WHERE policy_district IS NOT NULL AND policy_district <> district AND voided_at IS NULL"
        )
    )
    # accounting.kpis counts distinct diners per site and day (not summable from the rollups): an
    # index-only scan of this covering index (177 ms for a 140,000-meal district-month, where the
    # planner had scanned the whole table).
    manager.add_raw(
        ddl_step(
            "CREATE INDEX IF NOT EXISTS meal_diner_day ON meal (district, service_date, site, elder) "
            "WHERE subsidised AND voided_at IS NULL AND elder IS NOT NULL"
        )
    )
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS meal_away_day"))
    manager.add_raw_backwards(ddl_step("DROP INDEX IF EXISTS meal_diner_day"))
    return manager
