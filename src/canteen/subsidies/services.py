"""The policy store and quotes: versioned district policies in the database, priced meals.

A policy is created as a **draft** (validated, version = max + 1 in the
district), then **published** (its ``document`` JSON is never written again),
and finally **retired**. Publishing checks that no two published versions of a
district share a day: an open-ended published version that took effect
before the new one is closed the day before it (the closing date lives in the
row's ``effective_until`` column, audited; the stored document keeps its
original text, and the column wins when the store hands the policy out), any
other overlap is ``policy_overlap``.

Scope: the admin and the officials of a district may write its policies;
anyone whose districts include it (officials, and site staff through their
sites) may read them; others get ``not_found``.

A city publishes its base policy the same way (an owner is a district or a
city, one code path for both): the admin and the city's ``city_official`` write
it; they and everyone who may read a district of the city read it.
:func:`policy_for` hands out the effective policy of a district: its own
version folded with the city base in force (``rules.effective_policy``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Max

from canteen.accounts.roles import ADMIN, CITY_OFFICIAL, OFFICIAL, Principal
from canteen.core import audit
from canteen.core.audit import Actor
from canteen.core.cache import TTLCache, invalidate
from canteen.core.categories import Category
from canteen.core.clock import utcnow
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.regions.tables import City, District
from canteen.subsidies import rules
from canteen.subsidies.schemas import DEFAULT_MEAL_TYPE, CategoryGrant, ElderFacts, Policy, Quote, Usage
from canteen.subsidies.tables import SubsidyPolicy

register("policy_not_draft", 409)
register("policy_already_retired", 409)

DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
DISTRICT, CITY = "district", "city"
# Who owns a version: ("district", id) or ("city", id).
Owner = tuple[str, int]


# --------------------------------------------------------------------- Structs


class PolicyView(msgspec.Struct, kw_only=True):
    """One stored version. ``effective_until`` is the row's (a later version may have closed
    an open-ended one); ``document`` is the policy as validated, with that date applied."""

    id: int
    district_id: int | None
    version: int
    name: str
    status: str
    effective_from: dt.date
    effective_until: dt.date | None
    created_at: dt.datetime
    published_at: dt.datetime | None
    document: Policy
    city_id: int | None = None


class PolicyList(msgspec.Struct, kw_only=True):
    items: list[PolicyView]
    next_cursor: str | None = None


class PreviewRow(msgspec.Struct, kw_only=True):
    """One sample elder in the policy editor's preview, with their quote."""

    key: str
    label_zh: str
    label_en: str
    quote: Quote


# ----------------------------------------------------------------------- scope


def _require_writer(actor: Principal, owner: Owner) -> None:
    kind, owner_id = owner
    if kind == CITY:
        if not actor.has_role(ADMIN, CITY_OFFICIAL):
            raise DomainError("forbidden", {"needs_role": [ADMIN, CITY_OFFICIAL]})
        if not actor.can_city(owner_id):
            raise DomainError("not_found", {"city_id": owner_id})
        return
    if not actor.has_role(ADMIN, OFFICIAL):
        raise DomainError("forbidden", {"needs_role": [ADMIN, OFFICIAL]})
    if not actor.can_district(owner_id):
        raise DomainError("not_found", {"district_id": owner_id})


async def _city_districts(city_id: int) -> set[int]:
    rows = await District.select(District.id).where(District.city_id == city_id)
    return {int(r["id"]) for r in rows}


async def _require_reader(actor: Principal, owner: Owner) -> None:
    kind, owner_id = owner
    visible = actor.visible_district_ids()
    if kind == CITY:
        # The city's officials, and whoever reads a district of the city (its top-up sits on
        # this base).
        if visible is None or actor.can_city(owner_id):
            return
        if visible & await _city_districts(owner_id):
            return
        raise DomainError("not_found", {"city_id": owner_id})
    if visible is not None and owner_id not in visible:
        raise DomainError("not_found", {"district_id": owner_id})


def _owner_of(row: dict[str, Any]) -> Owner:
    if row.get("city") is not None:
        return (CITY, int(row["city"]))
    return (DISTRICT, int(row["district"]))


