"""elder.national_id_masked: the masked ID stored at registration, so a scan never decrypts (hand-written)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "elder.national_id_masked"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="registry", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Elder",
        tablename="elder",
        column_name="national_id_masked",
        db_column_name="national_id_masked",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 24,
            "default": "",
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
