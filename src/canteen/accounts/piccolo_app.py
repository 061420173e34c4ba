import os

from piccolo.conf.apps import AppConfig

from canteen.accounts.tables import ApiToken, RoleGrant, StaffSession, StaffUser

APP_CONFIG = AppConfig(
    app_name="accounts",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[StaffUser, RoleGrant, ApiToken, StaffSession],
    migration_dependencies=["canteen.regions.piccolo_app"],
    commands=[],
)
