from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T17:25:27:000000"
VERSION = "1.38.0"
DESCRIPTION = "meal.delivery_funding: the delivery subsidy's parts, each naming its district"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Meal",
        tablename="meal",
        column_name="delivery_funding",
        db_column_name="delivery_funding",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "[]",
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
