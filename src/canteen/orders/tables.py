"""Delivery orders, standing orders, family accounts and card-payment records.

Column names here are read by the kitchen plan and courier rounds: keep them stable.
"""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Site
from canteen.registry.tables import Elder

ORDER_STATUSES = (
    "placed",
    "confirmed",
    "cooking",
    "out_for_delivery",
    "delivered",
    "not_delivered",
    "cancelled",
)
PAYMENT_METHODS = ("balance", "cash", "card")
PAYMENT_STATUSES = ("pending", "paid", "refunded", "failed", "due_on_delivery")


class StandingOrder(Table, tablename="standing_order"):
    """A weekly repeating order (e.g. every weekday lunch until cancelled)."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    site = ForeignKey(Site, index=True)
    slot = Varchar(length=12)
    weekdays = JSON(default="[0, 1, 2, 3, 4]")  # Monday = 0
    meal_set_name = Varchar(length=50, default="")  # preference: "套餐A"; empty = first suitable
    payment = Varchar(length=10, default="balance")  # balance | cash (card cannot repeat unattended)
    active = Boolean(default=True)
    until = Date(null=True, default=None)
    placed_by_kind = Varchar(length=10, default="elder")
    placed_by_id = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Order(Table, tablename="delivery_order"):
    """One delivered meal ordered for one elder, day and slot."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    district = ForeignKey(District, index=True)
    site = ForeignKey(Site, index=True)  # the meal point that delivers; its kitchen cooks
    service_date = Date(index=True)
    slot = Varchar(length=12)
    meal_set = Integer()  # menus.tables.MealSet id
    meal_set_name = Varchar(length=50)
    diet_tags = JSON(default="[]")  # the set's diet tags at order time
    list_price_fen = Integer()
    subsidy_fen = Integer(default=0)
    copay_fen = Integer()
    delivery_fee_fen = Integer(default=0)
    delivery_subsidy_fen = Integer(default=0)
    total_due_fen = Integer()  # copay + delivery fee - delivery subsidy
    payment = Varchar(length=10)  # balance | cash | card
    payment_status = Varchar(
        length=20, default="pending"
    )  # pending | paid | refunded | failed | due_on_delivery
    status = Varchar(length=20, default="placed", index=True)
    not_delivered_reason = Varchar(length=200, default="")
    placed_by_kind = Varchar(length=10)  # elder | family | staff
    placed_by_id = Integer(null=True, default=None)
    standing_order = Integer(null=True, default=None)
    meal = Integer(null=True, default=None)  # checkin.tables.Meal id holding the subsidy
    idempotency_key = Varchar(length=128, null=True, default=None)
    ledger_txn = Varchar(length=40, default="")  # subsidy funding (+ balance charge) at placing
    payment_txn = Varchar(length=40, default="")  # card settled / cash collected, when it happens
    created_at = Timestamptz()
    updated_at = Timestamptz()
    cancelled_at = Timestamptz(null=True, default=None)


class FamilyAccount(Table, tablename="family_account"):
    """A family member who orders for linked elders (phone + password)."""

    id: Serial
    phone = Varchar(length=30, unique=True)
    password_hash = Varchar(length=200)
    name = Varchar(length=50)
    active = Boolean(default=True)
    created_at = Timestamptz()


class FamilyLink(Table, tablename="family_link"):
    """Family account ↔ elder, linked by staff with the elder's consent recorded."""

    id: Serial
    family = ForeignKey(FamilyAccount, index=True)
    elder = ForeignKey(Elder, index=True)
    consent_note = Varchar(length=300)
    linked_by = Integer(null=True, default=None)
    linked_at = Timestamptz()


class PaymentIntentRecord(Table, tablename="payment_intent_record"):
    """A card payment at a provider, for an order or a balance top-up."""

    id: Serial
    provider = Varchar(length=20)  # stripe
    provider_id = Varchar(length=100, unique=True)  # pi_…
    order = Integer(null=True, default=None)  # delivery_order id
    topup_elder = Integer(null=True, default=None)  # elder id when this tops up a balance
    amount_fen = Integer()
    currency = Varchar(length=3, default="cny")
    status = Varchar(length=30)  # created | succeeded | failed | refunded | canceled
    refund_id = Varchar(length=100, default="")
    provider_data = JSON(default="{}")  # the provider object as last seen (not named raw: Table.raw)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ProviderEvent(Table, tablename="provider_event"):
    """A processed webhook event; the unique event id makes processing idempotent."""

    id: Serial
    provider = Varchar(length=20)
    event_id = Varchar(length=100, unique=True)
    event_type = Varchar(length=60)
    object_id = Varchar(length=100, default="")
    outcome = Varchar(length=40, default="")
    received_at = Timestamptz()
