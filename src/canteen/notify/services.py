"""Fan-out and dispatch of notifications, the events found by scanning (a living-alone regular
missing meals, a low balance), the district's notification settings and the log views.

Flow: a domain ``emit``s an outbox event in its own transaction → ``fan_out`` turns each event,
once, into one ``Notification`` per recipient and channel (the text written then, in the
recipient's language) → ``dispatch`` claims due rows atomically and sends them through the
providers, retrying with backoff and holding personal messages back during quiet hours.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

import httpx
import msgspec
from babel.dates import format_skeleton, format_time

from canteen.accounts.roles import COMMUNITY_WORKER, Principal
from canteen.accounts.tables import RoleGrant, StaffUser
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import any_of, write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.money import yuan
from canteen.core.outbox import emit
from canteen.core.tables import OutboxEvent
from canteen.delivery.tables import Alert
from canteen.i18n import gettext, normalise
from canteen.meals.tables import Meal
from canteen.notify import rules
from canteen.notify.providers import OutgoingMessage, Providers, SendResult, providers_from_settings
from canteen.notify.tables import DistrictNotifySettings, Notification, WeChatRecipient
from canteen.orders.tables import FamilyAccount, FamilyLink
from canteen.payments.tables import ElderBalance
from canteen.regions.tables import District
from canteen.registry.tables import Elder, ElderCategory
from canteen.settings import Settings, get_settings

log = logging.getLogger("canteen.notify")

register("notify_webhook_invalid", 422)

LEASE = dt.timedelta(minutes=2)
STATUSES = ("pending", "sending", "sent", "logged", "failed")


# ------------------------------------------------------------------ district settings


class NotifySettingsView(msgspec.Struct):
    district_id: int
    webhook_url: str
    webhook_secret_set: bool
    missed_meal_days: int
    low_balance_fen: int
    quiet_start: str
    quiet_end: str


_DEFAULTS = {
    "webhook_url": "",
    "webhook_secret": "",
    "missed_meal_days": 2,
    "low_balance_fen": 2000,
    "quiet_start": "21:00",
    "quiet_end": "07:00",
}


async def _settings_row(district_id: int) -> dict[str, Any]:
    row = await DistrictNotifySettings.select().where(DistrictNotifySettings.district == district_id).first()
    return {**_DEFAULTS, **(row or {}), "district": district_id}


def _view(row: dict[str, Any]) -> NotifySettingsView:
    return NotifySettingsView(
        district_id=int(row["district"]),
        webhook_url=row["webhook_url"],
        webhook_secret_set=bool(row["webhook_secret"]),
        missed_meal_days=int(row["missed_meal_days"]),
        low_balance_fen=int(row["low_balance_fen"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
    )


def _check_district(actor: Principal, district_id: int) -> None:
    if not actor.can_district(district_id):
        raise DomainError("not_found", {"district_id": district_id})


async def get_notify_settings(actor: Principal, district_id: int) -> NotifySettingsView:
    """The district's notification settings (defaults until an official saves them)."""
    _check_district(actor, district_id)
    return _view(await _settings_row(district_id))


