import os

from piccolo.conf.apps import AppConfig

from canteen.menus.tables import DailyMenu, Dish, MealSet

APP_CONFIG = AppConfig(
    app_name="menus",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Dish, DailyMenu, MealSet],
    migration_dependencies=["canteen.regions.piccolo_app"],
    commands=[],
)
