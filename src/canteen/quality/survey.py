"""Quarterly satisfaction survey (满意度测评) per meal point: 1–5 on taste, quantity, hygiene,
service and price, with an optional comment.

Answered by an elder (or their family member) on the elder pages, or entered by staff from paper
forms (the point's operator or the district official; the elder is optional there). One answer
per elder, point and quarter: a second answer in the same quarter **replaces** the first (the
elder changed their mind; the latest view is the one that counts), enforced by a partial unique
index on (elder, site, quarter). Paper forms without an elder are each counted.

Results per point and quarter: n, the mean per dimension and overall (mean of an answer's five
scores), the share satisfied (a score ≥ 4; overall: an answer whose own mean is ≥ 4), and beside
them the one-tap faces of the same quarter (``MealRating``: share happy / unhappy).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from canteen.accounts.roles import OFFICIAL, OPERATOR, Principal
from canteen.core import audit
from canteen.core.clock import local_date, utcnow
from canteen.core.db import UniqueViolation, write_transaction
from canteen.core.errors import DomainError, register
from canteen.orders.actors import ElderPrincipal, ledger_actor
from canteen.quality.schemas import DimensionResult, SurveyAnswerView, SurveyResults
from canteen.quality.tables import MealRating, SurveyAnswer
from canteen.regions.tables import Site
from canteen.registry.tables import Elder
from canteen.settings import get_settings

register("invalid_quarter", 422)

DIMENSIONS = ("taste", "quantity", "hygiene", "service", "price")
SATISFIED = 4
QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")


def quarter_of(day: dt.date) -> str:
    """2026-11-05 → "2026-Q4"."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a quarter "YYYY-Qn"; refuses anything else with ``invalid_quarter``."""
    m = QUARTER_RE.match(quarter or "")
    if not m:
        raise DomainError("invalid_quarter", {"field": "quarter", "value": (quarter or "")[:20]})
    year, q = int(m.group(1)), int(m.group(2))
    # A survey quarter of this service's lifetime: year 0000 (no such date) or 1994 is a typo.
    if not 2000 <= year <= 2099:
        raise DomainError("invalid_quarter", {"field": "quarter", "value": quarter[:20]})
    first = dt.date(year, 3 * q - 2, 1)
    last = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - dt.timedelta(days=1)
    return first, last


def shift_quarter(quarter: str, n: int) -> str:
    first, _ = quarter_bounds(quarter)
    index = first.year * 4 + (first.month - 1) // 3 + n
    return f"{index // 4}-Q{index % 4 + 1}"


def current_quarter(now: dt.datetime | None = None) -> str:
    return quarter_of(local_date(now or utcnow(), get_settings().tz))


def summarise(answers: Iterable[Mapping[str, int]]) -> dict[str, Any]:
    """Pure: n, mean and share satisfied per dimension and overall for a list of answers."""
    rows = list(answers)
    n = len(rows)
    out: dict[str, Any] = {"n": n, "dimensions": {}}
    for d in DIMENSIONS:
        scores = [int(r[d]) for r in rows]
        out["dimensions"][d] = {
            "mean": round(sum(scores) / n, 2) if n else None,
            "satisfied_share": round(sum(1 for s in scores if s >= SATISFIED) / n, 4) if n else None,
        }
    overall = [sum(int(r[d]) for d in DIMENSIONS) / len(DIMENSIONS) for r in rows]
    out["mean"] = round(sum(overall) / n, 2) if n else None
    out["satisfied_share"] = round(sum(1 for m in overall if m >= SATISFIED) / n, 4) if n else None
    return out


async def _site(site_id: int) -> dict[str, Any]:
    row = (
        await Site.select(Site.id, Site.name, Site.district, Site.kind)
        .where((Site.id == site_id) & (Site.kind == "meal_point"))
        .first()
    )
    if row is None:
        raise DomainError("not_found", {"site_id": site_id})
    return row