def _owner_column(owner: Owner) -> Any:
    return SubsidyPolicy.city if owner[0] == CITY else SubsidyPolicy.district


async def _owner_exists(owner: Owner) -> bool:
    table = City if owner[0] == CITY else District
    return bool(await table.exists().where(table.id == owner[1]))


def _audit_district(owner: Owner) -> int | None:
    return owner[1] if owner[0] == DISTRICT else None


_COLUMNS = (
    SubsidyPolicy.id,
    SubsidyPolicy.district,
    SubsidyPolicy.city,
    SubsidyPolicy.version,
    SubsidyPolicy.name,
    SubsidyPolicy.status,
    SubsidyPolicy.effective_from,
    SubsidyPolicy.effective_until,
    SubsidyPolicy.created_at,
    SubsidyPolicy.published_at,
    SubsidyPolicy.document,
)


def _document(row: dict[str, Any]) -> Policy:
    raw = row["document"]
    doc = (
        msgspec.json.decode(raw, type=Policy)
        if isinstance(raw, str | bytes)
        else msgspec.convert(raw, Policy)
    )
    if doc.effective_until != row["effective_until"]:
        doc = msgspec.structs.replace(doc, effective_until=row["effective_until"])
    return doc


def _stored(doc: Policy) -> dict[str, Any]:
    """The document as stored: the runtime-only ``city_base`` never is."""
    out: dict[str, Any] = msgspec.to_builtins(doc)
    out.pop("city_base", None)
    if out.get("city_id") is None:
        out.pop("city_id", None)
    return out


def _view(row: dict[str, Any]) -> PolicyView:
    return PolicyView(
        id=row["id"],
        district_id=row["district"],
        city_id=row.get("city"),
        version=row["version"],
        name=row["name"],
        status=row["status"],
        effective_from=row["effective_from"],
        effective_until=row["effective_until"],
        created_at=row["created_at"],
        published_at=row["published_at"],
        document=_document(row),
    )


async def _row(policy_id: int) -> dict[str, Any]:
    row = await SubsidyPolicy.select(*_COLUMNS).where(SubsidyPolicy.id == policy_id).first()
    if row is None:
        raise DomainError("not_found", {"policy_id": policy_id})
    return row


# ---------------------------------------------------------------------- writes


async def create_policy(
    actor: Actor, district_id: int, policy_doc: Policy, *, now: dt.datetime | None = None
) -> PolicyView:
    """Store a new draft version of a district's policy.

    The document's ``district_id`` and ``version`` are set by the store
    (version = highest in the district + 1); ``validate_policy`` runs first,
    so a policy with shares not adding up to 100, unknown categories or a bad
    tier is refused with the pure layer's code and nothing is written.
    """
    return await _create(actor, (DISTRICT, district_id), policy_doc, now=now)


async def create_city_policy(
    actor: Actor, city_id: int, policy_doc: Policy, *, now: dt.datetime | None = None
) -> PolicyView:
    """Store a new draft version of a city's base policy (the same document and rules as a
    district's; ``city_id`` and ``version`` set by the store, version = highest in the city
    + 1). Writers: the admin and the city's ``city_official``."""
    return await _create(actor, (CITY, city_id), policy_doc, now=now)


async def _create(actor: Actor, owner: Owner, policy_doc: Policy, *, now: dt.datetime | None) -> PolicyView:
    now = now or utcnow()
    kind, owner_id = owner
    if isinstance(actor, Principal):
        _require_writer(actor, owner)
    async with write_transaction():
        if not await _owner_exists(owner):
            raise DomainError("not_found", {f"{kind}_id": owner_id})
        top = (
            await SubsidyPolicy.select(Max(SubsidyPolicy.version).as_alias("top"))
            .where(_owner_column(owner) == owner_id)
            .first()
        )
        version = int((top or {}).get("top") or 0) + 1
        doc = msgspec.structs.replace(
            policy_doc,
            district_id=owner_id if kind == DISTRICT else None,
            city_id=owner_id if kind == CITY else None,
            version=version,
            city_base=None,
        )
        rules.validate_policy(doc)
        document = _stored(doc)
        rows = await SubsidyPolicy.insert(
            SubsidyPolicy(
                district=owner_id if kind == DISTRICT else None,
                city=owner_id if kind == CITY else None,
                version=version,
                name=doc.name[:100],
                effective_from=doc.effective_from,
                effective_until=doc.effective_until,
                document=document,
                status=DRAFT,
                created_at=now,
                created_by=actor.user_id,
            )
        ).returning(SubsidyPolicy.id)
        policy_id = int(rows[0]["id"])
        await audit.record(
            actor,
            "policy.create",
            "subsidy_policy",
            policy_id,
            after=document,
            district_id=_audit_district(owner),
            now=now,
        )
        return _view(await _row(policy_id))


