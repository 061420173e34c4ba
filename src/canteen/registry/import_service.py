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
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.from_thread
import msgspec

from canteen.accounts import jobs as jobs_access
from canteen.accounts.roles import Principal
from canteen.accounts.services import load_principal
from canteen.core import audit, queue
from canteen.core.clock import utcnow
from canteen.core.crypto import PiiDecryptError
from canteen.core.db import write_transaction
from canteen.core.errors import DomainError, register
from canteen.core.tables import JobRun
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
    peek_table,
    read_table,
    suggest_mapping,
    validate_rows,
    write_csv,
    write_xlsx,
)
from canteen.registry.schemas import ImportPreview, ImportProblem, ImportResult, ImportRow
from canteen.registry.tables import Elder, ElderCategory, ElderStatusEvent, ImportUpload

register("import_mapping_invalid", 422)
register("import_columns_missing", 422)
register("import_upload_expired", 410)

# An uploaded sheet waits in ``import_upload`` between its steps (columns, check, import) and for
# the jobs that check and import it: in the database, so a queued job finds it however long the
# queue is (never in Redis, whose entries may be evicted). It holds ID numbers, so it is stored
# sealed (the PII key, bound to this use), under a hash of the page's token. The wizard honours it
# for ``UPLOAD_TTL``; the jobs for ``UPLOAD_KEEP``, after which the next upload deletes it.
UPLOAD_TTL = 15 * 60
UPLOAD_KEEP = 24 * 3600
_UPLOAD_CONTEXT = "registry.import_upload"
ELDER_UPLOAD = "elder_import"

# The job kinds (registered in canteen.registry.jobs) and the stages they report (msgids).
CHECK_JOB = "registry.elder_import_check"
IMPORT_JOB = "registry.elder_import"
CHECK_STAGE = "Checking the rows"
SAVE_STAGE = "Saving the elders"

Progress = Callable[[int, int, str], Coroutine[Any, Any, None]]


class PendingUpload(msgspec.Struct):
    user_id: int
    district_id: int
    filename: str
    data: bytes
    upload_id: int = 0


def _upload_key(token: str) -> str:
    return hashlib.sha256(("elder-import:" + token).encode()).hexdigest()


def _seal(upload: PendingUpload) -> str:
    return svc.cipher().encrypt(
        base64.b64encode(msgspec.msgpack.encode(upload)).decode("ascii"), context=_UPLOAD_CONTEXT
    )


def _unseal(row: dict[str, Any] | None) -> PendingUpload | None:
    if row is None:
        return None
    try:
        plain = svc.cipher().decrypt(row["sealed"], context=_UPLOAD_CONTEXT)
        upload = msgspec.msgpack.decode(base64.b64decode(plain), type=PendingUpload)
    except (PiiDecryptError, ValueError, msgspec.DecodeError):
        return None  # another key or an altered entry: as good as gone
    upload.upload_id = int(row["id"])
    return upload


async def stash_upload(
    upload: PendingUpload, *, kind: str = ELDER_UPLOAD, now: dt.datetime | None = None
) -> str:
    """Keep an uploaded sheet for the next steps and their jobs (sealed); its token (and its
    row's id set on ``upload``). Uploads older than ``UPLOAD_KEEP`` go on the way."""
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    async with write_transaction():
        await ImportUpload.delete().where(ImportUpload.created_at < now - dt.timedelta(seconds=UPLOAD_KEEP))
        rows = await ImportUpload.insert(
            ImportUpload(
                token_hash=_upload_key(token),
                kind=kind,
                user=upload.user_id,
                district=upload.district_id,
                filename=upload.filename[:200],
                sealed=_seal(upload),
                created_at=now,
            )
        ).returning(ImportUpload.id)
    upload.upload_id = int(rows[0]["id"])
    return token


_UPLOAD_COLUMNS = (ImportUpload.id, ImportUpload.user, ImportUpload.sealed, ImportUpload.created_at)


async def load_upload(
    actor: Principal, token: str, *, kind: str = ELDER_UPLOAD, now: dt.datetime | None = None
) -> PendingUpload:
    """The sheet stashed under ``token`` by this user within ``UPLOAD_TTL``;
    ``import_upload_expired`` (410) otherwise."""
    now = now or utcnow()
    row = (
        await ImportUpload.select(*_UPLOAD_COLUMNS)
        .where((ImportUpload.token_hash == _upload_key(token)) & (ImportUpload.kind == kind))
        .first()
    )
    fresh = row is not None and row["created_at"] >= now - dt.timedelta(seconds=UPLOAD_TTL)
    upload = _unseal(row) if fresh else None
    if upload is None or upload.user_id != actor.user_id:
        raise DomainError("import_upload_expired")
    return upload


