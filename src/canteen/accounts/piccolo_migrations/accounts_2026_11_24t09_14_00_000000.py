"""Staff sessions in the database (hand-written): a Redis restart signs nobody out."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class StaffUser(Table, tablename="staff_user", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-11-24T09:14:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "staff sessions stored durably"

_BASE = {
    "primary_key": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)
    manager.add_table(class_name="StaffSession", tablename="staff_session", schema=None, columns=None)

    def column(name: str, cls: type, params: dict) -> None:
        manager.add_column(
            table_class_name="StaffSession",
            tablename="staff_session",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params={**_BASE, **params},
            schema=None,
        )

    column(
        "token_hash", Varchar, {"length": 64, "default": "", "null": False, "unique": True, "index": False}
    )
    column(
        "user",
        ForeignKey,
        {
            "references": StaffUser,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "unique": False,
            "index": True,
        },
    )
    column("auth_version", Integer, {"default": 0, "null": False, "unique": False, "index": False})
    column(
        "created_at",
        Timestamptz,
        {"default": TimestamptzNow(), "null": False, "unique": False, "index": False},
    )
    column(
        "expires_at",
        Timestamptz,
        {"default": TimestamptzNow(), "null": False, "unique": False, "index": True},
    )
    return manager
