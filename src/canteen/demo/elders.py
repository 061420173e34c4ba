"""Demo elders for the demo district: ~300 invented people with categories, diets, a few
delivery grants and statuses other than active, and the PIN ``1357`` for everyone.

Idempotent: a district that already has elders is left alone. Called from
``canteen.demo.district.load_demo`` after ``load_district``.
"""

from __future__ import annotations

import datetime as dt
import random

from canteen.accounts.passwords import hash_password
from canteen.core import audit
from canteen.core.audit import SystemActor
from canteen.core.db import write_transaction
from canteen.demo.district import STREETS, DemoDistrict
from canteen.demo.people import GONGSHU_COMMUNITIES, GONGSHU_REGION, DemoCommunity, make_people
from canteen.registry import services as svc
from canteen.registry.importing import draft_fingerprint
from canteen.registry.tables import Elder, ElderCategory, ElderStatusEvent

DEMO_PIN = "1357"
DEMO_SEED = 20261123
_CHUNK = 200
_ROADS = {c.name: c.roads for c in GONGSHU_COMMUNITIES}
_DEFAULT_ROADS = ("湖墅南路", "大关路", "莫干山路")
_GRANT_REASONS = ("社工评估：行动不便，独自居住", "术后康复期，暂不便外出", "子女在外地，社区申请送餐")


def demo_communities(district: DemoDistrict) -> list[DemoCommunity]:
    """The demo district's communities with their database ids, centres and nearby roads."""
    out = []
    for street, comms in STREETS.items():
        for name, lat, lon in comms:
            if name in district.community_ids:
                roads = _ROADS.get(name, _DEFAULT_ROADS)
                out.append(DemoCommunity(district.community_ids[name], name, street, lat, lon, roads))
    return out


async def load_elders(
    district: DemoDistrict,
    *,
    today: dt.date,
    now: dt.datetime,
    n: int = 300,
    communities: list[DemoCommunity] | None = None,
    seed: int = DEMO_SEED,
    region: str = GONGSHU_REGION,
) -> int:
    """Create ``n`` demo elders in the demo district (or another one, with its ``communities``,
    ``seed`` and ID ``region``) unless it has elders already; returns how many."""
    if await Elder.exists().where(Elder.district == district.district_id):
        return 0
    rng = random.Random(seed)
    chosen = communities if communities is not None else demo_communities(district)
    people = make_people(n, chosen, seed=seed, today=today, region=region)
    pin_hash = hash_password(DEMO_PIN)  # argon2 is slow on purpose: hash once, share it
    cipher = svc.cipher()
    actor = SystemActor("demo-loader")
    async with write_transaction():
        for start in range(0, len(people), _CHUNK):
            chunk = list(enumerate(people[start : start + _CHUNK], start=start))
            elders = []
            for i, p in chunk:
                status = (
                    "deceased"
                    if i % 97 == 13
                    else "moved"
                    if i % 61 == 7
                    else "suspended"
                    if i % 43 == 5
                    else "active"
                )
                grant = i % 17 == 3
                elders.append(
                    Elder(
                        district=district.district_id,
                        community=p.community_id,
                        name=p.name,
                        gender=p.gender,
                        birth_date=p.birth_date,
                        national_id_enc=svc.encrypt_id(p.national_id),
                        national_id_masked=svc.mask_national_id(p.national_id),
                        national_id_hash=svc.id_hash(p.national_id),
                        id_last4=p.national_id[-4:],
                        phone=p.phone or "",
                        address=p.address or "",
                        lat=p.lat,
                        lon=p.lon,
                        living_situation=p.living_situation or "other",
                        diet=list(p.diet),
                        diet_note=p.diet_note or "",
                        allergies=p.allergies or "",
                        emergency_name=p.emergency_name or "",
                        emergency_phone=p.emergency_phone or "",
                        delivery_grant_reason=rng.choice(_GRANT_REASONS) if grant else "",
                        delivery_grant_until=today + dt.timedelta(days=rng.randint(30, 365))
                        if grant
                        else None,
                        status=status,
                        status_changed_at=now,
                        pin_hash=pin_hash,
                        import_fingerprint=draft_fingerprint(p, cipher=cipher),
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            rows = await Elder.insert(*elders).returning(Elder.id, Elder.national_id_hash)
            ids = {r["national_id_hash"]: int(r["id"]) for r in rows}
            categories = []
            events = []
            for (_, p), e in zip(chunk, elders, strict=True):
                elder_id = ids[e.national_id_hash]
                for c in p.categories:
                    start_day = today - dt.timedelta(days=rng.randint(30, 900))
                    if c.valid_until is not None and c.valid_until < start_day:
                        start_day = c.valid_until - dt.timedelta(days=365)
                    categories.append(
                        ElderCategory(
                            elder=elder_id,
                            code=c.code,
                            valid_from=start_day,
                            valid_until=c.valid_until,
                            created_at=now,
                        )
                    )
                events.append(ElderStatusEvent(elder=elder_id, status="active", reason="registered", at=now))
                if e.status != "active":
                    events.append(ElderStatusEvent(elder=elder_id, status=e.status, reason="demo", at=now))
            if categories:
                await ElderCategory.insert(*categories)
            await ElderStatusEvent.insert(*events)
        await audit.record(
            actor,
            "elder.demo_load",
            "district",
            district.district_id,
            district_id=district.district_id,
            after={"created": len(people)},
            now=now,
        )
    return len(people)
