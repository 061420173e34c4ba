"""msgspec Structs of the elder registry: what the API and the pages send and receive.

Inputs derive from ``canteen.core.schemas.Input`` (unknown fields refused) and every
field is bounded, so nothing unchecked reaches the services or the database. Views are
plain Structs; fields a role may not see are ``None`` (see ``canteen.registry.services``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from canteen.core.schemas import Id, Input

ElderStatus = Literal["active", "suspended", "moved", "deceased"]
ELDER_STATUSES: tuple[str, ...] = ("active", "suspended", "moved", "deceased")
LivingSituation = Literal["alone", "with_spouse", "with_children", "other"]
LIVING_SITUATIONS: tuple[str, ...] = ("alone", "with_spouse", "with_children", "other")
Gender = Literal["male", "female"]
AgeBand = Literal["80+", "90+", "100+"]

PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
OptName = Annotated[str, msgspec.Meta(max_length=50)]
NationalIdText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Phone = Annotated[str, msgspec.Meta(max_length=30, pattern=r"^[0-9+\-() ]*$")]
Address = Annotated[str, msgspec.Meta(max_length=300)]
Note200 = Annotated[str, msgspec.Meta(max_length=200)]
Note300 = Annotated[str, msgspec.Meta(max_length=300)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Version = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
Pin = Annotated[str, msgspec.Meta(min_length=1, max_length=12)]
Diet = Annotated[list[Code], msgspec.Meta(max_length=10)]
# Allergen group codes (canteen.core.categories.ALLERGENS); checked by the service so the
# refusal names the field and the code.
AllergenCodes = Annotated[list[Code], msgspec.Meta(max_length=10)]
# IDDSI 0-7, the coarsest food the elder may have; None = regular.
TextureLevel = Annotated[int, msgspec.Meta(ge=0, le=7)]


# The facts the subsidy rules (canteen.subsidies.rules.quote) need about a person. The registry
# owns them and builds them (registry.services.elder_facts / counter_view); the bounds are the
# rules' own, so they differ slightly from the registry's input types above.
FactCode = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
FactId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class CategoryGrant(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An elder's category with its validity (both ends inclusive; open end = None)."""

    code: FactCode
    valid_from: dt.date
    valid_until: dt.date | None = None


