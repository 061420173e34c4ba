from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T19:41:50:245337"
VERSION = "1.38.0"
DESCRIPTION = "Allergen codes and IDDSI texture on dishes and sets"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="menus", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Dish",
        tablename="dish",
        column_name="allergen_note",
        db_column_name="allergen_note",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
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

    manager.add_column(
        table_class_name="Dish",
        tablename="dish",
        column_name="texture_level",
        db_column_name="texture_level",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
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
        table_class_name="MealSet",
        tablename="meal_set",
        column_name="allergens",
        db_column_name="allergens",
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

    manager.add_column(
        table_class_name="MealSet",
        tablename="meal_set",
        column_name="texture_level",
        db_column_name="texture_level",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
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
