"""Tables of the notify package (one row per recipient and channel of an outbox event)."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District


class Notification(Table, tablename="notification"):
    """One message to one recipient over one channel, for one outbox event.

    The dispatcher claims due rows (``status='pending' AND next_attempt_at <= now``) by an
    UPDATE … RETURNING that moves them to ``sending`` with a lease, so two workers never send one
    row twice; a lease that runs out (a worker died mid-send) makes the row due again. Unique on
    (event, recipient_kind, recipient_ref, channel) by a raw index in the migration."""

    id: Serial
    event = Integer(index=True)  # outbox_event id
    kind = Varchar(length=32, index=True)
    district = Integer(index=True)
    elder = Integer(null=True, default=None, index=True)
    recipient_kind = Varchar(length=20)  # family | emergency | community_worker | webhook
    recipient_ref = Varchar(length=40, default="")  # family account id, staff user id, ""
    recipient_name = Varchar(length=100, default="")
    channel = Varchar(length=12)  # sms | wechat | webhook
    address = Varchar(length=500)  # phone, WeChat openid or webhook URL
    language = Varchar(length=8, default="zh-CN")
    urgent = Boolean(default=False)
    status = Varchar(length=12, default="pending", index=True)  # pending|sending|sent|logged|failed
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    lease_until = Timestamptz(null=True, default=None)
    last_error = Varchar(length=40, default="")  # a code, worded on the page
    provider = Varchar(length=20, default="")  # sms_gateway | wechat | webhook | log
    provider_ref = Varchar(length=100, default="")
    text = Text(default="")  # the words sent (the log page shows them when nothing is configured)
    sent_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class DistrictNotifySettings(Table, tablename="district_notify_settings"):
    """A district's notification settings, set by its officials: the signed webhook, the
    missed-meal threshold for people living alone, the low-balance threshold and quiet hours."""

    id: Serial
    district = ForeignKey(District, unique=True)
    webhook_url = Varchar(length=500, default="")
    webhook_secret = Varchar(length=200, default="")
    missed_meal_days = Integer(default=2)
    low_balance_fen = Integer(default=2000)
    quiet_start = Varchar(length=5, default="21:00")
    quiet_end = Varchar(length=5, default="07:00")
    updated_by = Integer(null=True, default=None)
    updated_at = Timestamptz()


class WeChatRecipient(Table, tablename="wechat_recipient"):
    """A family account's WeChat openid (official account), when the family has followed it."""

    id: Serial
    family = Integer(unique=True)  # family_account id
    openid = Varchar(length=64)
    created_at = Timestamptz()
