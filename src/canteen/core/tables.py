"""Cross-cutting tables: the audit trail, idempotency records and the notification outbox."""

from piccolo.columns import JSON, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table, tablename="audit_entry"):
    """Append-only: who did what to which record, with before/after. Never updated or deleted."""

    id: Serial
    at = Timestamptz(index=True)
    actor_id = Integer(null=True, default=None, index=True)
    actor_name = Varchar(length=100)
    action = Varchar(length=80, index=True)
    target_type = Varchar(length=40, index=True)
    target_id = Varchar(length=64, index=True)
    district_id = Integer(null=True, default=None, index=True)
    before = JSON(null=True, default=None)
    after = JSON(null=True, default=None)
    note = Text(default="")
    request_id = Varchar(length=64, default="")
    ip = Varchar(length=64, default="")


class IdempotencyRecord(Table, tablename="idempotency_record"):
    """The first answer to a money-moving request, returned again on a retry with the same key.

    (scope, key) is unique (a raw index in the migration, see NOTES on SQLite);
    the request fingerprint catches a key reused for a different request.
    """

    id: Serial
    scope = Varchar(length=64)
    key = Varchar(length=128)
    fingerprint = Varchar(length=64)
    status_code = Integer()
    response = JSON()
    created_at = Timestamptz()


class OutboxEvent(Table, tablename="outbox_event"):
    """Something people must hear about, written by a domain in the transaction of the change
    (canteen.core.outbox.emit); canteen.notify fans it out. ``dedupe_key`` names the fact once."""

    id: Serial
    kind = Varchar(length=32, index=True)
    district = Integer(index=True)
    elder = Integer(null=True, default=None, index=True)
    payload = JSON(default="{}")
    dedupe_key = Varchar(length=160, unique=True)
    created_at = Timestamptz(index=True)
    # Set by canteen.notify once the event has been turned into per-recipient notifications.
    fanned_out_at = Timestamptz(null=True, default=None, index=True)
