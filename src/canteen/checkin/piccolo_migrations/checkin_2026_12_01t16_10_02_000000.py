from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import engine, is_sqlite

ID = "2026-12-01T16:10:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "Back-fill the month counters (subsidy_usage slot 'M') from the live subsidised meals"

_MONTH = {
    "sqlite": "date(service_date, 'start of month')",
    "postgres": "CAST(date_trunc('month', service_date) AS date)",
}


async def _backfill() -> None:
    first = _MONTH["sqlite" if is_sqlite() else "postgres"]
    # Only our constants are formatted in; there are no values.
    await engine().run_ddl(
        "INSERT INTO subsidy_usage (elder, service_date, slot, n) "  # noqa: S608
        f"SELECT elder, {first}, 'M', COUNT(*) FROM meal "
        "WHERE subsidised AND voided_at IS NULL AND elder IS NOT NULL "
        f"GROUP BY elder, {first} "
        "ON CONFLICT (elder, service_date, slot) DO UPDATE SET n = excluded.n"
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_raw(_backfill)
    return manager
