"""Import and export of elder registers (the database part of ``canteen.registry.importing``).

An import is matched to the district's elders by the keyed hash of the ID number: a row
whose elder is not registered is created, one whose content changed (its draft
fingerprint differs from ``Elder.import_fingerprint``) is updated with an audit row, the
rest are left alone; so importing the same file twice changes nothing. Bad rows are
reported in words and skipped; everything else happens in one transaction, so an error
leaves nothing half-imported. Only an admin or an official of the district imports.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from canteen.accounts.roles import Principal
from canteen.core import audit
from canteen.core.clock import utcnow
from canteen.core.crypto import PiiDecryptError
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.kv import KV
from canteen.regions.tables import Community
from canteen.registry import services as svc
from canteen.registry.importing import (
    FIELD_LABELS,
    CategoryClaim,
    DryRun,
    ElderDraft,
    Problem,
    draft_fingerprint,
    export_rows,
    read_table,
    suggest_mapping,
    validate_rows,
    write_csv,
    write_xlsx,
)
from canteen.registry.schemas import ImportPreview, ImportProblem, ImportResult, ImportRow
from canteen.registry.tables import Elder, ElderCategory, ElderStatusEvent

register("import_mapping_invalid", 422)
register("import_columns_missing", 422)
register("import_upload_expired", 410)

# An uploaded sheet waits in the shared store between its steps (columns, check, commit).
# It holds ID numbers, so it is stored encrypted (the PII key, bound to this use), under a
# hash of the page's token, and only for as long as a person needs to map and check it.
UPLOAD_TTL = 15 * 60
_UPLOAD_CONTEXT = "registry.import_upload"


class PendingUpload(msgspec.Struct):
    user_id: int
    district_id: int
    filename: str
    data: bytes


def _upload_key(token: str) -> str:
    return "elder-import:" + hashlib.sha256(token.encode()).hexdigest()


async def stash_upload(kv: KV, upload: PendingUpload) -> str:
    """Keep an uploaded sheet for the next steps (encrypted, ``UPLOAD_TTL``); its token."""
    token = secrets.token_urlsafe(24)
    sealed = svc.cipher().encrypt(
        base64.b64encode(msgspec.msgpack.encode(upload)).decode("ascii"), context=_UPLOAD_CONTEXT
    )
    await kv.set(_upload_key(token), sealed.encode("ascii"), ttl=UPLOAD_TTL)
    return token


async def load_upload(kv: KV, actor: Principal, token: str) -> PendingUpload:
    """The sheet stashed under ``token`` by this user; ``import_upload_expired`` (410) otherwise."""
    raw = await kv.get(_upload_key(token))
    upload = None
    if raw is not None:
        try:
            plain = svc.cipher().decrypt(raw.decode("ascii"), context=_UPLOAD_CONTEXT)
            upload = msgspec.msgpack.decode(base64.b64decode(plain), type=PendingUpload)
        except (PiiDecryptError, ValueError, msgspec.DecodeError):
            upload = None  # another key or an altered entry: as good as gone
    if upload is None or upload.user_id != actor.user_id:
        raise DomainError("import_upload_expired")
    return upload


async def drop_upload(kv: KV, token: str) -> None:
    await kv.delete(_upload_key(token))


_CHUNK = 200  # rows per multi-row INSERT: well under SQLite's bound-parameter limit


@dataclass(slots=True)
class _Planned:
    row: int
    draft: ElderDraft
    id_hash: str
    fingerprint: str
    action: Literal["create", "update", "unchanged"]
    elder_id: int | None = None


@dataclass(slots=True)
class _Plan:
    headers: list[str]
    mapping: dict[str, int]
    dry: DryRun
    planned: list[_Planned]


def _problem(p: Problem) -> ImportProblem:
    return ImportProblem(row=p.row, field=p.field, code=p.code, message_zh=p.zh, message_en=p.en)


def _check_mapping(mapping: Mapping[str, int], width: int) -> dict[str, int]:
    for field, column in mapping.items():
        if field not in FIELD_LABELS or not 0 <= column < width:
            raise DomainError("import_mapping_invalid", {"field": field, "column": column})
    return dict(mapping)


async def _communities(district_id: int) -> dict[str, int]:
    rows = await Community.select(Community.id, Community.name).where(Community.district == district_id)
    return {r["name"]: int(r["id"]) for r in rows}


def _parse(
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None,
    communities: Mapping[str, int],
    today: dt.date,
) -> tuple[list[str], dict[str, int], DryRun]:
    table = read_table(filename, data)
    chosen = _check_mapping(mapping, len(table.headers)) if mapping else suggest_mapping(table.headers)
    dry = validate_rows(table, chosen, communities=communities, today=today)
    return table.headers, chosen, dry


async def _classify(district_id: int, dry: DryRun) -> list[_Planned]:
    cipher = svc.cipher()
    existing = {
        r["national_id_hash"]: (int(r["id"]), r["import_fingerprint"])
        for r in await Elder.select(Elder.id, Elder.national_id_hash, Elder.import_fingerprint).where(
            Elder.district == district_id
        )
    }
    planned = []
    for row, draft in dry.drafts:
        h = svc.id_hash(draft.national_id)
        fp = draft_fingerprint(draft, cipher=cipher)
        found = existing.get(h)
        if found is None:
            planned.append(_Planned(row, draft, h, fp, "create"))
        else:
            action: Literal["update", "unchanged"] = "unchanged" if found[1] == fp else "update"
            planned.append(_Planned(row, draft, h, fp, action, found[0]))
    return planned


async def _plan(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None,
    today: dt.date,
) -> _Plan:
    svc.writable_district(actor, district_id)
    communities = await _communities(district_id)
    headers, chosen, dry = _parse(filename, data, mapping, communities, today)
    return _Plan(headers, chosen, dry, await _classify(district_id, dry))


async def read_columns(
    actor: Principal, district_id: int, filename: str, data: bytes
) -> tuple[list[str], dict[str, int]]:
    """The file's headers and the guessed mapping (field → column), for the mapping step.
    Refuses files that are not spreadsheets, too large or empty, like the import itself."""
    svc.writable_district(actor, district_id)
    table = read_table(filename, data)
    return table.headers, suggest_mapping(table.headers)


async def dry_run(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None = None,
    *,
    today: dt.date | None = None,
) -> ImportPreview:
    """What importing this file would do: rows to create, update or leave, and each bad row's
    problems in words. ``mapping`` (field → column index) defaults to the guessed one."""
    today = today or svc.today_of(utcnow())
    plan = await _plan(actor, district_id, filename, data, mapping, today)
    by_row = {p.row: p for p in plan.planned}
    rows = []
    for r in plan.dry.rows:
        p = by_row.get(r.row)
        rows.append(ImportRow(row=r.row, action=p.action if p else "bad", name=p.draft.name if p else ""))
    return ImportPreview(
        filename=filename[:200],
        headers=plan.headers,
        mapping=plan.mapping,
        total_rows=len(plan.dry.rows),
        will_create=sum(p.action == "create" for p in plan.planned),
        will_update=sum(p.action == "update" for p in plan.planned),
        unchanged=sum(p.action == "unchanged" for p in plan.planned),
        bad_rows=plan.dry.bad_rows,
        problems=[_problem(p) for p in plan.dry.problems],
        warnings=[_problem(p) for p in plan.dry.warnings],
        rows=rows,
    )


def _values(draft: ElderDraft) -> dict[str, Any]:
    return {
        "name": draft.name,
        "gender": draft.gender,
        "birth_date": draft.birth_date,
        "community": draft.community_id,
        "phone": draft.phone or "",
        "address": draft.address or "",
        "living_situation": draft.living_situation or "other",
        "diet": list(draft.diet),
        "diet_note": draft.diet_note or "",
        "allergies": draft.allergies or "",
        "emergency_name": draft.emergency_name or "",
        "emergency_phone": draft.emergency_phone or "",
        "lat": draft.lat,
        "lon": draft.lon,
    }


def _categories(
    claims: Sequence[CategoryClaim], old: Sequence[dict[str, Any]], today: dt.date
) -> list[dict[str, Any]]:
    # A category already held keeps its start date; a new one starts today.
    started = {c["code"]: c["valid_from"] for c in old}
    return [
        {
            "code": c.code,
            "valid_from": started.get(c.code, today),
            "valid_until": c.valid_until,
            "note": c.note or "",
        }
        for c in claims
    ]


async def commit_import(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None = None,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import the good rows in one transaction: create new elders, update changed ones (each
    audited), leave unchanged ones untouched. Running it again with the same file changes nothing."""
    now = now or utcnow()
    today = today or svc.today_of(now)
    svc.writable_district(actor, district_id)
    communities = await _communities(district_id)
    _, _, dry = _parse(filename, data, mapping, communities, today)
    if dry.table_problems:
        raise DomainError(
            "import_columns_missing", {"problems": [p.en for p in dry.table_problems], "field": "mapping"}
        )
    async with write_transaction():
        planned = await _classify(district_id, dry)
        created = await _create(actor, district_id, [p for p in planned if p.action == "create"], today, now)
        updates = [p for p in planned if p.action == "update"]
        for p in updates:
            await _update(actor, district_id, p, today, now)
        result = ImportResult(
            created=created,
            updated=len(updates),
            unchanged=sum(p.action == "unchanged" for p in planned),
            bad_rows=len(dry.bad_rows),
        )
        await audit.record(
            actor,
            "elder.import",
            "district",
            district_id,
            district_id=district_id,
            after={
                "filename": filename[:200],
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "bad_rows": result.bad_rows,
            },
            now=now,
        )
    return result


