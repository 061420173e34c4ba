"""Issue #17 (allergy): an elder's allergen group codes and IDDSI texture level."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T19:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Elder allergen codes and texture level"

_PARAMS = {
    "null": False,
    "primary_key": False,
    "unique": False,
    "index": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="registry", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Elder",
        tablename="elder",
        column_name="allergens",
        db_column_name="allergens",
        column_class_name="JSON",
        column_class=JSON,
        params={**_PARAMS, "default": "[]"},
        schema=None,
    )
    manager.add_column(
        table_class_name="Elder",
        tablename="elder",
        column_name="texture_level",
        db_column_name="texture_level",
        column_class_name="Integer",
        column_class=Integer,
        params={**_PARAMS, "default": None, "null": True},
        schema=None,
    )
    return manager
