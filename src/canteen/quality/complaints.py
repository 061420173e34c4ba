"""Complaints about a meal point (投诉): filed by an elder or a family member on the elder pages, or
by staff on their behalf; replied to by the point's operator or the district official.

Status moves only along ``TRANSITIONS`` (one table, like the order state machine)::

    open → in_progress | replied | closed
    in_progress → replied | closed
    replied → in_progress | closed      (the complainant is not satisfied: work on it again)
    closed → (nothing)

A reply moves the complaint to ``replied`` (from open, in_progress or replied; a closed one
refuses with ``complaint_bad_transition``). Every status change and reply is audited.

Scope: elders and family see only their own elders' complaints; operators the complaints of
their points; officials every complaint of their district; anything else is ``not_found``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from canteen.accounts.roles import OFFICIAL, OPERATOR, Principal
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.orders.actors import ElderPrincipal, ledger_actor
from canteen.quality.schemas import ComplaintList, ComplaintView, ReplyView
from canteen.quality.tables import Complaint, ComplaintReply
from canteen.regions.tables import Site
from canteen.registry.tables import Elder

register("complaint_bad_transition", 409)

CATEGORIES = ("food", "hygiene", "service", "delivery", "price", "other")
STATUSES = ("open", "in_progress", "replied", "closed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "replied", "closed"}),
    "in_progress": frozenset({"replied", "closed"}),
    "replied": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}
# Not yet answered: what "open" counts in the viability report.
UNANSWERED = ("open", "in_progress")


def can_move(current: str, target: str) -> bool:
    """Pure: whether a complaint may go from ``current`` to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _views(rows: list[dict[str, Any]], now: dt.datetime) -> list[ComplaintView]:
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    replies = await (
        ComplaintReply.select().where(ComplaintReply.complaint.is_in(ids)).order_by(ComplaintReply.at)
    )
    by: dict[int, list[ReplyView]] = {}
    for r in replies:
        by.setdefault(int(r["complaint"]), []).append(
            ReplyView(id=int(r["id"]), text=r["text"], author_role=r["author_role"], at=r["at"].isoformat())
        )
    site_ids = sorted({int(r["site"]) for r in rows})
    names = {s["id"]: s["name"] for s in await Site.select(Site.id, Site.name).where(Site.id.is_in(site_ids))}
    return [
        ComplaintView(
            id=int(r["id"]),
            site_id=int(r["site"]),
            site_name=names.get(r["site"], ""),
            district_id=int(r["district"]),
            elder_id=r["elder"],
            category=r["category"],
            text=r["text"],
            status=r["status"],
            filed_by_kind=r["filed_by_kind"],
            filed_at=r["filed_at"].isoformat(),
            first_reply_at=_iso(r["first_reply_at"]),
            closed_at=_iso(r["closed_at"]),
            age_days=max(0, ((r["closed_at"] or now) - r["filed_at"]).days),
            replies=by.get(int(r["id"]), []),
        )
        for r in rows
    ]


def _staff_may(actor: Principal, row: dict[str, Any]) -> bool:
    return actor.can_site(int(row["site"]), int(row["district"]), OPERATOR, OFFICIAL)


async def _load(actor: Principal | ElderPrincipal, complaint_id: int) -> dict[str, Any]:
    row = await Complaint.select().where(Complaint.id == complaint_id).first()
    if row is None:
        raise DomainError("not_found", {"complaint_id": complaint_id})
    if isinstance(actor, ElderPrincipal):
        if row["elder"] is None or row["elder"] not in actor.elder_ids:
            raise DomainError("not_found", {"complaint_id": complaint_id})
    elif not _staff_may(actor, row):
        raise DomainError("not_found", {"complaint_id": complaint_id})
    return row


