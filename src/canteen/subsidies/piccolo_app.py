import os

from piccolo.conf.apps import AppConfig

from canteen.subsidies.tables import SubsidyPolicy

APP_CONFIG = AppConfig(
    app_name="subsidies",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[SubsidyPolicy],
    migration_dependencies=["canteen.regions.piccolo_app"],
    commands=[],
)
