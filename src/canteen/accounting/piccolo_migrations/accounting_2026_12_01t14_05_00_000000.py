"""daily_rollup.shard, monthly_rollup.shard: a rollup key split over a few rows (issue #12; hand-written).

Written by the meals engineer (canteen.meals owns these tables; their migration history lives here).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T14:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup shards"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)
    for class_name, tablename in (("DailyRollup", "daily_rollup"), ("MonthlyRollup", "monthly_rollup")):
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name="shard",
            db_column_name="shard",
            column_class_name="Integer",
            column_class=Integer,
            params={
                "default": 0,
                "null": False,
                "primary_key": False,
                "unique": False,
                "index": False,
                "index_method": IndexMethod.btree,
                "choices": None,
                "db_column_name": None,
                "secret": False,
            },
            schema=None,
        )
    return manager