async def upload_for_job(upload_id: int, *, kind: str = ELDER_UPLOAD) -> PendingUpload:
    """The sheet a job works on (``import_upload_expired`` once it has been deleted)."""
    row = (
        await ImportUpload.select(*_UPLOAD_COLUMNS)
        .where((ImportUpload.id == upload_id) & (ImportUpload.kind == kind))
        .first()
    )
    upload = _unseal(row)
    if upload is None:
        raise DomainError("import_upload_expired")
    return upload


async def drop_upload(token: str) -> None:
    async with write_transaction():
        await ImportUpload.delete().where(ImportUpload.token_hash == _upload_key(token))


async def retire_upload(upload_id: int) -> None:
    """After the import: the page's token no longer finds the upload (the wizard answers
    ``import_upload_expired``), while a retried job still finds it by id until it is purged."""
    async with write_transaction():
        await ImportUpload.update({ImportUpload.token_hash: "used:" + secrets.token_hex(16)}).where(
            ImportUpload.id == upload_id
        )


async def job_actor(user_id: int | None) -> Principal:
    """Who a job acts for: the person who asked, with their grants as they are now (a grant
    withdrawn while the job waited is withdrawn for the job too)."""
    actor = await load_principal(user_id) if user_id is not None else None
    if actor is None:
        raise DomainError("forbidden", {"reason": "requester_gone"})
    return actor


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
    on_rows: Callable[[int, int], None] | None = None,
) -> tuple[list[str], dict[str, int], DryRun]:
    table = read_table(filename, data)
    chosen = _check_mapping(mapping, len(table.headers)) if mapping else suggest_mapping(table.headers)
    dry = validate_rows(table, chosen, communities=communities, today=today, on_rows=on_rows)
    return table.headers, chosen, dry


async def _parse_rows(
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None,
    communities: Mapping[str, int],
    today: dt.date,
    progress: Progress | None,
) -> tuple[list[str], dict[str, int], DryRun]:
    """``_parse``; in a worker thread when a job reports progress (reading and checking 20,000
    rows is seconds of CPU that must not stall the web loop running the demo's worker)."""
    if progress is None:
        return _parse(filename, data, mapping, communities, today)
    report = progress

    def on_rows(done: int, total: int) -> None:
        anyio.from_thread.run(report, done, total, CHECK_STAGE)

    return await anyio.to_thread.run_sync(
        lambda: _parse(filename, data, mapping, communities, today, on_rows=on_rows)
    )


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
    progress: Progress | None = None,
) -> _Plan:
    svc.writable_district(actor, district_id)
    communities = await _communities(district_id)
    headers, chosen, dry = await _parse_rows(filename, data, mapping, communities, today, progress)
    return _Plan(headers, chosen, dry, await _classify(district_id, dry))


async def read_columns(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None = None,
) -> tuple[list[str], dict[str, int]]:
    """The file's headers and the guessed mapping (field → column), for the mapping step.
    Refuses files that are not spreadsheets, too large or empty, like the import itself, and a
    ``mapping`` that names an unknown field or column; reads only the first rows (the job reads
    and checks them all)."""
    svc.writable_district(actor, district_id)
    table = peek_table(filename, data)
    if mapping:
        _check_mapping(mapping, len(table.headers))
    return table.headers, suggest_mapping(table.headers)


async def dry_run(
    actor: Principal,
    district_id: int,
    filename: str,
    data: bytes,
    mapping: Mapping[str, int] | None = None,
    *,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> ImportPreview:
    """What importing this file would do: rows to create, update or leave, and each bad row's
    problems in words. ``mapping`` (field → column index) defaults to the guessed one."""
    today = today or svc.today_of(utcnow())
    plan = await _plan(actor, district_id, filename, data, mapping, today, progress)
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
    progress: Progress | None = None,
) -> ImportResult:
    """Import the good rows in one transaction: create new elders, update changed ones (each
    audited), leave unchanged ones untouched. Running it again with the same file changes nothing."""
    now = now or utcnow()
    today = today or svc.today_of(now)
    svc.writable_district(actor, district_id)
    communities = await _communities(district_id)
    _, _, dry = await _parse_rows(filename, data, mapping, communities, today, progress)
    if dry.table_problems:
        raise DomainError(
            "import_columns_missing", {"problems": [p.en for p in dry.table_problems], "field": "mapping"}
        )
    async with write_transaction():
        planned = await _classify(district_id, dry)
        creates = [p for p in planned if p.action == "create"]
        updates = [p for p in planned if p.action == "update"]
        created = await _create(actor, district_id, creates, today, now, progress)
        for i, p in enumerate(updates, start=1):
            await _update(actor, district_id, p, today, now)
            if progress is not None:
                await progress(len(creates) + i, len(creates) + len(updates), SAVE_STAGE)
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
    actor: Principal,
    district_id: int,
    planned: Sequence[_Planned],
    today: dt.date,
    now: dt.datetime,
    progress: Progress | None = None,
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
        if progress is not None:
            await progress(start + len(chunk), len(planned), SAVE_STAGE)
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


