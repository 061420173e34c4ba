import os

from piccolo.conf.apps import AppConfig

from canteen.accounting.tables import (
    FundingBudget,
    OperatingSubsidyRule,
    Settlement,
    SettlementLine,
    SiteMonthCost,
)

# The rollups are written only by canteen.meals; their migration history stays in this app's migrations.
from canteen.meals.tables import DailyRollup, MonthlyRollup, RollupDirty

APP_CONFIG = AppConfig(
    app_name="accounting",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        SiteMonthCost,
        OperatingSubsidyRule,
        FundingBudget,
        DailyRollup,
        MonthlyRollup,
        RollupDirty,
        Settlement,
        SettlementLine,
    ],
    migration_dependencies=["canteen.regions.piccolo_app", "canteen.checkin.piccolo_app"],
    commands=[],
)
