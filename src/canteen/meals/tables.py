"""The meal and the rollups built from it: the tables only ``canteen.meals`` writes.

The tables' migration history predates this package and stays where it was written
(``meal`` in the checkin app's migrations, the rollups in accounting's): those apps list
these classes in their ``piccolo_app.py``, so Piccolo's migration state is unchanged.
"""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Site
from canteen.registry.tables import Elder


class Meal(Table, tablename="meal"):
    """One served or delivered meal, with the price split it was sold at.

    How many subsidised meals an elder may have per slot and per day is refereed by the
    ``SubsidyUsage`` counters, written in the same statement or transaction as the meal
    (see ``canteen.meals.hotpath``), so the database, not the application, decides when two
    counters scan the same card at once. A void gives the subsidy back (counter − 1).
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
    funding = JSON(default="[]")  # [{"source": "city", "fen": 480, "district_id": 1}, …]
    # The district whose policy priced the meal and whose funders owe its subsidy: the elder's
    # home district wherever in the city they eat (补贴跟着人走); None for a list-price meal with
    # no policy. Differs from ``district`` (the site's) for a resident of another district.
    policy_district = Integer(null=True, default=None, index=True)
    delivery_fee_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)
    # The delivery subsidy's parts, like ``funding`` (empty for a dine-in meal and for meals
    # written before they were kept: their delivery subsidy is then owed as a whole).
    delivery_funding = JSON(default="[]")
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


class DailyRollup(Table, tablename="daily_rollup"):
    """Meals of one day summed per site × operator × slot × mode × category × tier × source.

    Two kinds of rows share the table, told apart by ``source``:
    * ``source = ''``: the meal rows — every live (not voided) meal counts once,
      with its list price, total subsidy, co-pay and delivery money;
    * ``source = 'city'`` …: one row per funding source of the subsidised meals,
      ``meals`` = meals that source paid towards and ``subsidy_fen`` its share.
    Reports read totals from the '' rows and per-source money from the others.

    ``category`` is the meal's primary category: the first of its category
    snapshot in the order of ``canteen.core.categories.Category`` (the most
    targeted first: 特困, 低保, …), or 'none'. A meal with several categories is
    counted once, under that primary category; ``tier`` keeps the tier the
    subsidy was priced at, so settlement lines by tier are exact.
    """

    id: Serial
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    operator = Integer(default=0)  # 0: no operator
    service_date = Date(index=True)
    slot = Varchar(length=10)
    mode = Varchar(length=10)
    category = Varchar(length=30)
    tier = Varchar(length=40, default="")
    source = Varchar(length=40, default="")
    shard = Integer(default=0)  # the meal's elder id % rollups.SHARDS: see canteen.meals.rollups
    meals = Integer(default=0)
    subsidised = Integer(default=0)
    list_fen = Integer(default=0)
    subsidy_fen = Integer(default=0)
    copay_fen = Integer(default=0)
    delivery_fee_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)


class MonthlyRollup(Table, tablename="monthly_rollup"):
    """The daily rollups summed per month: site × operator × mode × category × tier × source.

    Kept in step with ``daily_rollup`` by the same ``apply_meal`` statement (PostgreSQL) and
    rebuilt for a district-month by ``rollup_day``; year and multi-month reports read it
    instead of a year of daily rows. Serving days are not additive and stay with the daily rows.
    """

    id: Serial
    site = ForeignKey(Site, index=True)
    district = ForeignKey(District, index=True)
    operator = Integer(default=0)
    month = Varchar(length=7)  # YYYY-MM
    mode = Varchar(length=10)
    category = Varchar(length=30)
    tier = Varchar(length=40, default="")
    source = Varchar(length=40, default="")
    shard = Integer(default=0)  # the meal's elder id % rollups.SHARDS: see canteen.meals.rollups
    meals = Integer(default=0)
    subsidised = Integer(default=0)
    list_fen = Integer(default=0)
    subsidy_fen = Integer(default=0)
    copay_fen = Integer(default=0)
    delivery_fee_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)


class SubsidyUsage(Table, tablename="subsidy_usage"):
    """The referee of the policy's limits: live subsidised meals per elder and service day,
    one row per slot (``slot`` = ``lunch`` …), one for the whole day (``slot`` = ``*``) and one
    for the calendar month (``slot`` = ``M`` on the month's first day: the monthly meal-count cap).

    (elder, service_date, slot) is unique (a raw index in the migration). A subsidised meal
    increments its three rows with ``INSERT … ON CONFLICT … DO UPDATE SET n = n + 1 WHERE n < limit``
    — increment-then-check in one statement, inside the meal's write — and a void decrements
    them. The meals stay the truth (the migration back-filled the counters from them; the tests
    compare the two).
    """

    id: Serial
    elder = Integer()
    service_date = Date()
    slot = Varchar(length=10)
    n = Integer(default=0)


class RollupDirty(Table, tablename="rollup_dirty"):
    """A district-day whose meals changed since its rollups were last rebuilt.

    Written in the meal's own transaction (record, void: ``canteen.meals.rollups.mark_dirty``,
    ``INSERT … ON CONFLICT DO NOTHING`` on (district, service_date), so a busy day costs one
    index probe per meal and takes no row lock) and claimed by the rebuild
    (``rollups.rollup_day``), so the schedule rebuilds only the days that changed.
    """

    id: Serial
    district = Integer()
    service_date = Date()
    marked_at = Timestamptz()
