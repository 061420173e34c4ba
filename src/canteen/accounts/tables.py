"""Staff users, their role grants and device API tokens."""

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import City, Community, District, Site


class StaffUser(Table, tablename="staff_user"):
    id: Serial
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=100, default="")
    password_hash = Varchar(length=200)
    active = Boolean(default=True)
    language = Varchar(length=8, default="zh-CN")
    # Where notifications for this person go (a community worker's SMS); optional.
    phone = Varchar(length=30, default="")
    # Bumped on every change of password or grants: cached principals carry it.
    auth_version = Integer(default=1)
    created_at = Timestamptz()
    password_changed_at = Timestamptz()


class RoleGrant(Table, tablename="role_grant"):
    """One role in one scope: admin (global), official (a district), city official (a city),
    site roles (a site), community roles (a community)."""

    id: Serial
    user = ForeignKey(StaffUser, index=True)
    role = Varchar(length=16)
    district = ForeignKey(District, null=True, default=None)
    site = ForeignKey(Site, null=True, default=None)
    city = ForeignKey(City, null=True, default=None)
    community = ForeignKey(Community, null=True, default=None)  # community worker, volunteer


class ApiToken(Table, tablename="api_token"):
    """A bearer token for a device (a counter scanner) or an integration; stored hashed."""

    id: Serial
    user = ForeignKey(StaffUser, index=True)
    name = Varchar(length=100)
    prefix = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    created_by = Integer(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class StaffSession(Table, tablename="staff_session"):
    """A signed-in staff session, stored hashed. The database holds it so a Redis restart
    signs nobody out; Redis only caches it (canteen.accounts.sessions)."""

    id: Serial
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(StaffUser, index=True)
    auth_version = Integer()
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