async def update_notify_settings(
    actor: Principal,
    district_id: int,
    *,
    webhook_url: str,
    webhook_secret: str | None,
    missed_meal_days: int,
    low_balance_fen: int,
    quiet_start: str,
    quiet_end: str,
    now: dt.datetime | None = None,
) -> NotifySettingsView:
    """Save the district's settings (audited; the secret is never shown back, only replaced).
    ``webhook_secret=None`` keeps the current one."""
    now = now or utcnow()
    _check_district(actor, district_id)
    url = webhook_url.strip()
    if url and not url.startswith(("https://", "http://")):
        raise DomainError("notify_webhook_invalid", {"field": "webhook_url"})
    if len(url) > 500:
        raise DomainError("validation_failed", {"field": "webhook_url"})
    if not 1 <= missed_meal_days <= 30:
        raise DomainError("validation_failed", {"field": "missed_meal_days"})
    if not 0 <= low_balance_fen <= 1_000_000:
        raise DomainError("validation_failed", {"field": "low_balance_fen"})
    for name, value in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
        try:
            rules.parse_hhmm(value)
        except ValueError:
            raise DomainError("validation_failed", {"field": name}) from None
    if webhook_secret is not None and len(webhook_secret) > 200:
        raise DomainError("validation_failed", {"field": "webhook_secret"})
    async with write_transaction():
        if not await District.exists().where(District.id == district_id):
            raise DomainError("not_found", {"district_id": district_id})
        before = await _settings_row(district_id)
        secret = before["webhook_secret"] if webhook_secret is None else webhook_secret
        if url and not secret:
            raise DomainError("notify_webhook_invalid", {"field": "webhook_secret"})
        values = {
            "webhook_url": url,
            "webhook_secret": secret,
            "missed_meal_days": missed_meal_days,
            "low_balance_fen": low_balance_fen,
            "quiet_start": quiet_start,
            "quiet_end": quiet_end,
        }
        if before.get("id") is None:
            await DistrictNotifySettings.insert(
                DistrictNotifySettings(
                    district=district_id,
                    webhook_url=url,
                    webhook_secret=secret,
                    missed_meal_days=missed_meal_days,
                    low_balance_fen=low_balance_fen,
                    quiet_start=quiet_start,
                    quiet_end=quiet_end,
                    updated_by=actor.user_id,
                    updated_at=now,
                )
            )
        else:
            await DistrictNotifySettings.update(
                {**values, "updated_by": actor.user_id, "updated_at": now}  # type: ignore[dict-item]
            ).where(DistrictNotifySettings.district == district_id)
        redact = {"webhook_secret": "***"}
        await audit.record(
            actor,
            "notify.settings",
            "district",
            district_id,
            before={k: before[k] for k in values} | redact,
            after=values | redact,
            district_id=district_id,
            now=now,
        )
    return _view(await _settings_row(district_id))


# ------------------------------------------------------------------ words


def _date_words(day: str | None, lang: str) -> str:
    if not day:
        return ""
    try:
        d = dt.date.fromisoformat(day)
    except ValueError:
        return ""
    return format_skeleton("MMMEd", d, locale="en" if lang == "en" else "zh_CN")


def _time_words(at: dt.datetime, lang: str) -> str:
    local = at.astimezone(get_settings().tz)
    locale = "en" if lang == "en" else "zh_CN"
    return format_skeleton("MMMd", local, locale=locale) + " " + format_time(local, "HH:mm", locale=locale)


def compose(kind: str, lang: str, *, name: str, payload: dict[str, Any], at: dt.datetime) -> str:
    """The message in the recipient's language: the elder's name, the day and meal in words,
    times in the service zone; no internal codes."""
    slot = payload.get("slot") or ""
    params = {
        "name": name,
        "date": _date_words(payload.get("service_date"), lang) or _time_words(at, lang),
        "slot": gettext(lang, slot) if slot in ("breakfast", "lunch", "dinner") else "",
        "time": _time_words(at, lang),
        "days": int(payload.get("days") or 0),
        "balance": yuan(int(payload.get("balance_fen") or 0)),
        "hotline": get_settings().hotline,
    }
    body = gettext(lang, f"notify.text.{kind}", **params)
    return gettext(lang, "notify.signature") + body


def mask_address(channel: str, address: str) -> str:
    """A phone as 138****5678, an openid or a URL shortened: the log shows whom, not the number."""
    if channel == "sms":
        return address[:3] + "****" + address[-4:] if len(address) >= 8 else "****"
    if channel == "webhook":
        return address.split("?")[0][:60]
    return address[:4] + "…"


# ------------------------------------------------------------------ fan-out