async def file_complaint(
    actor: Principal | ElderPrincipal,
    site_id: int,
    category: str,
    text: str,
    *,
    elder_id: int | None = None,
    now: dt.datetime | None = None,
) -> ComplaintView:
    """File a complaint about a meal point. Elders and family file for one of their elders about
    a point of the elder's district; staff (operator of the point, district official) on an
    elder's behalf (the elder optional, e.g. a phone call without a name)."""
    now = now or utcnow()
    text = (text or "").strip()
    if category not in CATEGORIES:
        raise DomainError("validation_failed", {"field": "category"})
    if not 2 <= len(text) <= 500:
        raise DomainError("validation_failed", {"field": "text", "max_length": 500})
    site = (
        await Site.select(Site.id, Site.district)
        .where((Site.id == site_id) & (Site.kind == "meal_point"))
        .first()
    )
    if site is None:
        raise DomainError("not_found", {"site_id": site_id})
    if isinstance(actor, ElderPrincipal):
        if elder_id is None or elder_id not in actor.elder_ids:
            raise DomainError("not_found", {"elder_id": elder_id})
        kind, by_id = actor.kind, actor.account_id
    else:
        if not actor.can_site(site_id, site["district"], OPERATOR, OFFICIAL):
            raise DomainError("not_found", {"site_id": site_id})
        kind, by_id = "staff", actor.user_id
    if elder_id is not None:
        elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
        if elder is None or elder["district"] != site["district"]:
            raise DomainError("not_found", {"elder_id": elder_id})
    async with write_transaction():
        rows = await Complaint.insert(
            Complaint(
                site=site_id,
                district=site["district"],
                elder=elder_id,
                category=category,
                text=text,
                status="open",
                filed_by_kind=kind,
                filed_by_id=by_id,
                filed_at=now,
                updated_at=now,
            )
        ).returning(Complaint.id)
        cid = int(rows[0]["id"])
        await audit.record(
            ledger_actor(actor),
            "complaint.file",
            "complaint",
            cid,
            after={"site": site_id, "category": category, "elder": elder_id, "status": "open"},
            district_id=site["district"],
            now=now,
        )
    row = await Complaint.select().where(Complaint.id == cid).first()
    assert row is not None
    return (await _views([row], now))[0]


async def set_status(
    actor: Principal, complaint_id: int, status: str, *, now: dt.datetime | None = None
) -> ComplaintView:
    """Move a complaint along ``TRANSITIONS`` (operator of the point or district official)."""
    now = now or utcnow()
    async with write_transaction():
        row = await _load(actor, complaint_id)
        if not can_move(row["status"], status):
            raise DomainError(
                "complaint_bad_transition",
                {"complaint_id": complaint_id, "from": row["status"], "to": status},
            )
        await Complaint.update(
            {
                Complaint.status: status,
                Complaint.updated_at: now,
                Complaint.closed_at: now if status == "closed" else None,
            }
        ).where((Complaint.id == complaint_id) & (Complaint.status == row["status"]))
        await audit.record(
            actor,
            "complaint.status",
            "complaint",
            complaint_id,
            before={"status": row["status"]},
            after={"status": status},
            district_id=int(row["district"]),
            now=now,
        )
    fresh = await Complaint.select().where(Complaint.id == complaint_id).first()
    assert fresh is not None
    return (await _views([fresh], now))[0]


async def reply(
    actor: Principal, complaint_id: int, text: str, *, now: dt.datetime | None = None
) -> ComplaintView:
    """Reply to a complaint (operator of the point or district official): the complainant sees it
    on the elder pages; the complaint becomes ``replied``."""
    now = now or utcnow()
    text = (text or "").strip()
    if not 2 <= len(text) <= 500:
        raise DomainError("validation_failed", {"field": "text", "max_length": 500})
    async with write_transaction():
        row = await _load(actor, complaint_id)
        if row["status"] == "closed":
            raise DomainError(
                "complaint_bad_transition", {"complaint_id": complaint_id, "from": "closed", "to": "replied"}
            )
        role = (
            "admin"
            if actor.is_admin
            else "official"
            if actor.can_district(int(row["district"]))
            else "operator"
        )
        await ComplaintReply.insert(
            ComplaintReply(
                complaint=complaint_id, text=text, author_id=actor.user_id, author_role=role, at=now
            )
        )
        await Complaint.update(
            {
                Complaint.status: "replied",
                Complaint.updated_at: now,
                Complaint.first_reply_at: row["first_reply_at"] or now,
            }
        ).where(Complaint.id == complaint_id)
        await audit.record(
            actor,
            "complaint.reply",
            "complaint",
            complaint_id,
            before={"status": row["status"]},
            after={"status": "replied"},
            district_id=int(row["district"]),
            note=text[:200],
            now=now,
        )
    fresh = await Complaint.select().where(Complaint.id == complaint_id).first()
    assert fresh is not None
    return (await _views([fresh], now))[0]


