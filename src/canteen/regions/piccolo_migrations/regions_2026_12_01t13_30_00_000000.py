"""The meal circle's radius: per district (default 1 km of walking) and per site (hand-written)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "district.service_radius_m and site.service_radius_m"


def _params(default: int | None, null: bool) -> dict[str, object]:
    return {
        "default": default,
        "null": null,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="regions", description=DESCRIPTION)
    columns = (("District", "district", 1000, False), ("Site", "site", None, True))
    for table_class, tablename, default, null in columns:
        manager.add_column(
            table_class_name=table_class,
            tablename=tablename,
            column_name="service_radius_m",
            db_column_name="service_radius_m",
            column_class_name="Integer",
            column_class=Integer,
            params=_params(default, null),
            schema=None,
        )
    return manager
