"""Tables of the care package (visit plans, visits, civil-affairs list imports, refund tasks)."""

# ------------------------------------------------------------------ welfare visits (巡访关爱)
from piccolo.columns import JSON, Boolean, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

VISIT_LEVELS = ("fine", "attention", "urgent")
VISITOR_ROLES = ("courier", "community_worker", "volunteer", "official")


class VisitRule(Table, tablename="visit_rule"):
    """Which elders of a district are visited how often, set by an official. An elder matches
    when every criterion that is set holds (any of ``categories``; living alone; at least
    ``min_age``); an elder matching several active rules follows the most frequent one."""

    id: Serial
    district = Integer(index=True)
    name = Varchar(length=60)
    categories = JSON(default="[]")  # category codes, canteen.core.categories.CATEGORIES
    alone = Boolean(default=False)  # elder.living_situation == "alone"
    min_age = Integer(null=True, default=None)
    every_days = Integer()
    active = Boolean(default=True)
    version = Integer(default=1)  # optimistic concurrency for edits
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Visit(Table, tablename="care_visit"):
    """One welfare visit at an elder's home, with or without a meal delivery. The courier's door
    checks stay in ``delivery.WelfareCheck`` and count towards the plan as visits too."""

    id: Serial
    district = Integer(index=True)
    community = Integer(index=True)
    elder = Integer(index=True)
    at = Timestamptz()
    visitor = Integer(index=True)  # accounts.StaffUser id
    visitor_role = Varchar(length=20)  # courier | community_worker | volunteer | official
    order = Integer(null=True, default=None)  # orders.Order id when the visit came with a meal
    stop = Integer(null=True, default=None)  # delivery.RoundStop id
    level = Varchar(length=10)  # fine | attention | urgent
    note = Varchar(length=500, default="")
    minutes = Integer(default=0)  # time spent: a volunteer's hours are the sum
    created_at = Timestamptz()


# ------------------------------------------------------------ civil-affairs lists (民政名单)
from piccolo.columns import Date, ForeignKey  # noqa: E402

from canteen.regions.tables import District  # noqa: E402
from canteen.registry.tables import Elder  # noqa: E402


class CivilListEntry(Table, tablename="civil_list_entry"):
    """One applied row of a civil-affairs list (死亡 / 迁出 / 住院) for one elder.

    ``row_key`` (elder, event, date) is unique: applying the same row again, from the same
    file or another, changes nothing."""

    id: Serial
    district = ForeignKey(District, index=True)
    elder = ForeignKey(Elder, index=True)
    event = Varchar(length=12)  # deceased | moved | in_hospital
    event_date = Date()
    note = Varchar(length=300, default="")
    row_key = Varchar(length=64, unique=True)
    filename = Varchar(length=200, default="")
    effects = JSON(default="{}")  # counts: cards_revoked, standing_stopped, orders_cancelled …
    applied_at = Timestamptz()
    actor_id = Integer(null=True, default=None)


class RefundTask(Table, tablename="refund_task"):
    """A balance to give back to the family after an elder died or moved away.

    Opened by the civil-affairs import when the balance is above zero; an official works
    through it and closes it as done (refunded in cash or by transfer) or cancelled, in words."""

    id: Serial
    district = ForeignKey(District, index=True)
    elder = ForeignKey(Elder, index=True)
    balance_fen = Integer()  # the balance when the task was opened
    reason = Varchar(length=12)  # the list event: deceased | moved
    event_date = Date()
    contacts = JSON(default="[]")  # [{"name": …, "phone": …, "kind": "family"|"emergency"}]
    status = Varchar(length=10, default="open")  # open | done | cancelled
    outcome = Varchar(length=20, default="")  # refunded_cash | refunded_transfer | cancelled
    close_note = Varchar(length=300, default="")
    opened_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    closed_by = Integer(null=True, default=None)