async def get_complaint(
    actor: Principal | ElderPrincipal, complaint_id: int, *, now: dt.datetime | None = None
) -> ComplaintView:
    """One complaint with its replies, if the actor may see it (else ``not_found``)."""
    row = await _load(actor, complaint_id)
    return (await _views([row], now or utcnow()))[0]


async def for_elder(who: ElderPrincipal, elder_id: int, *, now: dt.datetime | None = None) -> ComplaintList:
    """An elder's own complaints, newest first, with the replies."""
    if elder_id not in who.elder_ids:
        raise DomainError("not_found", {"elder_id": elder_id})
    rows = await Complaint.select().where(Complaint.elder == elder_id).order_by(Complaint.id, ascending=False)
    return ComplaintList(items=await _views(rows, now or utcnow()))


async def for_staff(
    actor: Principal,
    *,
    district_id: int | None = None,
    status: str | None = None,
    now: dt.datetime | None = None,
) -> ComplaintList:
    """The complaints a member of staff may see: officials their district(s), operators their
    points; ``district_id`` and ``status`` narrow. Oldest unanswered first."""
    q = Complaint.select()
    if not actor.is_admin:
        districts = set(actor.district_ids(OFFICIAL))
        sites = set(actor.site_ids(OPERATOR))
        if (
            district_id is not None
            and district_id not in districts
            and not any(actor.site_districts.get(s) == district_id for s in sites)
        ):
            raise DomainError("not_found", {"district_id": district_id})
        cond: Any = None
        if districts:
            cond = Complaint.district.is_in(sorted(districts))
        if sites:
            c2 = Complaint.site.is_in(sorted(sites))
            cond = c2 if cond is None else (cond | c2)
        if cond is None:
            return ComplaintList(items=[])
        q = q.where(cond)
    if district_id is not None:
        q = q.where(Complaint.district == district_id)
    if status is not None:
        if status not in STATUSES:
            raise DomainError("validation_failed", {"field": "status"})
        q = q.where(Complaint.status == status)
    rows = await q.order_by(Complaint.filed_at)
    order = {s: i for i, s in enumerate(("open", "in_progress", "replied", "closed"))}
    rows.sort(key=lambda r: (order[r["status"]], r["filed_at"]))
    return ComplaintList(items=await _views(rows, now or utcnow()))


async def stats_unchecked(
    district_id: int, first: dt.datetime, last: dt.datetime, site_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Per point: complaints filed in [first, last), how many of them are still unanswered, and
    the mean days from filing to the first reply (of those replied). No actor check."""
    rows = await Complaint.select(
        Complaint.site, Complaint.status, Complaint.filed_at, Complaint.first_reply_at
    ).where((Complaint.district == district_id) & (Complaint.filed_at >= first) & (Complaint.filed_at < last))
    wanted = set(site_ids) if site_ids is not None else None
    out: dict[int, dict[str, Any]] = {}
    waits: dict[int, list[float]] = {}
    for r in rows:
        s = int(r["site"])
        if wanted is not None and s not in wanted:
            continue
        st = out.setdefault(s, {"filed": 0, "open": 0, "mean_days_to_reply": None})
        st["filed"] += 1
        if r["status"] in UNANSWERED:
            st["open"] += 1
        if r["first_reply_at"] is not None:
            waits.setdefault(s, []).append((r["first_reply_at"] - r["filed_at"]).total_seconds() / 86400)
    for s, w in waits.items():
        out[s]["mean_days_to_reply"] = round(sum(w) / len(w), 2)
    return out