# --- the import as jobs ----------------------------------------------------------------------------


def _mapping_key(mapping: Mapping[str, int] | None) -> str:
    return hashlib.sha256(msgspec.json.encode(dict(sorted((mapping or {}).items())))).hexdigest()[:16]


async def submit_check(
    actor: Principal, upload: PendingUpload, mapping: Mapping[str, int] | None, *, token: str | None = None
) -> queue.JobRunView:
    """Queue the check of a stashed upload (``registry.elder_import_check``). With ``token`` (the
    wizard) the run's result links to the check page; without (the API) the preview is the run's
    download (JSON)."""
    svc.writable_district(actor, upload.district_id)
    return await queue.submit(
        CHECK_JOB,
        {"upload_id": upload.upload_id, "mapping": dict(mapping) if mapping else None, "token": token},
        user_id=actor.user_id,
        district_id=upload.district_id,
        key=f"{upload.upload_id}:{_mapping_key(mapping)}",
    )


async def submit_import(
    actor: Principal, upload: PendingUpload, mapping: Mapping[str, int] | None
) -> queue.JobRunView:
    """Queue the import of a stashed upload (``registry.elder_import``); pressing the button
    twice while it runs joins the first run, and a second run later changes nothing."""
    svc.writable_district(actor, upload.district_id)
    return await queue.submit(
        IMPORT_JOB,
        {"upload_id": upload.upload_id, "mapping": dict(mapping) if mapping else None},
        user_id=actor.user_id,
        district_id=upload.district_id,
        key=f"{upload.upload_id}:{_mapping_key(mapping)}",
    )


async def run_check_job(
    ctx: queue.JobContext, upload_id: int, mapping: Mapping[str, int] | None, token: str | None
) -> dict[str, Any]:
    """The check job: the preview, stored on the run's row as JSON."""
    actor = await job_actor(ctx.user_id)
    upload = await upload_for_job(upload_id)
    await ctx.progress(0, 0, CHECK_STAGE, force=True)
    preview = await dry_run(
        actor, upload.district_id, upload.filename, upload.data, mapping, progress=ctx.progress
    )
    await JobRun.update(
        {
            JobRun.output: msgspec.json.encode(preview),
            JobRun.output_name: "import-check.json",
            JobRun.output_type: "application/json",
        }
    ).where(JobRun.id == ctx.run_id)
    counts = {
        "create": preview.will_create,
        "update": preview.will_update,
        "unchanged": preview.unchanged,
        "bad": len(preview.bad_rows),
    }
    result: dict[str, Any] = {
        **counts,
        "summary": "{create} to add, {update} to change, {unchanged} unchanged, {bad} bad rows",
        "summary_args": counts,
    }
    if token:
        result.update(url=f"/elders/import/{token}/checked/{ctx.run_id}", link_text="Show the check")
    else:
        result["download"] = True
    return result


async def run_import_job(
    ctx: queue.JobContext, upload_id: int, mapping: Mapping[str, int] | None
) -> dict[str, Any]:
    """The import job: ``commit_import`` with progress; its counts are the run's result."""
    actor = await job_actor(ctx.user_id)
    upload = await upload_for_job(upload_id)
    await ctx.progress(0, 0, CHECK_STAGE, force=True)
    result = await commit_import(
        actor, upload.district_id, upload.filename, upload.data, mapping, progress=ctx.progress
    )
    await retire_upload(upload_id)
    counts = msgspec.structs.asdict(result)
    return {
        **counts,
        "filename": upload.filename,
        "summary": "{created} added, {updated} changed, {unchanged} unchanged, {bad_rows} bad rows",
        "summary_args": counts,
        "url": f"/elders/import/done/{ctx.run_id}",
        "link_text": "Show the import result",
    }


async def checked_preview(actor: Principal, run_id: str) -> ImportPreview:
    """The preview a finished check run stored (``job_not_found`` for anyone but who may see it)."""
    run = await jobs_access.run_for(actor, run_id)
    if run.kind != CHECK_JOB:
        raise DomainError("job_not_found", {"job_id": run_id})
    data, _, _ = await jobs_access.output_for(actor, run_id)
    return msgspec.json.decode(data, type=ImportPreview)


async def finished_import(actor: Principal, run_id: str) -> tuple[ImportResult, str]:
    """A finished import run's counts and file name, for the result page."""
    run = await jobs_access.run_for(actor, run_id)
    if run.kind != IMPORT_JOB or run.status != "done":
        raise DomainError("job_not_found", {"job_id": run_id})
    return msgspec.convert(run.result, ImportResult), str(run.result.get("filename") or "")
