"""Meals (the record every report is built from) and the log of every counter outcome."""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Site
from canteen.registry.tables import Elder


class Meal(Table, tablename="meal"):
    """One served or delivered meal, with the price split it was sold at.

    The one-subsidised-meal rule is a partial unique index on
    (elder, service_date, slot) WHERE subsidised AND voided_at IS NULL, so the
    database, not the application, is the referee when two counters scan the
    same card at once. A void frees the subsidy by setting voided_at.
    """

    id: Serial
    district = ForeignKey(District, index=True)
    site = ForeignKey(Site, index=True)
    elder = ForeignKey(Elder, null=True, default=None, index=True)  # null for a walk-in sale
    service_date = Date(index=True)
    slot = Varchar(length=10)
    mode = Varchar(length=10, default="dine_in")  # dine_in | delivery
    served_at = Timestamptz()
    meal_set = Integer(null=True, default=None)
    items = JSON(default="[]")
    list_price_fen = Integer()
    subsidy_fen = Integer(default=0)
    copay_fen = Integer()
    funding = JSON(default="[]")  # [{"source": "city", "fen": 480}, …]
    delivery_fee_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)
    payment = Varchar(length=10)  # balance | cash | card | none
    subsidised = Boolean(default=False)
    # The policy is (district, policy_version): versions are unique per district and immutable once published.
    policy_version = Integer(null=True, default=None)
    tier_code = Varchar(length=40, null=True, default=None)
    reason_zh = Varchar(length=300, default="")
    reason_en = Varchar(length=300, default="")
    categories = JSON(default="[]")  # the elder's categories valid that day: a snapshot for reports
    operator = Integer(null=True, default=None)  # the site's operator at the time: who is reimbursed
    cashier_id = Integer(null=True, default=None)
    device = Varchar(length=100, default="")
    manual_reason = Varchar(length=200, default="")  # set when the card was not scanned
    idempotency_key = Varchar(length=128, null=True, default=None)
    ledger_txn = Varchar(length=40, default="")
    voided_at = Timestamptz(null=True, default=None)
    voided_by = Integer(null=True, default=None)
    void_reason = Varchar(length=200, default="")
    void_txn = Varchar(length=40, default="")


class CounterEvent(Table, tablename="counter_event"):
    """Every outcome at a counter, refusals included (pretix logs every check-in attempt)."""

    id: Serial
    at = Timestamptz(index=True)
    site = Integer(index=True)
    elder = Integer(null=True, default=None)
    outcome = Varchar(length=10)  # ok | refused | void | topup
    code = Varchar(length=40, default="")
    meal = Integer(null=True, default=None)
    actor_id = Integer(null=True, default=None)
    device = Varchar(length=100, default="")
    detail = JSON(default="{}")
    manual = Boolean(default=False)