async def _recipients(event: dict[str, Any], settings_row: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per (recipient, channel) this event goes to, per ``rules.ROUTING``."""
    wanted = rules.ROUTING.get(event["kind"], ())
    out: list[dict[str, Any]] = []
    elder: dict[str, Any] | None = None
    if event["elder"] is not None:
        elder = (
            await Elder.select(
                Elder.id, Elder.name, Elder.community, Elder.emergency_name, Elder.emergency_phone
            )
            .where(Elder.id == event["elder"])
            .first()
        )
    if elder is not None and rules.FAMILY in wanted:
        fams = await FamilyAccount.select(FamilyAccount.id, FamilyAccount.name, FamilyAccount.phone).where(
            FamilyAccount.id.is_in(
                [
                    int(r["family"])
                    for r in await FamilyLink.select(FamilyLink.family).where(FamilyLink.elder == elder["id"])
                ]
                or [-1]
            )
            & FamilyAccount.active.eq(True)
        )
        openids = {
            int(w["family"]): w["openid"]
            for w in await WeChatRecipient.select(WeChatRecipient.family, WeChatRecipient.openid).where(
                WeChatRecipient.family.is_in([int(f["id"]) for f in fams] or [-1])
            )
        }
        for f in fams:
            base = {
                "recipient_kind": rules.FAMILY,
                "recipient_ref": str(f["id"]),
                "recipient_name": f["name"],
            }
            if f["phone"]:
                out.append({**base, "channel": "sms", "address": f["phone"], "language": "zh-CN"})
            if int(f["id"]) in openids:
                out.append(
                    {**base, "channel": "wechat", "address": openids[int(f["id"])], "language": "zh-CN"}
                )
    if elder is not None and rules.EMERGENCY in wanted and elder["emergency_phone"]:
        phones = {o["address"] for o in out if o["channel"] == "sms"}
        if elder["emergency_phone"] not in phones:  # the emergency contact is often a family member
            out.append(
                {
                    "recipient_kind": rules.EMERGENCY,
                    "recipient_ref": "",
                    "recipient_name": elder["emergency_name"],
                    "channel": "sms",
                    "address": elder["emergency_phone"],
                    "language": "zh-CN",
                }
            )
    if elder is not None and rules.COMMUNITY_WORKER in wanted:
        users = [
            int(g["user"])
            for g in await RoleGrant.select(RoleGrant.user).where(
                (RoleGrant.role == COMMUNITY_WORKER) & (RoleGrant.community == elder["community"])
            )
        ]
        if users:
            for u in await StaffUser.select(
                StaffUser.id, StaffUser.display_name, StaffUser.phone, StaffUser.language
            ).where(StaffUser.id.is_in(sorted(set(users))) & StaffUser.active.eq(True)):
                if u["phone"]:
                    out.append(
                        {
                            "recipient_kind": rules.COMMUNITY_WORKER,
                            "recipient_ref": str(u["id"]),
                            "recipient_name": u["display_name"],
                            "channel": "sms",
                            "address": u["phone"],
                            "language": normalise(u["language"]),
                        }
                    )
    if rules.WEBHOOK in wanted and settings_row["webhook_url"]:
        out.append(
            {
                "recipient_kind": rules.WEBHOOK,
                "recipient_ref": "",
                "recipient_name": "",
                "channel": "webhook",
                "address": settings_row["webhook_url"],
                "language": "zh-CN",
            }
        )
    for o in out:
        o["elder_name"] = elder["name"] if elder else ""
    return out


def _quiet(settings_row: dict[str, Any]) -> tuple[dt.time, dt.time]:
    try:
        return rules.parse_hhmm(settings_row["quiet_start"]), rules.parse_hhmm(settings_row["quiet_end"])
    except ValueError:
        return dt.time(21), dt.time(7)


async def fan_out(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Turn events not yet fanned out into notifications; each event once (the claim on
    ``fanned_out_at`` is the referee when two runs overlap). Returns notifications created."""
    now = now or utcnow()
    zone = get_settings().tz
    created = 0
    events = (
        await OutboxEvent.select()
        .where(OutboxEvent.fanned_out_at.is_null())
        .order_by(OutboxEvent.id)
        .limit(limit)
        .output(load_json=True)
    )
    for ev in events:
        srow = await _settings_row(int(ev["district"]))
        start, end = _quiet(srow)
        targets = await _recipients(ev, srow)
        urgent = ev["kind"] in rules.URGENT_KINDS
        async with write_transaction():
            claimed = (
                await OutboxEvent.update({OutboxEvent.fanned_out_at: now})
                .where((OutboxEvent.id == ev["id"]) & OutboxEvent.fanned_out_at.is_null())
                .returning(OutboxEvent.id)
            )
            if not claimed:
                continue
            rows = []
            for t in targets:
                due = rules.release_at(
                    now, start=start, end=end, zone=zone, urgent=urgent, channel=t["channel"]
                )
                text = compose(
                    ev["kind"],
                    t["language"],
                    name=t["elder_name"],
                    payload=ev["payload"] or {},
                    at=ev["created_at"],
                )
                rows.append(
                    Notification(
                        event=ev["id"],
                        kind=ev["kind"],
                        district=ev["district"],
                        elder=ev["elder"],
                        recipient_kind=t["recipient_kind"],
                        recipient_ref=t["recipient_ref"],
                        recipient_name=t["recipient_name"][:100],
                        channel=t["channel"],
                        address=t["address"][:500],
                        language=t["language"],
                        urgent=urgent,
                        status="pending",
                        next_attempt_at=due,
                        text=text,
                        created_at=now,
                        updated_at=now,
                    )
                )
            if rows:
                await Notification.insert(*rows)
            created += len(rows)
    return created


# ------------------------------------------------------------------ dispatch


class DispatchReport(msgspec.Struct):
    claimed: int = 0
    sent: int = 0
    logged: int = 0
    retrying: int = 0
    failed: int = 0


def _due(now: dt.datetime) -> Any:
    return ((Notification.status == "pending") & (Notification.next_attempt_at <= now)) | (
        (Notification.status == "sending") & (Notification.lease_until < now)
    )


async def claim(now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Atomically take due rows: one UPDATE … WHERE <due> … RETURNING; a row another worker
    took meanwhile no longer matches <due> (PostgreSQL re-checks it after the row lock, SQLite
    serialises writers), so it is never returned twice."""
    ids = [
        int(r["id"])
        for r in await Notification.select(Notification.id)
        .where(_due(now))
        .order_by(Notification.next_attempt_at)
        .limit(limit)
    ]
    if not ids:
        return []
    rows: list[dict[str, Any]] = await (
        Notification.update(
            {
                Notification.status: "sending",
                Notification.lease_until: now + LEASE,
                Notification.attempts: Notification.attempts + 1,
                Notification.updated_at: now,
            }
        )
        .where(any_of(Notification.id, ids) & _due(now))
        .returning(*Notification.all_columns())
    )
    return rows


async def _message(row: dict[str, Any], secrets: dict[int, str]) -> OutgoingMessage:
    document: dict[str, Any] = {}
    secret = ""
    if row["channel"] == "webhook":
        ev = await OutboxEvent.select().where(OutboxEvent.id == row["event"]).first().output(load_json=True)
        document = {
            "event_id": row["event"],
            "kind": row["kind"],
            "district_id": row["district"],
            "elder_id": row["elder"],
            "payload": (ev or {}).get("payload") or {},
            "created_at": (ev or {}).get("created_at", row["created_at"]).isoformat(),
            "text": row["text"],
        }
        if row["district"] not in secrets:
            secrets[row["district"]] = (await _settings_row(int(row["district"])))["webhook_secret"]
        secret = secrets[row["district"]]
    elif row["channel"] == "wechat":
        document = {"first": row["text"]}
    return OutgoingMessage(
        notification_id=int(row["id"]),
        channel=row["channel"],
        address=row["address"],
        text=row["text"],
        kind=row["kind"],
        urgent=bool(row["urgent"]),
        document=document,
        secret=secret,
    )


async def _record(row: dict[str, Any], result: SendResult, now: dt.datetime, report: DispatchReport) -> None:
    values: dict[Any, Any] = {
        Notification.provider: result.provider,
        Notification.lease_until: None,
        Notification.updated_at: now,
    }
    if result.ok:
        values[Notification.status] = "logged" if result.logged_only else "sent"
        values[Notification.sent_at] = now
        values[Notification.provider_ref] = result.ref
        values[Notification.last_error] = ""
        report.logged += result.logged_only
        report.sent += not result.logged_only
    elif not result.retryable or int(row["attempts"]) >= rules.MAX_ATTEMPTS:
        values[Notification.status] = "failed"
        values[Notification.last_error] = result.error
        report.failed += 1
    else:
        srow = await _settings_row(int(row["district"]))
        start, end = _quiet(srow)
        due = rules.release_at(
            now + rules.backoff(int(row["attempts"])),
            start=start,
            end=end,
            zone=get_settings().tz,
            urgent=bool(row["urgent"]),
            channel=row["channel"],
        )
        values[Notification.status] = "pending"
        values[Notification.next_attempt_at] = due
        values[Notification.last_error] = result.error
        report.retrying += 1
    # Only our own claim is finished: if the lease ran out and another worker took the row,
    # its attempts count moved on and this write does nothing.
    await Notification.update(values).where(
        (Notification.id == row["id"])
        & (Notification.status == "sending")
        & (Notification.attempts == row["attempts"])
    )


async def dispatch(
    *,
    now: dt.datetime | None = None,
    providers: Providers | None = None,
    settings: Settings | None = None,
    limit: int = 50,
) -> DispatchReport:
    """Send what is due at ``now``: claim, send through each channel's provider (from
    ``settings``, default the process's), record."""
    now = now or utcnow()
    report = DispatchReport()
    async with httpx.AsyncClient() as client:
        provs = providers or providers_from_settings(settings or get_settings(), client)
        rows = await claim(now, limit)
        report.claimed = len(rows)
        secrets: dict[int, str] = {}
        for row in rows:
            msg = await _message(row, secrets)
            try:
                result = await provs.for_channel(row["channel"]).send(msg)
            except Exception:  # a provider bug must not leave the row leased forever
                log.exception("provider failed", extra={"code": "notify_provider_bug"})
                result = SendResult(False, row["channel"], "provider_error")
            await _record(row, result, now, report)
    return report


# ------------------------------------------------------------------ scanned events


def _local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(get_settings().tz).date()


async def emit_missed_meals_alone(*, now: dt.datetime | None = None) -> int:
    """A regular who lives alone has missed meals on the district's last N serving days
    (N = ``missed_meal_days``, default 2), today included: one event per elder and day."""
    now = now or utcnow()
    today = _local_today(now)
    out = 0
    todays = await Alert.select(Alert.elder, Alert.district, Alert.slot).where(
        (Alert.kind == "missed_meal") & (Alert.service_date == today)
    )
    by_district: dict[int, dict[int, str]] = defaultdict(dict)
    for a in todays:
        by_district[int(a["district"])].setdefault(int(a["elder"]), a["slot"])
    for district_id, elders in by_district.items():
        n = int((await _settings_row(district_id))["missed_meal_days"])
        alone = {
            int(e["id"])
            for e in await Elder.select(Elder.id).where(
                any_of(Elder.id, list(elders)) & (Elder.living_situation == "alone")
            )
        } | {
            int(c["elder"])
            for c in await ElderCategory.select(ElderCategory.elder).where(
                any_of(ElderCategory.elder, list(elders))
                & (ElderCategory.code == "living_alone")
                & (ElderCategory.valid_from <= today)
                & (ElderCategory.valid_until.is_null() | (ElderCategory.valid_until >= today))
            )
        }
        if not alone:
            continue
        # Serving days: today and the district's previous days with any meal.
        before = (
            [
                r["service_date"]
                for r in await Meal.select(Meal.service_date)
                .where((Meal.district == district_id) & (Meal.service_date < today))
                .distinct()
                .order_by(Meal.service_date, ascending=False)
                .limit(max(n - 1, 0))
            ]
            if n > 1
            else []
        )
        days = [today, *before]
        if len(days) < n:
            continue
        missed: dict[int, set[dt.date]] = defaultdict(set)
        for a in await Alert.select(Alert.elder, Alert.service_date).where(
            any_of(Alert.elder, sorted(alone))
            & (Alert.kind == "missed_meal")
            & Alert.service_date.is_in(days)
        ):
            missed[int(a["elder"])].add(a["service_date"])
        for elder_id in sorted(alone):
            if len(missed[elder_id]) < n:
                continue
            async with write_transaction():
                out += await emit(
                    "missed_meals_alone",
                    district_id=district_id,
                    elder_id=elder_id,
                    payload={"service_date": today.isoformat(), "slot": elders[elder_id], "days": n},
                    dedupe_key=f"missed_meals_alone:{elder_id}:{today.isoformat()}",
                    now=now,
                )
    return out


async def emit_low_balances(*, now: dt.datetime | None = None) -> int:
    """A balance that went below the district's threshold today (a meal's debit): one event per
    elder and day. A job, not a hook on the counter's hot path."""
    now = now or utcnow()
    today = _local_today(now)
    start = dt.datetime.combine(today, dt.time(0), get_settings().tz)
    out = 0
    low = await ElderBalance.select(
        ElderBalance.elder, ElderBalance.balance_fen, ElderBalance.elder.district.as_alias("district")
    ).where((ElderBalance.updated_at >= start) & (ElderBalance.balance_fen < 1_000_000))
    thresholds: dict[int, int] = {}
    for r in low:
        d = int(r["district"])
        if d not in thresholds:
            thresholds[d] = int((await _settings_row(d))["low_balance_fen"])
        if int(r["balance_fen"]) >= thresholds[d]:
            continue
        async with write_transaction():
            out += await emit(
                "low_balance",
                district_id=d,
                elder_id=int(r["elder"]),
                payload={"balance_fen": int(r["balance_fen"]), "threshold_fen": thresholds[d]},
                dedupe_key=f"low_balance:{r['elder']}:{today.isoformat()}",
                now=now,
            )
    return out


class NotifyRunReport(msgspec.Struct):
    missed_meals_alone: int
    low_balance: int
    fanned_out: int
    dispatch: DispatchReport


async def run_notifications(
    *, now: dt.datetime | None = None, providers: Providers | None = None, settings: Settings | None = None
) -> NotifyRunReport:
    """One round of the notification job: scan, fan out, send what is due."""
    now = now or utcnow()
    missed = await emit_missed_meals_alone(now=now)
    low = await emit_low_balances(now=now)
    fanned = await fan_out(now=now)
    sent = await dispatch(now=now, providers=providers, settings=settings)
    return NotifyRunReport(missed, low, fanned, sent)


# ------------------------------------------------------------------ views


class NotificationView(msgspec.Struct):
    id: int
    event_id: int
    kind: str
    district_id: int
    elder_id: int | None
    elder_name: str
    recipient_kind: str
    recipient_name: str
    channel: str
    address_masked: str
    status: str
    urgent: bool
    attempts: int
    last_error: str
    provider: str
    text: str
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    created_at: dt.datetime


class NotificationList(msgspec.Struct):
    items: list[NotificationView]
    next_cursor: str | None = None


async def _views(where: Any, limit: int) -> list[NotificationView]:
    rows = await Notification.select().where(where).order_by(Notification.id, ascending=False).limit(limit)
    names = {
        int(e["id"]): e["name"]
        for e in await Elder.select(Elder.id, Elder.name).where(
            any_of(Elder.id, sorted({int(r["elder"]) for r in rows if r["elder"] is not None}) or [-1])
        )
    }
    return [
        NotificationView(
            id=r["id"],
            event_id=r["event"],
            kind=r["kind"],
            district_id=r["district"],
            elder_id=r["elder"],
            elder_name=names.get(r["elder"], "") if r["elder"] is not None else "",
            recipient_kind=r["recipient_kind"],
            recipient_name=r["recipient_name"],
            channel=r["channel"],
            address_masked=mask_address(r["channel"], r["address"]),
            status=r["status"],
            urgent=r["urgent"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            provider=r["provider"],
            text=r["text"],
            next_attempt_at=r["next_attempt_at"],
            sent_at=r["sent_at"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


async def list_notifications(
    actor: Principal,
    district_id: int,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> NotificationList:
    """The district's notifications, newest first (officials of the district)."""
    _check_district(actor, district_id)
    if status is not None and status not in STATUSES:
        raise DomainError("validation_failed", {"field": "status"})
    if kind is not None and kind not in rules.ROUTING:
        raise DomainError("validation_failed", {"field": "kind"})
    where: Any = Notification.district == district_id
    if status:
        where &= Notification.status == status
    if kind:
        where &= Notification.kind == kind
    if cursor is not None:
        where &= Notification.id < cursor
    items = await _views(where, limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return NotificationList(items=items, next_cursor=str(items[-1].id) if more and items else None)


async def elder_notifications(actor: Principal, elder_id: int, *, limit: int = 10) -> list[NotificationView]:
    """The elder's recent notifications, for the profile (the district's officials)."""
    row = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
    if row is None:
        raise DomainError("not_found", {"elder_id": elder_id})
    if not actor.can_district(int(row["district"])):
        raise DomainError("forbidden", {"elder_id": elder_id})
    return await _views(Notification.elder == elder_id, limit)


def words(lang: str) -> dict[str, Any]:
    """Label functions for pages: event, status, channel, recipient and error in words."""
    return {
        "kind_label": lambda c: gettext(lang, f"notify.kind.{c}"),
        "status_label": lambda c: gettext(lang, f"notify.status.{c}"),
        "channel_label": lambda c: gettext(lang, f"notify.channel.{c}"),
        "recipient_label": lambda c: gettext(lang, f"notify.recipient.{c}"),
        "error_label": lambda c: gettext(lang, f"notify.error.{c}") if c else "",
        "provider_label": lambda c: gettext(lang, f"notify.provider.{c}") if c else "",
    }
