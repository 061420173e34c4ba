import os

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="care",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    # Every Table of canteen.care.tables, so a new table needs no edit here.
    table_classes=table_finder(modules=["canteen.care.tables"], exclude_imported=True),
    migration_dependencies=[
        "canteen.regions.piccolo_app",
        "canteen.registry.piccolo_app",
        "canteen.delivery.piccolo_app",
    ],
    commands=[],
)
