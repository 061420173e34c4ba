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
    # The claim-check run that last found this flag: an open flag a later run of its kind no
    # longer finds (thresholds raised, a meal voided) is removed; a decided one stays. Unique
    # (district, month, fingerprint) in a migration: the upsert's referee.
    checked_run = Varchar(length=32, default="")


class ClaimCheckSettings(Table, tablename="claim_check_settings"):
    """A district's claim-check thresholds, set by its official (absent: the defaults in
    ``quality.rules.DEFAULT_THRESHOLDS``). Quality owns them, so regions' District stays as it is."""

    id: Serial
    district = ForeignKey(District, unique=True)
    # fast_scans: flag a cashier who records more than ``fast_scan_count`` meals within
    # ``fast_scan_seconds`` (a burst no person can be served at), not a steady lunch rush.
    fast_scan_count = Integer(default=8)
    fast_scan_seconds = Integer(default=30)
    two_points_minutes = Integer(default=30)
    identical_days = Integer(default=7)
    updated_by = Integer(null=True, default=None)
    updated_at = Timestamptz()


class SurveyAnswer(Table, tablename="survey_answer"):
    """One quarterly satisfaction answer (满意度测评) about a meal point: 1–5 on five dimensions.

    One answer per elder, point and quarter (a partial unique index, elder not null): a second
    answer in the same quarter replaces the first. Paper forms entered by staff may name no
    elder; those never collide."""

    id: Serial
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    quarter = Varchar(length=7, index=True)  # YYYY-Qn
    elder = Integer(null=True, default=None, index=True)
    taste = Integer()
    quantity = Integer()
    hygiene = Integer()
    service = Integer()
    price = Integer()
    comment = Varchar(length=300, default="")
    source = Varchar(length=10)  # elder | family | paper
    entered_by = Integer(null=True, default=None)  # staff user for paper forms
    at = Timestamptz()


class Complaint(Table, tablename="complaint"):
    """A complaint about a meal point, filed by an elder, a family member or staff on their behalf.
    Status moves along ``quality.complaints.TRANSITIONS`` only; every change is audited."""

    id: Serial
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    elder = Integer(null=True, default=None, index=True)
    category = Varchar(length=12)  # food | hygiene | service | delivery | price | other
    text = Varchar(length=500)
    status = Varchar(length=12, default="open", index=True)  # open | in_progress | replied | closed
    filed_by_kind = Varchar(length=10)  # elder | family | staff
    filed_by_id = Integer(null=True, default=None)
    filed_at = Timestamptz()
    first_reply_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class ComplaintReply(Table, tablename="complaint_reply"):
    """A reply to a complaint by the point's operator or the district official; the complainant
    sees it on the elder pages."""

    id: Serial
    complaint = ForeignKey(Complaint, index=True)
    text = Varchar(length=500)
    author_id = Integer(null=True, default=None)
    author_role = Varchar(length=20)  # operator | official | admin
    at = Timestamptz()
