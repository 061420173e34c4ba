"""Subsidy policies: a district's (or a city's) versioned rules, stored as a validated document.

A meal keeps the policy version and the quote it was sold at, so publishing a
new version never changes a meal already recorded. (district, version) is unique,
and so is (city, version). A row belongs to exactly one owner: ``district`` for a
district's policy (a top-up when its city has a base), ``city`` for a city's base.
"""

from piccolo.columns import JSON, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from canteen.regions.tables import City, District


class SubsidyPolicy(Table, tablename="subsidy_policy"):
    id: Serial
    district = ForeignKey(District, index=True)  # None for a city's base
    city = ForeignKey(City, null=True, default=None, index=True, on_delete=OnDelete.cascade)
    version = Integer()
    name = Varchar(length=100)
    effective_from = Date()
    effective_until = Date(null=True, default=None)
    document = JSON()  # canteen.subsidies.schemas.Policy, as validated
    status = Varchar(length=10, default="draft")  # draft | published | retired
    created_at = Timestamptz()
    created_by = Integer(null=True, default=None)
    published_at = Timestamptz(null=True, default=None)