def _view(row: dict[str, Any]) -> SurveyAnswerView:
    return SurveyAnswerView(
        id=int(row["id"]),
        site_id=int(row["site"]),
        quarter=row["quarter"],
        elder_id=row["elder"],
        scores={d: int(row[d]) for d in DIMENSIONS},
        comment=row["comment"],
        source=row["source"],
        at=row["at"].isoformat(),
    )


async def answer_survey(
    actor: Principal | ElderPrincipal,
    site_id: int,
    scores: Mapping[str, int],
    *,
    comment: str = "",
    elder_id: int | None = None,
    quarter: str | None = None,
    now: dt.datetime | None = None,
) -> SurveyAnswerView:
    """Record one survey answer for a point and quarter (default: the current quarter).

    An elder or family member answers for an elder of theirs about a meal point of the elder's
    district; staff (the point's operator or the district official) enter paper forms, with the
    elder optional. A second answer by the same elder for the same point and quarter replaces
    the first. Out-of-scope points or elders are ``not_found``."""
    now = now or utcnow()
    quarter = quarter or current_quarter(now)
    quarter_bounds(quarter)
    for d in DIMENSIONS:
        value = scores.get(d)
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise DomainError("validation_failed", {"field": d, "message": "1–5"})
    site = await _site(site_id)
    if isinstance(actor, ElderPrincipal):
        if elder_id is None or elder_id not in actor.elder_ids:
            raise DomainError("not_found", {"elder_id": elder_id})
        source = actor.kind
        entered_by = None
    else:
        if not actor.can_site(site_id, site["district"], OPERATOR, OFFICIAL):
            raise DomainError("not_found", {"site_id": site_id})
        source = "paper"
        entered_by = actor.user_id
    if elder_id is not None:
        elder = await Elder.select(Elder.district).where(Elder.id == elder_id).first()
        # An elder answers only about points of their own district (where they may eat).
        if elder is None or elder["district"] != site["district"]:
            raise DomainError("not_found", {"elder_id": elder_id})
    values = {d: int(scores[d]) for d in DIMENSIONS}
    comment = (comment or "").strip()[:300]
    for attempt in (0, 1):
        try:
            async with write_transaction():
                existing = None
                if elder_id is not None:
                    existing = (
                        await SurveyAnswer.select()
                        .where(
                            (SurveyAnswer.elder == elder_id)
                            & (SurveyAnswer.site == site_id)
                            & (SurveyAnswer.quarter == quarter)
                        )
                        .first()
                    )
                if existing:
                    await SurveyAnswer.update(
                        {
                            **{getattr(SurveyAnswer, d): v for d, v in values.items()},
                            SurveyAnswer.comment: comment,
                            SurveyAnswer.source: source,
                            SurveyAnswer.entered_by: entered_by,
                            SurveyAnswer.at: now,
                        }
                    ).where(SurveyAnswer.id == existing["id"])
                    answer_id = int(existing["id"])
                    action = "survey.replace"
                else:
                    rows = await SurveyAnswer.insert(
                        SurveyAnswer(
                            site=site_id,
                            district=site["district"],
                            quarter=quarter,
                            elder=elder_id,
                            comment=comment,
                            source=source,
                            entered_by=entered_by,
                            at=now,
                            taste=values["taste"],
                            quantity=values["quantity"],
                            hygiene=values["hygiene"],
                            service=values["service"],
                            price=values["price"],
                        )
                    ).returning(SurveyAnswer.id)
                    answer_id = int(rows[0]["id"])
                    action = "survey.answer"
                await audit.record(
                    ledger_actor(actor),
                    action,
                    "survey_answer",
                    answer_id,
                    before={d: existing[d] for d in DIMENSIONS} if existing else None,
                    after={**values, "site": site_id, "quarter": quarter, "elder": elder_id},
                    district_id=site["district"],
                    now=now,
                )
            break
        except UniqueViolation:
            # Two answers at once from the same elder: the second one replaces the first.
            if attempt:
                raise
    row = await SurveyAnswer.select().where(SurveyAnswer.id == answer_id).first()
    assert row is not None
    return _view(row)