async def _create(
    actor: Principal, district_id: int, planned: Sequence[_Planned], today: dt.date, now: dt.datetime
) -> int:
    for start in range(0, len(planned), _CHUNK):
        chunk = planned[start : start + _CHUNK]
        elders = [
            Elder(
                district=district_id,
                national_id_enc=svc.encrypt_id(p.draft.national_id),
                national_id_masked=svc.mask_national_id(p.draft.national_id),
                national_id_hash=p.id_hash,
                id_last4=p.draft.national_id[-4:],
                import_fingerprint=p.fingerprint,
                status="active",
                status_changed_at=now,
                version=1,
                created_at=now,
                updated_at=now,
                **_values(p.draft),
            )
            for p in chunk
        ]
        rows = await Elder.insert(*elders).returning(Elder.id, Elder.national_id_hash)
        ids = {r["national_id_hash"]: int(r["id"]) for r in rows}
        categories = [
            ElderCategory(elder=ids[p.id_hash], created_at=now, **c)
            for p in chunk
            for c in _categories(p.draft.categories, (), today)
        ]
        if categories:
            await ElderCategory.insert(*categories)
        await ElderStatusEvent.insert(
            *[
                ElderStatusEvent(
                    elder=ids[p.id_hash], status="active", reason="import", at=now, actor_id=actor.user_id
                )
                for p in chunk
            ]
        )
    return len(planned)


