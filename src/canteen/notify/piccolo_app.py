import os

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="notify",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    # Every Table of canteen.notify.tables, so a new table needs no edit here.
    table_classes=table_finder(modules=["canteen.notify.tables"], exclude_imported=True),
    migration_dependencies=["canteen.core.piccolo_app", "canteen.regions.piccolo_app"],
    commands=[],
)