async def my_answer(
    who: ElderPrincipal, elder_id: int, site_id: int, quarter: str
) -> SurveyAnswerView | None:
    """The elder's own answer for this point and quarter, if any (to show it pre-filled)."""
    if elder_id not in who.elder_ids:
        raise DomainError("not_found", {"elder_id": elder_id})
    row = (
        await SurveyAnswer.select()
        .where(
            (SurveyAnswer.elder == elder_id)
            & (SurveyAnswer.site == site_id)
            & (SurveyAnswer.quarter == quarter)
        )
        .first()
    )
    return _view(row) if row else None


async def results_unchecked(
    district_id: int, quarter: str, site_ids: Iterable[int] | None = None
) -> dict[int, SurveyResults]:
    """Results of every point of a district (or the given ones) for a quarter; no actor check."""
    first, last = quarter_bounds(quarter)
    q = SurveyAnswer.select().where(
        (SurveyAnswer.district == district_id) & (SurveyAnswer.quarter == quarter)
    )
    answers = await q
    faces_q = MealRating.select(MealRating.site, MealRating.score).where(
        (MealRating.district == district_id)
        & (MealRating.service_date >= first)
        & (MealRating.service_date <= last)
    )
    faces = await faces_q
    wanted = set(site_ids) if site_ids is not None else None
    by_site: dict[int, list[dict[str, Any]]] = {}
    for a in answers:
        by_site.setdefault(int(a["site"]), []).append(a)
    face_site: dict[int, list[int]] = {}
    for f in faces:
        face_site.setdefault(int(f["site"]), []).append(int(f["score"]))
    sites = wanted if wanted is not None else set(by_site) | set(face_site)
    out: dict[int, SurveyResults] = {}
    for s in sites:
        summary = summarise(by_site.get(s, []))
        scores = face_site.get(s, [])
        out[s] = SurveyResults(
            site_id=s,
            quarter=quarter,
            n=summary["n"],
            mean=summary["mean"],
            satisfied_share=summary["satisfied_share"],
            dimensions=[
                DimensionResult(
                    dimension=d,
                    mean=summary["dimensions"][d]["mean"],
                    satisfied_share=summary["dimensions"][d]["satisfied_share"],
                )
                for d in DIMENSIONS
            ],
            faces_n=len(scores),
            faces_happy_share=round(sum(1 for x in scores if x == 3) / len(scores), 4) if scores else None,
            faces_unhappy_share=round(sum(1 for x in scores if x == 1) / len(scores), 4) if scores else None,
        )
    return out


async def site_results(actor: Principal, site_id: int, quarter: str) -> SurveyResults:
    """One point's survey results for a quarter: its operator, the district official, admins."""
    quarter_bounds(quarter)
    site = await _site(site_id)
    if not actor.can_site(site_id, site["district"], OPERATOR, OFFICIAL):
        raise DomainError("not_found", {"site_id": site_id})
    return (await results_unchecked(site["district"], quarter, [site_id]))[site_id]


async def district_results(actor: Principal, district_id: int, quarter: str) -> list[SurveyResults]:
    """Every meal point of the district for a quarter (officials; operators see their own points)."""
    quarter_bounds(quarter)
    sites = await Site.select(Site.id).where((Site.district == district_id) & (Site.kind == "meal_point"))
    ids = [int(s["id"]) for s in sites]
    if not actor.can_district(district_id):
        ids = [s for s in ids if actor.can_site(s, district_id, OPERATOR)]
        if not ids:
            raise DomainError("not_found", {"district_id": district_id})
    results = await results_unchecked(district_id, quarter, ids)
    return [results[s] for s in sorted(results)]