async def publish_policy(actor: Actor, policy_id: int, *, now: dt.datetime | None = None) -> PolicyView:
    """Publish a draft: from now on its document is immutable and quotes may use it.

    An open-ended published version that took effect before this one is
    closed the day before this one starts; any other overlap with a published
    version of the district is ``policy_overlap`` (409) and nothing changes.
    """
    now = now or utcnow()
    async with write_transaction():
        row = await _row(policy_id)
        owner = _owner_of(row)
        if isinstance(actor, Principal):
            _require_writer(actor, owner)
        if row["status"] != DRAFT:
            raise DomainError("policy_not_draft", {"policy_id": policy_id, "status": row["status"]})
        new_from: dt.date = row["effective_from"]
        new_until: dt.date | None = row["effective_until"]
        others = await SubsidyPolicy.select(
            SubsidyPolicy.id,
            SubsidyPolicy.version,
            SubsidyPolicy.effective_from,
            SubsidyPolicy.effective_until,
        ).where((_owner_column(owner) == owner[1]) & (SubsidyPolicy.status == PUBLISHED))
        closing = [o for o in others if o["effective_until"] is None and o["effective_from"] < new_from]
        closed_until = new_from - dt.timedelta(days=1)
        ranges = [
            (o["effective_from"], closed_until if o in closing else o["effective_until"]) for o in others
        ]
        rules.check_no_overlap(ranges, (new_from, new_until))
        for o in closing:
            await SubsidyPolicy.update({SubsidyPolicy.effective_until: closed_until}).where(
                SubsidyPolicy.id == o["id"]
            )
            await audit.record(
                actor,
                "policy.close",
                "subsidy_policy",
                o["id"],
                before={"effective_until": None},
                after={"effective_until": closed_until.isoformat(), "superseded_by": policy_id},
                district_id=_audit_district(owner),
                now=now,
            )
        await SubsidyPolicy.update({SubsidyPolicy.status: PUBLISHED, SubsidyPolicy.published_at: now}).where(
            SubsidyPolicy.id == policy_id
        )
        await audit.record(
            actor,
            "policy.publish",
            "subsidy_policy",
            policy_id,
            before={"status": DRAFT},
            after={"status": PUBLISHED, "version": row["version"], "closed": [o["id"] for o in closing]},
            district_id=_audit_district(owner),
            now=now,
        )
        view = _view(await _row(policy_id))
    await forget_policies()
    return view


async def retire_policy(actor: Principal, policy_id: int, *, now: dt.datetime | None = None) -> PolicyView:
    """Retire a draft or a published version: quotes stop using it (meals already sold keep
    the version and quote they were sold at)."""
    now = now or utcnow()
    async with write_transaction():
        row = await _row(policy_id)
        owner = _owner_of(row)
        _require_writer(actor, owner)
        if row["status"] == RETIRED:
            raise DomainError("policy_already_retired", {"policy_id": policy_id})
        await SubsidyPolicy.update({SubsidyPolicy.status: RETIRED}).where(SubsidyPolicy.id == policy_id)
        await audit.record(
            actor,
            "policy.retire",
            "subsidy_policy",
            policy_id,
            before={"status": row["status"]},
            after={"status": RETIRED},
            district_id=_audit_district(owner),
            now=now,
        )
        view = _view(await _row(policy_id))
    await forget_policies()
    return view


# ----------------------------------------------------------------------- reads


