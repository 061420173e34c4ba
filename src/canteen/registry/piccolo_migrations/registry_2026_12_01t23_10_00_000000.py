"""Issue #15 (city scale): uploads wait for their import job in the database, not in Redis."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T23:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Import uploads (sealed) for the import jobs"

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
    manager.add_table(class_name="ImportUpload", tablename="import_upload", schema=None, columns=None)

    # The table gets its `id` serial primary key from add_table, as piccolo's own migrations do.
    def column(name, cls, **params):
        manager.add_column(
            table_class_name="ImportUpload",
            tablename="import_upload",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params={**_PARAMS, **params},
            schema=None,
        )

    column("token_hash", Varchar, length=64, default="", unique=True)
    column("kind", Varchar, length=24, default="")
    column("user", Integer, default=0)
    column("district", Integer, default=0)
    column("filename", Varchar, length=200, default="")
    column("sealed", Text, default="")
    column("created_at", Timestamptz, default=TimestamptzNow(), index=True)
    return manager
