import os

from piccolo.conf.apps import AppConfig

from canteen.payments.tables import ElderBalance, LedgerEntry

APP_CONFIG = AppConfig(
    app_name="payments",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[LedgerEntry, ElderBalance],
    migration_dependencies=["canteen.regions.piccolo_app", "canteen.registry.piccolo_app"],
    commands=[],
)