async def list_policies(actor: Principal, district_id: int) -> PolicyList:
    """Every version of a district's policy, newest first."""
    return await _list(actor, (DISTRICT, district_id))


async def list_city_policies(actor: Principal, city_id: int) -> PolicyList:
    """Every version of a city's base policy, newest first (the city's officials and whoever
    reads a district of the city)."""
    return await _list(actor, (CITY, city_id))


async def _list(actor: Principal, owner: Owner) -> PolicyList:
    await _require_reader(actor, owner)
    if not await _owner_exists(owner):
        raise DomainError("not_found", {f"{owner[0]}_id": owner[1]})
    rows = await (
        SubsidyPolicy.select(*_COLUMNS)
        .where(_owner_column(owner) == owner[1])
        .order_by(SubsidyPolicy.version, ascending=False)
        .limit(200)
    )
    return PolicyList(items=[_view(r) for r in rows])


async def _require_visible(actor: Principal, owner: Owner, policy_id: int) -> None:
    try:
        await _require_reader(actor, owner)
    except DomainError:
        raise DomainError("not_found", {"policy_id": policy_id}) from None


async def get_policy(actor: Principal, policy_id: int) -> PolicyView:
    """One version, if the actor may see its district (or its city)."""
    row = await _row(policy_id)
    await _require_visible(actor, _owner_of(row), policy_id)
    return _view(row)


# The counter asks for the policy of (district, day) on every scan: keep the answer per
# process. Publish and retire evict every entry in every process (``forget_policies``: a city
# base is folded into each of its districts, so no narrower key is right); the TTL (60 s) is
# the bound only while Redis is away. Policies are published ahead of the day they take
# effect, so that window matters only for a same-day correction.
_CACHE: TTLCache[tuple[int, dt.date], Policy | None] = TTLCache("policies", ttl=60.0, maxsize=4096)


def clear_policy_cache() -> None:
    """Forget every cached answer of :func:`policy_for` in this process only."""
    _CACHE.clear()


async def forget_policies() -> None:
    """After a publish or a retire has committed: every process reads policies afresh."""
    await invalidate("policies")


async def policy_for(district_id: int, day: dt.date) -> Policy | None:
    """The effective policy of ``district_id`` on ``day`` (service-zone date), or None: the
    district's published version in force folded with its city's published base in force
    (``rules.effective_policy``: no base, the district's version itself; a base and no
    version of its own, the base alone, named as the district's)."""
    key = (district_id, day)
    hit, cached = _CACHE.get(key)
    if hit:
        return cached
    own = await _in_force((DISTRICT, district_id), day)
    base = await city_base_for(district_id, day)
    found = rules.effective_policy(base, own, district_id)
    _CACHE.set(key, found)
    return found


async def _in_force(owner: Owner, day: dt.date) -> Policy | None:
    rows = await SubsidyPolicy.select(*_COLUMNS).where(
        (_owner_column(owner) == owner[1])
        & (SubsidyPolicy.status == PUBLISHED)
        & (SubsidyPolicy.effective_from <= day)
    )
    return rules.policy_in_force((_document(r) for r in rows), day)


async def city_base_for(district_id: int, day: dt.date) -> Policy | None:
    """The published base policy in force on ``day`` of the city ``district_id`` belongs to
    (None: no city, or no base in force). Not scoped: the caller shows or prices it for a
    district it may read."""
    row = await District.select(District.city_id).where(District.id == district_id).first()
    city_id = (row or {}).get("city_id")
    if city_id is None:
        return None
    return await _in_force((CITY, int(city_id)), day)


# Quotes for a person at a site are assembled in canteen.meals.pricing (one assembly for all).


# ---------------------------------------------------------------------- preview

# The editor's sample elders: (key, zh, en, categories, age). Home street 1 = the site's.
SAMPLE_ELDERS: list[tuple[str, str, str, list[str], int | None]] = [
    ("tekun", "特困老人，78岁", "Tekun elder, 78", [Category.TEKUN.value], 78),
    ("dibao", "低保老人，75岁", "Dibao elder, 75", [Category.DIBAO.value], 75),
    ("disabled", "失能老人，82岁", "Disabled elder, 82", [Category.DISABLED.value], 82),
    ("age91", "高龄老人，91岁", "Elder aged 91", [], 91),
    ("plain65", "普通会员，65岁", "Member aged 65", [], 65),
    ("walk_in", "非会员（散客）", "Walk-in (not a member)", [], None),
]


