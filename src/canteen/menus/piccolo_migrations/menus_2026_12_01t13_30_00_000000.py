"""A meal set's type (hand-written): standard, therapeutic, soft … (subsidies.schemas.MEAL_TYPES).

Existing sets become ``standard``; a policy tier can give a type its own subsidy."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "meal set type"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="menus", description=DESCRIPTION)
    manager.add_column(
        table_class_name="MealSet",
        tablename="meal_set",
        column_name="meal_type",
        db_column_name="meal_type",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "standard",
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
