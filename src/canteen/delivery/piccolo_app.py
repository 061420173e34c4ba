import os

from piccolo.conf.apps import AppConfig

from canteen.delivery.tables import Alert, DeliveryRound, RoundStop, WelfareCheck

APP_CONFIG = AppConfig(
    app_name="delivery",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[DeliveryRound, RoundStop, WelfareCheck, Alert],
    migration_dependencies=["canteen.regions.piccolo_app", "canteen.orders.piccolo_app"],
    commands=[],
)