class ElderFacts(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the subsidy rules need to know about the person at the counter.

    Walk-ins (``member=False``) pay the list price. A member's unknown home
    street or district counts as "away from home" for portability.
    """

    member: bool
    birth_date: dt.date | None = None
    categories: Annotated[list[CategoryGrant], msgspec.Meta(max_length=32)] = []
    home_street_id: FactId | None = None
    home_district_id: FactId | None = None


class CategoryIn(Input, kw_only=True):
    """A category with its validity; ``valid_from`` defaults to today."""

    code: Code
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    note: Note300 = ""


Categories = Annotated[list[CategoryIn], msgspec.Meta(max_length=16)]


class ElderCreate(Input, kw_only=True):
    """Register an elder. Birth date and gender come from the ID number; when given they must agree."""

    name: PersonName
    national_id: NationalIdText
    community_id: Id
    birth_date: dt.date | None = None
    gender: Gender | None = None
    phone: Phone = ""
    address: Address = ""
    lat: Lat | None = None
    lon: Lon | None = None
    living_situation: LivingSituation = "other"
    categories: Categories = []
    diet: Diet = []
    diet_note: Note200 = ""
    allergies: Note300 = ""
    allergens: AllergenCodes = []
    texture_level: TextureLevel | None = None
    emergency_name: OptName = ""
    emergency_phone: Phone = ""


class ElderPatch(Input, kw_only=True):
    """Change some fields of an elder; ``version`` is the version the editor saw."""

    version: Version
    name: PersonName | UnsetType = UNSET
    national_id: NationalIdText | UnsetType = UNSET
    community_id: Id | UnsetType = UNSET
    phone: Phone | UnsetType = UNSET
    address: Address | UnsetType = UNSET
    lat: Lat | UnsetType | None = UNSET
    lon: Lon | UnsetType | None = UNSET
    living_situation: LivingSituation | UnsetType = UNSET
    categories: Categories | UnsetType = UNSET
    diet: Diet | UnsetType = UNSET
    diet_note: Note200 | UnsetType = UNSET
    allergies: Note300 | UnsetType = UNSET
    allergens: AllergenCodes | UnsetType = UNSET
    texture_level: TextureLevel | UnsetType | None = UNSET
    emergency_name: OptName | UnsetType = UNSET
    emergency_phone: Phone | UnsetType = UNSET


class StatusIn(Input, kw_only=True):
    status: ElderStatus
    reason: Note300 = ""


class DeliveryGrantIn(Input, kw_only=True):
    """A case worker's decision that the elder may have meals delivered; ``until`` inclusive."""

    reason: Reason
    until: dt.date | None = None


class PinIn(Input, kw_only=True):
    pin: Pin


class CategoryView(msgspec.Struct, kw_only=True):
    code: str
    label_zh: str
    label_en: str
    valid_from: dt.date
    valid_until: dt.date | None
    valid: bool  # valid on the day the view was made
    note: str = ""


class StatusEventView(msgspec.Struct, kw_only=True):
    status: str
    reason: str
    at: dt.datetime
    actor_id: int | None = None


class ElderView(msgspec.Struct, kw_only=True):
    """One elder as the asking role may see them; ``None`` marks what the role may not see.

    ``access`` lists the field groups shown: ``contact`` (phone, address, location,
    emergency contact), ``eligibility`` (birth date, categories, delivery, history),
    ``diet`` and ``record`` (version, PIN state, timestamps).
    """

    id: int
    district_id: int
    community_id: int
    community_name: str
    name: str
    gender: str
    masked_id: str
    age: int
    age_band: AgeBand | None
    status: str
    access: list[str]
    can_edit: bool = False
    can_reveal_id: bool = False
    birth_date: dt.date | None = None
    categories: list[CategoryView] | None = None
    delivery_eligible: bool | None = None
    delivery_reasons: list[str] | None = None
    delivery_grant_reason: str | None = None
    delivery_grant_until: dt.date | None = None
    status_history: list[StatusEventView] | None = None
    phone: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    living_situation: str | None = None
    emergency_name: str | None = None
    emergency_phone: str | None = None
    diet: list[str] | None = None
    diet_note: str | None = None
    allergies: str | None = None
    allergens: list[str] | None = None
    texture_level: int | None = None
    has_pin: bool | None = None
    version: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class ElderSummary(msgspec.Struct, kw_only=True):
    """A row of the search results."""

    id: int
    name: str
    masked_id: str
    community_id: int
    community_name: str
    district_id: int
    status: str
    age: int
    categories: list[str]  # codes valid today (empty when the role may not see them)
    phone: str | None = None


class ElderList(msgspec.Struct, kw_only=True):
    items: list[ElderSummary]
    next_cursor: str | None = None


class ElderBrief(msgspec.Struct, kw_only=True):
    """What the counter shows about the person in front of it."""

    id: int
    display_name: str
    masked_id: str
    categories: list[str]  # codes valid today
    status: str
    district_id: int
    diet: list[str]
    allergens: list[str] = []  # allergen group codes (canteen.core.categories.ALLERGENS)
    texture_level: int | None = None  # IDDSI 0-7; None = regular


class NationalIdView(msgspec.Struct, kw_only=True):
    elder_id: int
    national_id: str


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One audited change of an elder, for the edit page."""

    at: dt.datetime
    actor_name: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


# --- imports -------------------------------------------------------------------------------

RowAction = Literal["create", "update", "unchanged", "bad"]


class ImportProblem(msgspec.Struct, kw_only=True):
    row: int
    field: str
    code: str
    message_zh: str
    message_en: str


class ImportRow(msgspec.Struct, kw_only=True):
    row: int
    action: RowAction
    name: str = ""


class ImportPreview(msgspec.Struct, kw_only=True):
    """A dry run: what the import would do, and every bad row's problems in words."""

    filename: str
    headers: list[str]
    mapping: dict[str, int]
    total_rows: int
    will_create: int
    will_update: int
    unchanged: int
    bad_rows: list[int]
    problems: list[ImportProblem]
    warnings: list[ImportProblem]
    rows: list[ImportRow]


class ImportResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int
    bad_rows: int


# The mapping form field: ``{"name": 0, "national_id": 3, ...}`` (field → column index).
ColumnMapping = dict[Annotated[str, msgspec.Meta(max_length=40)], Annotated[int, msgspec.Meta(ge=0, le=500)]]
