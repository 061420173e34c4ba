"""Meal ratings and claim flags."""

from piccolo.columns import JSON, Date, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Site


class MealRating(Table, tablename="meal_rating"):
    """An elder's rating of one meal: 1 = unhappy, 2 = neutral, 3 = happy (three faces).
    One rating per meal (unique): the keypad or the courier asks once."""

    id: Serial
    meal = Integer(unique=True)
    elder = Integer(null=True, default=None, index=True)
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    service_date = Date(index=True)
    score = Integer()
    source = Varchar(length=10)  # counter | delivery
    at = Timestamptz()
    actor_id = Integer(null=True, default=None)


class ClaimFlag(Table, tablename="claim_flag"):
    """One anomaly found by the claim checks for a district and month, with the meals behind it.
    A flag stays open until an official clears it (legitimate) or upholds it (the claim is cut)."""

    id: Serial
    district = ForeignKey(District, index=True)
    month = Varchar(length=7, index=True)  # YYYY-MM
    kind = Varchar(length=30)
    site = Integer(null=True, default=None)
    operator = Integer(null=True, default=None, index=True)
    elder = Integer(null=True, default=None)
    meal_ids = JSON(default="[]")
    detail = Text(default="")
    fingerprint = Varchar(length=200)  # kind + subject: re-running the checks never duplicates a flag
    status = Varchar(length=10, default="open")  # open | cleared | upheld
    reason = Varchar(length=500, default="")
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
