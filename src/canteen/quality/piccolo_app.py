import os

from piccolo.conf.apps import AppConfig

from canteen.quality.tables import (
    ClaimCheckSettings,
    ClaimFlag,
    Complaint,
    ComplaintReply,
    MealRating,
    SurveyAnswer,
)

APP_CONFIG = AppConfig(
    app_name="quality",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[MealRating, ClaimFlag, SurveyAnswer, Complaint, ComplaintReply, ClaimCheckSettings],
    migration_dependencies=["canteen.regions.piccolo_app", "canteen.checkin.piccolo_app"],
    commands=[],
)
