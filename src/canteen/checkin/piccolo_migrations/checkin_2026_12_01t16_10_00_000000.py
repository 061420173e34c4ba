from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "meal.policy_district: the district whose policy priced the meal"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Meal",
        tablename="meal",
        column_name="policy_district",
        db_column_name="policy_district",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
