import os

from piccolo.conf.apps import AppConfig

from canteen.orders.tables import (
    FamilyAccount,
    FamilyLink,
    Order,
    PaymentIntentRecord,
    ProviderEvent,
    StandingOrder,
)

APP_CONFIG = AppConfig(
    app_name="orders",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[StandingOrder, Order, FamilyAccount, FamilyLink, PaymentIntentRecord, ProviderEvent],
    migration_dependencies=[
        "canteen.regions.piccolo_app",
        "canteen.registry.piccolo_app",
        "canteen.checkin.piccolo_app",
    ],
    commands=[],
)
