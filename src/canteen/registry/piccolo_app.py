import os

from piccolo.conf.apps import AppConfig

from canteen.registry.tables import (
    Card,
    Elder,
    ElderCategory,
    ElderStatusEvent,
    ImportUpload,
    ServicePause,
)

APP_CONFIG = AppConfig(
    app_name="registry",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Elder, ElderCategory, ElderStatusEvent, Card, ServicePause, ImportUpload],
    migration_dependencies=["canteen.regions.piccolo_app"],
    commands=[],
)
