"""Subsidy policies: a district's versioned rules, stored as a validated document.

A meal keeps the policy version and the quote it was sold at, so publishing a
new version never changes a meal already recorded. (district, version) is unique.
"""

from piccolo.columns import JSON, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District


class SubsidyPolicy(Table, tablename="subsidy_policy"):
    id: Serial
    district = ForeignKey(District, index=True)
    version = Integer()
    name = Varchar(length=100)
    effective_from = Date()
    effective_until = Date(null=True, default=None)
    document = JSON()  # canteen.subsidies.schemas.Policy, as validated
    status = Varchar(length=10, default="draft")  # draft | published | retired
    created_at = Timestamptz()
    created_by = Integer(null=True, default=None)
    published_at = Timestamptz(null=True, default=None)
