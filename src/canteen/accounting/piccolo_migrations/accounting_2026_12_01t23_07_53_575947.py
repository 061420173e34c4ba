from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, Integer, Timestamptz
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T23:07:53:575947"
VERSION = "1.38.0"
DESCRIPTION = "rollup_dirty: district-days whose meals changed since their rollups were rebuilt"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounting", description=DESCRIPTION)

    manager.add_table(
        class_name="RollupDirty",
        tablename="rollup_dirty",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="RollupDirty",
        tablename="rollup_dirty",
        column_name="district",
        db_column_name="district",
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

    manager.add_column(
        table_class_name="RollupDirty",
        tablename="rollup_dirty",
        column_name="service_date",
        db_column_name="service_date",
        column_class_name="Date",
        column_class=Date,
        params={
            "default": DateNow(),
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

    manager.add_column(
        table_class_name="RollupDirty",
        tablename="rollup_dirty",
        column_name="marked_at",
        db_column_name="marked_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
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
