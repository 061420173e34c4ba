"""Cross-cutting tables: the audit trail, idempotency records, the notification outbox and job runs."""

from piccolo.columns import JSON, Bytea, Integer, Serial, Text, Timestamptz, Varchar
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


class JobRun(Table, tablename="job_run"):
    """One piece of long work (a route plan, a claim check, a card sheet …) as people see it:
    who asked, in which scope, how far it got and what came out. The queue (procrastinate, in
    canteen.core.queue) delivers and retries it; this row is the referee of whether it is done."""

    id = Varchar(length=32, primary_key=True)
    kind = Varchar(length=48, index=True)
    args = JSON(default="{}")
    status = Varchar(length=12, index=True, default="queued")  # queued | running | done | failed
    # Set while queued or running, cleared when it ends: the same request asked twice while it
    # runs joins the first (NULLs never collide, so finished runs don't block a new one).
    active_key = Varchar(length=160, null=True, default=None, unique=True)
    progress_done = Integer(default=0)
    progress_total = Integer(default=0)
    stage = Varchar(length=64, default="")  # a msgid: shown through the catalogs
    result = JSON(default="{}")
    error_code = Varchar(length=48, default="")
    attempts = Integer(default=0)
    user = Integer(null=True, default=None, index=True)
    district = Integer(null=True, default=None, index=True)
    site = Integer(null=True, default=None)
    created_at = Timestamptz(index=True)
    started_at = Timestamptz(null=True, default=None)
    heartbeat_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    # A file the work produced (a card sheet PDF, an export), downloaded from the run's page.
    output = Bytea(null=True, default=None)
    output_name = Varchar(length=120, default="")
    output_type = Varchar(length=80, default="")
