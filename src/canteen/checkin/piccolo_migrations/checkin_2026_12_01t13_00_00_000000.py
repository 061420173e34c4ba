"""subsidy_usage: the counters that referee the policy's per-slot and per-day limits (hand-written)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subsidy_usage: subsidised meals per elder, day and slot ('*' = the whole day)"


def _params(**extra: Any) -> dict[str, Any]:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="checkin", description=DESCRIPTION)
    manager.add_table(class_name="SubsidyUsage", tablename="subsidy_usage", schema=None, columns=None)
    for name, cls, extra in (
        ("elder", Integer, {"default": 0}),
        ("service_date", Date, {"default": None}),
        ("slot", Varchar, {"length": 10, "default": ""}),
        ("n", Integer, {"default": 0}),
    ):
        manager.add_column(
            table_class_name="SubsidyUsage",
            tablename="subsidy_usage",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=_params(**extra),
            schema=None,
        )
    return manager
