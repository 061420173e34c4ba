"""Elders (members), their categories with validity, status history, and member cards."""

from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from canteen.regions.tables import Community, District


class Elder(Table, tablename="elder"):
    """A registered older person. The national ID is personal data: stored encrypted,
    found through a keyed hash (unique per district), shown masked by default."""

    id: Serial
    district = ForeignKey(District, index=True)
    community = ForeignKey(Community, index=True)
    name = Varchar(length=50, index=True)
    gender = Varchar(length=8)  # male | female
    birth_date = Date()
    national_id_enc = Text()  # canteen.core.crypto.PiiCipher.encrypt(..., context="elder.national_id")
    # The ID as the counter shows it (mask_national_id), stored at registration so a scan
    # never decrypts; "" for a row written before the column existed (read falls back).
    national_id_masked = Varchar(length=24, default="")
    national_id_hash = Varchar(length=64)  # lookup_hash(number, scope="national_id"); unique per district
    id_last4 = Varchar(length=4, index=True)
    phone = Varchar(length=30, default="", index=True)
    address = Varchar(length=300, default="")
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    living_situation = Varchar(length=20, default="other")  # alone | with_spouse | with_children | other
    diet = JSON(default="[]")  # diet tag codes, canteen.core.categories.DIET_TAGS
    diet_note = Varchar(length=200, default="")
    allergies = Varchar(length=300, default="")
    # Allergen group codes (canteen.core.categories.ALLERGENS); ``allergies`` stays the free text.
    allergens = JSON(default="[]")
    # IDDSI texture level 0-7 the elder may have at most; None = regular food (level 7).
    texture_level = Integer(null=True, default=None)
    emergency_name = Varchar(length=50, default="")
    emergency_phone = Varchar(length=30, default="")
    # Delivery eligibility granted by a case worker (categories or age 90+ grant it anyway).
    delivery_grant_reason = Varchar(length=300, default="")
    delivery_grant_until = Date(null=True, default=None)
    delivery_granted_by = Integer(null=True, default=None)
    status = Varchar(length=12, default="active")  # active | suspended | moved | deceased
    status_changed_at = Timestamptz(null=True, default=None)
    pin_hash = Varchar(length=200, null=True, default=None)
    pin_failures = Integer(default=0)
    pin_locked_until = Timestamptz(null=True, default=None)
    # Lockouts in a row (the next one lasts longer); see canteen.registry.pin_lockout.
    pin_lockouts = Integer(default=0)
    import_fingerprint = Varchar(length=64, default="")
    version = Integer(default=1)  # optimistic concurrency for edits
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ElderCategory(Table, tablename="elder_category"):
    """One category (特困, 低保, 失能 …) with its evidence and validity. 高龄 is derived from age."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    code = Varchar(length=30)
    valid_from = Date()
    valid_until = Date(null=True, default=None)
    note = Varchar(length=300, default="")
    created_at = Timestamptz()


class ElderStatusEvent(Table, tablename="elder_status_event"):
    """Status history: every change of active / suspended / moved / deceased, with why."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    status = Varchar(length=12)
    reason = Varchar(length=300, default="")
    at = Timestamptz()
    actor_id = Integer(null=True, default=None)


class Card(Table, tablename="card"):
    """A printed member card. Issuing a new one revokes the previous (a lost card).
    (elder, serial) is unique (raw index in the migration); the number is unique too."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    serial = Integer()
    number = Varchar(length=12, unique=True)  # canonical, no dashes: see registry.cards
    issued_at = Timestamptz()
    issued_by = Integer(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    revoke_reason = Varchar(length=100, default="")


class ServicePause(Table, tablename="service_pause"):
    """报停: the elder is away (hospital, visiting family …) from ``first_day`` to ``last_day``
    (inclusive, service zone). Standing orders skip those days, delivery orders are refused,
    missed-meal alerts stay quiet; service resumes by itself after ``last_day``. Ending early
    sets ``ended_at`` and moves ``last_day`` back (see canteen.registry.pauses)."""

    id: Serial
    elder = ForeignKey(Elder, index=True)
    district = Integer()  # the elder's district when paused: scope checks without a join
    delivery = Boolean(default=False)
    counter = Boolean(default=False)
    first_day = Date(index=True)
    last_day = Date(index=True)
    reason = Varchar(length=20)  # hospital | visiting_family | travel | other
    note = Varchar(length=200, default="")
    by_kind = Varchar(length=12)  # elder | family | staff
    by_id = Integer(null=True, default=None)  # elder id, family account id or staff user id
    by_role = Varchar(length=30, default="")  # the staff member's role (admin, official, community_worker)
    created_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)
    # The service day it was ended early: in effect only before it (service runs again that day).
    ended_on = Date(null=True, default=None)
    ended_by_kind = Varchar(length=12, default="")
    ended_by_id = Integer(null=True, default=None)


class ImportUpload(Table, tablename="import_upload"):
    """An uploaded spreadsheet (an elder register, a civil-affairs list) waiting for its steps —
    mapping the columns, the check, the import — and for the job that does the work. It holds ID
    numbers, so the file is stored sealed (``PiiCipher``, bound to this use), found by a hash of
    the page's token; the wizard honours it for ``UPLOAD_TTL``, a job for a day, then it goes."""

    id: Serial
    token_hash = Varchar(length=64, unique=True)
    kind = Varchar(length=24)  # elder_import | civil_list
    user = Integer()
    district = Integer()
    filename = Varchar(length=200, default="")
    sealed = Text()
    created_at = Timestamptz(index=True)