async def _update(actor: Principal, district_id: int, p: _Planned, today: dt.date, now: dt.datetime) -> None:
    assert p.elder_id is not None
    row = await svc.elder_row(p.elder_id)
    assert row is not None
    old_categories = await svc.category_rows([p.elder_id])
    new = {**row, **_values(p.draft)}
    categories = _categories(p.draft.categories, old_categories, today)
    before, after = audit.changes(svc.audit_state(row, old_categories), svc.audit_state(new, categories))
    values: dict[Any, Any] = {getattr(Elder, k): v for k, v in _values(p.draft).items() if row[k] != v}
    values[Elder.import_fingerprint] = p.fingerprint
    if before or after:
        values[Elder.version] = int(row["version"]) + 1
        values[Elder.updated_at] = now
    await Elder.update(values).where(Elder.id == p.elder_id)
    await svc.replace_categories(p.elder_id, old_categories, categories, now)
    if before or after:
        await audit.record(
            actor,
            "elder.update",
            "elder",
            p.elder_id,
            district_id=district_id,
            before=before,
            after=after,
            note="import",
            now=now,
        )


async def export_elders(
    actor: Principal,
    district_id: int,
    fmt: Literal["xlsx", "csv"] = "xlsx",
    *,
    now: dt.datetime | None = None,
) -> bytes:
    """The district's register in the import layout (so it can be edited and imported again).
    ID numbers are masked unless the actor is an admin or an official of the district; every
    export is audited."""
    now = now or utcnow()
    access = svc.access_of(actor, district_id) if svc._valid_id(district_id) else None
    if access is None:
        raise DomainError("not_found", {"district_id": district_id})
    if access != svc.FULL_ACCESS:
        raise DomainError("forbidden", {"district_id": district_id})
    mask = not actor.can_district(district_id)
    rows = (
        await Elder.select(*Elder.all_columns())
        .where(Elder.district == district_id)
        .order_by(Elder.id)
        .output(load_json=True)
    )
    claims: dict[int, list[CategoryClaim]] = {}
    for start in range(0, len(rows), 500):
        ids = [int(r["id"]) for r in rows[start : start + 500]]
        for c in await svc.category_rows(ids):
            claims.setdefault(int(c["elder"]), []).append(
                CategoryClaim(code=c["code"], valid_until=c["valid_until"], note=c["note"] or None)
            )
    drafts = [
        ElderDraft(
            name=r["name"],
            gender=r["gender"],
            birth_date=r["birth_date"],
            national_id=svc.decrypt_id(r["national_id_enc"]),
            community_id=int(r["community"]),
            phone=r["phone"] or None,
            address=r["address"] or None,
            living_situation=r["living_situation"] or None,
            categories=tuple(claims.get(int(r["id"]), ())),
            diet=tuple(r["diet"] or ()),
            diet_note=r["diet_note"] or None,
            allergies=r["allergies"] or None,
            emergency_name=r["emergency_name"] or None,
            emergency_phone=r["emergency_phone"] or None,
            lat=r["lat"],
            lon=r["lon"],
        )
        for r in rows
    ]
    names = await _communities(district_id)
    headers, out = export_rows(drafts, community_names={v: k for k, v in names.items()}, mask_ids=mask)
    body = write_xlsx(headers, out) if fmt == "xlsx" else write_csv(headers, out)
    async with write_transaction():
        await audit.record(
            actor,
            "elder.export",
            "district",
            district_id,
            district_id=district_id,
            after={"format": fmt, "rows": len(drafts), "masked": mask},
            now=now,
        )
    return body
