"""Read-only search over the audit trail (the admin's audit page). Never writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from canteen.core.tables import AuditEntry

INT4_MAX = 2_147_483_647


class AuditRow(msgspec.Struct):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    district_id: int | None
    before: Any
    after: Any
    note: str
    request_id: str
    ip: str


class AuditPage(msgspec.Struct):
    items: list[AuditRow]
    next_cursor: int | None = None


async def search_audit(
    *,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> AuditPage:
    """Newest first. ``action`` is exact, or a prefix when it ends in "." (``site.``); ``actor``
    is a username; ``since``/``until`` bound ``at`` (until exclusive); ``before_id`` pages."""
    limit = max(1, min(limit, 200))
    query = (
        AuditEntry.select().order_by(AuditEntry.id, ascending=False).limit(limit + 1).output(load_json=True)
    )
    if action and action.endswith("."):
        # A prefix search; "_" stays a one-character wildcard (harmless among action names, and
        # LIKE escaping differs between the engines).
        query = query.where(AuditEntry.action.like(action.replace("%", "") + "%"))
    elif action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < min(before_id, INT4_MAX))
    rows = await query
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = int(rows[-1]["id"])
    return AuditPage([msgspec.convert(r, AuditRow) for r in rows], nxt)
