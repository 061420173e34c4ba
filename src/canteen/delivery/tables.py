"""Courier rounds and their stops, welfare checks at the door, and alerts for officials.

Orders live in ``orders.tables.Order`` (table ``delivery_order``); a stop names its order
by id. A missed-meal alert is unique per (elder, service_date, slot): a raw partial index
in a migration of its own (SQLite cannot add composite constraints, see NOTES).
"""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import Site

ROUND_STATUSES = ("planned", "out", "done")
STOP_STATUSES = ("pending", "delivered", "not_home", "refused")
WELFARE_LEVELS = ("fine", "attention", "urgent")
ALERT_KINDS = ("urgent_welfare", "missed_meal")
ALERT_STATUSES = ("open", "acknowledged", "closed")


class DeliveryRound(Table, tablename="delivery_round"):
    """One courier's run from a kitchen or meal point on one service day and slot."""

    id: Serial
    site = ForeignKey(Site, index=True)  # where the round starts: a kitchen or a meal point
    courier = Integer(index=True)  # accounts.StaffUser id
    service_date = Date(index=True)
    slot = Varchar(length=12)
    status = Varchar(length=10, default="planned")  # planned | out | done
    planned_distance_m = Integer(default=0)
    depart_at = Timestamptz(null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RoundStop(Table, tablename="round_stop"):
    """One door on a round: the order, its place in the route and what happened there."""

    id: Serial
    delivery_round = ForeignKey(DeliveryRound, index=True)
    order = Integer(index=True)  # orders.Order id
    elder = Integer(index=True)
    sequence = Integer()
    eta = Timestamptz(null=True, default=None)
    leg_m = Integer(default=0)
    status = Varchar(length=10, default="pending")  # pending | delivered | not_home | refused
    delivered_at = Timestamptz(null=True, default=None)
    card_scanned = Boolean(default=False)
    card_id = Integer(null=True, default=None)
    reason = Varchar(length=200, default="")
    updated_at = Timestamptz()


class WelfareCheck(Table, tablename="welfare_check"):
    """What the courier saw at the door: a visit in the sense of 巡访关爱."""

    id: Serial
    elder = Integer(index=True)
    order = Integer(null=True, default=None)
    stop = Integer(null=True, default=None)
    courier = Integer()
    at = Timestamptz()
    level = Varchar(length=10)  # fine | attention | urgent
    note = Varchar(length=500, default="")


class Alert(Table, tablename="delivery_alert"):
    """Something a community worker must look into: an urgent welfare check or a missed meal."""

    id: Serial
    district = Integer(index=True)
    community = Integer(null=True, default=None, index=True)
    elder = Integer(index=True)
    kind = Varchar(length=20)  # urgent_welfare | missed_meal
    service_date = Date()
    slot = Varchar(length=12, default="")
    detail = JSON(default="{}")
    raised_at = Timestamptz()
    status = Varchar(length=14, default="open", index=True)  # open | acknowledged | closed
    acknowledged_by = Integer(null=True, default=None)
    acknowledged_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    resolution_note = Varchar(length=500, default="")
