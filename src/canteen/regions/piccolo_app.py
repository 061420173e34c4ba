import os

from piccolo.conf.apps import AppConfig

from canteen.regions.tables import City, Community, District, Operator, Site, Street

APP_CONFIG = AppConfig(
    app_name="regions",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[District, Street, Community, Operator, Site, City],  # City last: districts refer to it,
    migration_dependencies=[],
    commands=[],
)