# A city's base previewed alone is priced as the base of a district with no top-up; the
# preview is pure, so any district id will do.
_PREVIEW_DISTRICT = 1


def preview_quotes(
    policy: Policy,
    *,
    day: dt.date | None = None,
    list_price_fen: int = 1500,
    mode: str = "dine_in",
    meal_type: str = DEFAULT_MEAL_TYPE,
    base: Policy | None = None,
) -> list[PreviewRow]:
    """What each sample elder would pay for a lunch set of ``meal_type`` at ``list_price_fen``
    under ``policy``, and what each payer pays (pure: the draft need not be stored; ``day``
    defaults to the policy's first day). A district's draft is previewed on top of ``base``
    (the city base in force, if any: the quotes then carry the base part apart); a city's
    draft alone, as the base of a district with no top-up."""
    day = day or policy.effective_from
    alone = policy.city_id is not None and policy.district_id is None
    if alone:
        effective = rules.effective_policy(policy, None, _PREVIEW_DISTRICT)
    else:
        effective = rules.effective_policy(base, policy, policy.district_id or _PREVIEW_DISTRICT)
        if base is not None and effective is not None and not rules.in_force(effective, day):
            effective = policy  # the base does not cover the draft's first day
    assert effective is not None
    policy = effective
    out = []
    for key, zh, en, cats, age in SAMPLE_ELDERS:
        if age is None:
            facts = ElderFacts(member=False)
        else:
            try:
                birth = day.replace(year=day.year - age)
            except ValueError:  # 29 February
                birth = day.replace(year=day.year - age, day=28)
            facts = ElderFacts(
                member=True,
                birth_date=birth,
                categories=[CategoryGrant(code=c, valid_from=day) for c in cats],
                home_street_id=1,
                home_district_id=int(policy.district_id or _PREVIEW_DISTRICT),
            )
        q = rules.quote(
            elder=facts,
            list_price_fen=list_price_fen,
            slot="lunch",
            day=day,
            mode=mode,
            policy=policy,
            usage=Usage(),
            site_street_id=1,
            site_district_id=int(policy.district_id or _PREVIEW_DISTRICT),
            meal_type=meal_type,
        )
        if alone:  # the base previewed alone has no parts to tell apart
            q = msgspec.structs.replace(q, city_policy_version=None, base_subsidy_fen=None, base_funding=[])
        out.append(PreviewRow(key=key, label_zh=zh, label_en=en, quote=q))
    return out


async def latest_policy(actor: Principal, district_id: int, *, city: bool = False) -> PolicyView | None:
    """The newest version of a district's (``city``: a city's) policy, any status, to start
    an edit from."""
    items = (await _list(actor, (CITY if city else DISTRICT, district_id))).items
    return items[0] if items else None


async def city_choices(actor: Principal) -> list[tuple[int, str]]:
    """(id, name) of the cities whose base policies the actor may see."""
    query = City.select(City.id, City.name).order_by(City.id)
    visible = actor.visible_district_ids()
    if visible is not None:
        ids = set(actor.city_ids())
        if visible:
            rows = await District.select(District.city_id).where(District.id.is_in(sorted(visible)))
            ids |= {int(r["city_id"]) for r in rows if r["city_id"] is not None}
        if not ids:
            return []
        query = query.where(City.id.is_in(sorted(ids)))
    return [(int(r["id"]), str(r["name"])) for r in await query]


async def district_choices(actor: Principal) -> list[tuple[int, str]]:
    """(id, name) of the districts whose policies the actor may see."""
    query = District.select(District.id, District.name).order_by(District.id)
    visible = actor.visible_district_ids()
    if visible is not None:
        if not visible:
            return []
        query = query.where(District.id.is_in(sorted(visible)))
    return [(int(r["id"]), str(r["name"])) for r in await query]
