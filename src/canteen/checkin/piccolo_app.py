import os

from piccolo.conf.apps import AppConfig

from canteen.checkin.tables import CounterEvent

# The meal table's migration history predates canteen.meals and stays in this app's migrations.
from canteen.meals.tables import Meal, SubsidyUsage

APP_CONFIG = AppConfig(
    app_name="checkin",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Meal, CounterEvent, SubsidyUsage],
    migration_dependencies=["canteen.regions.piccolo_app", "canteen.registry.piccolo_app"],
    commands=[],
)
