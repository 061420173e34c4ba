"""Structs for the region tree, operators and sites: what the API reads and writes.

Every input field is bounded (lengths, ranges, patterns, literal choices), so nothing
unchecked reaches the database; cross-field and cross-row rules (start < end, the
supplying kitchen, same district) live in the services, which raise stable codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from canteen.core.categories import MealType
from canteen.core.schemas import Id, Input, Lat, Lon, LongName, Name, Text300, Text2000

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=12, pattern=r"^[0-9A-Za-z]+$")]
City = Annotated[str, msgspec.Meta(max_length=100)]
Phone = Annotated[str, msgspec.Meta(max_length=30, pattern=r"^[0-9+\-() ]*$")]
ShortText = Annotated[str, msgspec.Meta(max_length=100)]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Seats = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
VoidWindow = Annotated[int, msgspec.Meta(ge=0, le=1440)]
# Walking metres of the meal circle: 15 minutes is about 1 km for an older person.
Radius = Annotated[int, msgspec.Meta(ge=100, le=5000, description="Walking distance in metres (100–5000)")]
# Cursor = the last id of the previous page, as an opaque-looking string (DESIGN: lists).
Cursor = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,10}$")]
PageLimit = Annotated[int, msgspec.Meta(ge=1, le=200)]

SlotName = Literal["breakfast", "lunch", "dinner"]
SiteKind = Literal["central_kitchen", "meal_point"]
PointType = Literal["canteen", "satellite", "partner_restaurant"]
SiteStatus = Literal["planned", "open", "paused", "closed"]
OperatorKind = Literal["enterprise", "social_org", "community", "restaurant"]

SLOT_NAMES: tuple[str, ...] = ("breakfast", "lunch", "dinner")
SITE_KINDS: tuple[str, ...] = ("central_kitchen", "meal_point")
POINT_TYPES: tuple[str, ...] = ("canteen", "satellite", "partner_restaurant")
SITE_STATUSES: tuple[str, ...] = ("planned", "open", "paused", "closed")
DEFAULT_LIMIT = 50


class SlotHours(Input):
    """One opening slot: serving hours ``start``–``end`` and the order ``cutoff`` (all HH:MM, local).

    The cutoff may lie before ``start`` on the same day or the evening before (breakfast),
    so it is not compared with the hours; ``start < end`` is checked by the service.
    """

    slot: SlotName
    start: HHMM
    end: HHMM
    cutoff: HHMM


Slots = Annotated[list[SlotHours], msgspec.Meta(max_length=3)]


# --- districts, streets, communities, operators -------------------------------------------


class CityCreate(Input):
    name: Name
    code: Code


class CityView(msgspec.Struct):
    id: int
    name: str
    code: str
    district_ids: list[int] = []


class DistrictCreate(Input):
    name: Name
    code: Code
    city: City = ""  # the city's name; with ``city_id`` it is taken from the city
    city_id: Id | None = None
    lat: Lat = 0.0
    lon: Lon = 0.0
    service_radius_m: Radius = 1000


class DistrictUpdate(Input):
    """A partial update of a district: only the fields present change."""

    name: Name | UnsetType = UNSET
    service_radius_m: Radius | UnsetType = UNSET
    # The meal types the district's points serve; "standard" is always one of them.
    meal_types: (
        Annotated[
            list[MealType],
            msgspec.Meta(
                min_length=1,
                max_length=6,
                description='e.g. ["standard", "soft", "therapeutic"]: the menus offer only these',
            ),
        ]
        | UnsetType
    ) = UNSET


class DistrictView(msgspec.Struct):
    id: int
    name: str
    code: str
    city: str
    lat: float
    lon: float
    service_radius_m: int = 1000
    city_id: int | None = None
    meal_types: list[str] = []  # the types its points serve (every type unless it chose)


class StreetCreate(Input):
    name: Name


class StreetView(msgspec.Struct):
    id: int
    district_id: int
    name: str


class CommunityCreate(Input):
    name: Name
    lat: Lat = 0.0
    lon: Lon = 0.0


class CommunityView(msgspec.Struct):
    id: int
    street_id: int
    district_id: int
    name: str
    lat: float
    lon: float


class OperatorCreate(Input):
    district_id: Id
    name: LongName
    kind: OperatorKind = "enterprise"
    contact_name: ShortText = ""
    contact_phone: Phone = ""


class ServedDistrict(msgspec.Struct):
    """A district where an operator runs sites (and so has statements)."""

    id: int
    name: str
    sites: int


class OperatorView(msgspec.Struct):
    """An operator: registered in ``district_id`` (its home district), it may run sites in any
    district of the same city; ``serves`` lists those districts, derived from its sites."""

    id: int
    district_id: int
    name: str
    kind: str
    contact_name: str
    contact_phone: str
    serves: list[ServedDistrict] = []


# --- sites ----------------------------------------------------------------------------------


class SiteCreate(Input):
    district_id: Id
    name: LongName
    kind: SiteKind
    point_type: PointType | None = None
    street_id: Id | None = None
    community_id: Id | None = None
    operator_id: Id | None = None
    kitchen_id: Id | None = None
    address: Text300 = ""
    lat: Lat = 0.0
    lon: Lon = 0.0
    seats: Seats = 0
    meals_per_slot: Seats = 0
    slots: Slots = msgspec.field(default_factory=list)
    void_window_minutes: VoidWindow = 15
    phone: Phone = ""
    note: Text2000 = ""
    residential_utilities: bool = False
    service_radius_m: Radius | None = None
    status: Literal["planned", "open"] = "planned"


class SiteUpdate(Input):
    """A partial update: only the fields present change. The district and status do not
    change here (status has its own route, a site never moves district)."""

    name: LongName | UnsetType = UNSET
    kind: SiteKind | UnsetType = UNSET
    point_type: PointType | UnsetType | None = UNSET
    street_id: Id | UnsetType | None = UNSET
    community_id: Id | UnsetType | None = UNSET
    operator_id: Id | UnsetType | None = UNSET
    kitchen_id: Id | UnsetType | None = UNSET
    address: Text300 | UnsetType = UNSET
    lat: Lat | UnsetType = UNSET
    lon: Lon | UnsetType = UNSET
    seats: Seats | UnsetType = UNSET
    meals_per_slot: Seats | UnsetType = UNSET
    slots: Slots | UnsetType = UNSET
    void_window_minutes: VoidWindow | UnsetType = UNSET
    phone: Phone | UnsetType = UNSET
    note: Text2000 | UnsetType = UNSET
    residential_utilities: bool | UnsetType = UNSET
    service_radius_m: Radius | UnsetType | None = UNSET


class SiteStatusIn(Input):
    status: SiteStatus
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class SiteView(msgspec.Struct):
    id: int
    district_id: int
    street_id: int | None
    community_id: int | None
    operator_id: int | None
    kitchen_id: int | None
    name: str
    kind: str
    point_type: str | None
    address: str
    lat: float
    lon: float
    seats: int
    meals_per_slot: int
    status: str
    slots: list[SlotHours]
    void_window_minutes: int
    phone: str
    note: str
    residential_utilities: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    service_radius_m: int | None = None


# --- list envelopes -------------------------------------------------------------------------


class DistrictList(msgspec.Struct):
    items: list[DistrictView]
    next_cursor: str | None = None


class StreetList(msgspec.Struct):
    items: list[StreetView]
    next_cursor: str | None = None


class CommunityList(msgspec.Struct):
    items: list[CommunityView]
    next_cursor: str | None = None


class OperatorList(msgspec.Struct):
    items: list[OperatorView]
    next_cursor: str | None = None


class SiteList(msgspec.Struct):
    items: list[SiteView]
    next_cursor: str | None = None
