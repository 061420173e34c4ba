"""Piccolo configuration: the engine chosen by CANTEEN_DATABASE_URL and our apps."""

from piccolo.conf.apps import AppRegistry

from canteen.core.db import make_engine
from canteen.settings import get_settings

DB = make_engine(get_settings().database_url)

APP_REGISTRY = AppRegistry(
    apps=[
        "canteen.core.piccolo_app",
        "canteen.regions.piccolo_app",
        "canteen.accounts.piccolo_app",
        "canteen.registry.piccolo_app",
        "canteen.subsidies.piccolo_app",
        "canteen.checkin.piccolo_app",
        "canteen.menus.piccolo_app",
        "canteen.payments.piccolo_app",
        "canteen.accounting.piccolo_app",
        "canteen.orders.piccolo_app",
        "canteen.quality.piccolo_app",
        "canteen.delivery.piccolo_app",
        "canteen.notify.piccolo_app",
        "canteen.care.piccolo_app",
    ]
)
