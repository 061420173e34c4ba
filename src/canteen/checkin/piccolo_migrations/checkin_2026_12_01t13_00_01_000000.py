"""The counters replace the once-per-slot unique index; PostgreSQL gets canteen_refuse() (hand-written).

Raw steps run before the table changes of their migration, so this one follows the migration that
creates ``subsidy_usage``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from canteen.core.db import ddl_step, engine, is_sqlite

ID = "2026-12-01T13:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "subsidy_usage unique index and backfill; drop meal_one_subsidy; canteen_refuse()"

# The hot path's one write statement raises its refusals (sold_out, already_served,
# insufficient_balance) with this, so the whole statement rolls back with a stable code.
REFUSE = (
    "CREATE OR REPLACE FUNCTION canteen_refuse(code text) RETURNS integer LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'canteen_refuse:' || code; END $$"
)


async def _refuse_function() -> None:
    if not is_sqlite():
        await engine().run_ddl(REFUSE)


async def _drop_refuse_function() -> None:
    if not is_sqlite():
        await engine().run_ddl("DROP FUNCTION IF EXISTS canteen_refuse(text)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_raw(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS subsidy_usage_key "
            "ON subsidy_usage (elder, service_date, slot)",
            "DELETE FROM subsidy_usage",
            "INSERT INTO subsidy_usage (elder, service_date, slot, n) "
            "SELECT elder, service_date, slot, COUNT(*) FROM meal "
            "WHERE subsidised AND voided_at IS NULL AND elder IS NOT NULL GROUP BY elder, service_date, slot",
            "INSERT INTO subsidy_usage (elder, service_date, slot, n) "
            "SELECT elder, service_date, '*', COUNT(*) FROM meal "
            "WHERE subsidised AND voided_at IS NULL AND elder IS NOT NULL GROUP BY elder, service_date",
            "DROP INDEX IF EXISTS meal_one_subsidy",
        )
    )
    manager.add_raw(_refuse_function)
    manager.add_raw_backwards(_drop_refuse_function)
    manager.add_raw_backwards(
        ddl_step(
            "CREATE UNIQUE INDEX IF NOT EXISTS meal_one_subsidy ON meal (elder, service_date, slot) "
            "WHERE subsidised AND voided_at IS NULL",
            "DROP INDEX IF EXISTS subsidy_usage_key",
        )
    )
    return manager
