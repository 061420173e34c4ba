"""The elder's PIN lockouts in a row, for progressive lockouts (hand-written)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-24T10:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "elder.pin_lockouts: progressive PIN lockouts"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="registry", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Elder",
        tablename="elder",
        column_name="pin_lockouts",
        db_column_name="pin_lockouts",
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
