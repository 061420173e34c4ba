"""The region tree (district → street → community), operators and sites."""

from typing import Any

from piccolo.columns import (
    JSON,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class City(Table, tablename="city"):
    """A city above its districts (杭州市 above 拱墅区 and 西湖区): a city official reads every
    district of it, and city-level funders are settled across them."""

    id: Serial
    name = Varchar(length=100)
    code = Varchar(length=12, unique=True)  # GB/T 2260 region code of the city, e.g. 330100


class District(Table, tablename="district"):
    id: Serial
    name = Varchar(length=100)
    code = Varchar(length=12, unique=True)  # GB/T 2260 region code, e.g. 330105
    city = Varchar(length=100, default="")  # the city's name as shown (kept with city_id)
    city_id = ForeignKey(City, null=True, default=None, index=True, on_delete=OnDelete.restrict)
    lat = DoublePrecision(default=0.0)
    lon = DoublePrecision(default=0.0)
    # The meal circle: how far an elder is expected to walk to a point (metres of walking).
    service_radius_m = Integer(default=1000)
    # The meal types its points serve (core.categories.MEAL_TYPES; empty: every type).
    meal_types = JSON(default="[]")


class Street(Table, tablename="street"):
    id: Serial
    district = ForeignKey(District, index=True)
    name = Varchar(length=100)


class Community(Table, tablename="community"):
    id: Serial
    street = ForeignKey(Street, index=True)
    # Denormalised for scoping: officials are scoped to a district.
    district = ForeignKey(District, index=True)
    name = Varchar(length=100)
    lat = DoublePrecision(default=0.0)
    lon = DoublePrecision(default=0.0)


class Operator(Table, tablename="operator"):
    """The organisation that runs sites and is reimbursed for the subsidies it gives."""

    id: Serial
    district = ForeignKey(District, index=True)
    name = Varchar(length=200)
    kind = Varchar(length=30, default="enterprise")  # enterprise, social_org, community, restaurant
    contact_name = Varchar(length=100, default="")
    contact_phone = Varchar(length=30, default="")


class Site(Table, tablename="site"):
    """A central kitchen or a meal point (canteen, satellite, partner restaurant)."""

    id: Serial
    district = ForeignKey(District, index=True)
    street = ForeignKey(Street, null=True, default=None)
    community = ForeignKey(Community, null=True, default=None)
    operator = ForeignKey(Operator, null=True, default=None, index=True)
    kitchen: ForeignKey[Any] = ForeignKey("self", null=True, default=None)
    name = Varchar(length=200)
    kind = Varchar(length=20)  # central_kitchen | meal_point
    point_type = Varchar(length=20, null=True, default=None)  # canteen | satellite | partner_restaurant
    address = Varchar(length=300, default="")
    lat = DoublePrecision(default=0.0)
    lon = DoublePrecision(default=0.0)
    seats = Integer(default=0)
    meals_per_slot = Integer(default=0)
    status = Varchar(length=10, default="planned")  # planned | open | paused | closed
    # [{"slot": "lunch", "start": "11:00", "end": "13:00", "cutoff": "09:30"}]
    slots = JSON(default="[]")
    void_window_minutes = Integer(default=15)
    phone = Varchar(length=30, default="")
    note = Text(default="")
    residential_utilities = Boolean(default=False)
    # This point's own reach when it differs from the district's (a hill, a main road); None: theirs.
    service_radius_m = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
