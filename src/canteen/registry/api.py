"""JSON API of the elder registry (``/api/v1/elders``).

Thin handlers: a bounded Struct in, one service call, a Struct out. The services decide
the object scope (``not_found`` outside it, ``forbidden`` for readers who may not write);
see the access matrix in ``canteen.registry.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.core.apidocs import errors
from canteen.core.errors import DomainError
from canteen.core.schemas import IdempotencyKeyHeader
from canteen.registry import import_service
from canteen.registry import services as svc
from canteen.registry.schemas import (
    ColumnMapping,
    DeliveryGrantIn,
    ElderCreate,
    ElderList,
    ElderPatch,
    ElderStatus,
    ElderView,
    NationalIdView,
    PinIn,
    StatusIn,
)

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=INT4_MAX)]
RequiredQueryId = Annotated[int, QueryParameter(ge=1, le=INT4_MAX)]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,10}$", max_length=10)]
SearchText = Annotated[str | None, QueryParameter(max_length=60)]
CategoryCode = Annotated[str | None, QueryParameter(max_length=30, pattern=r"^[a-z_]+$")]
IdempotencyKey = IdempotencyKeyHeader
ExportFormat = Annotated[Literal["xlsx", "csv"], QueryParameter(name="format")]

ID_ERRORS = ("id_number_malformed", "id_number_checksum", "id_number_birth_date")
WRITE_ERRORS = (
    *ID_ERRORS,
    "not_found",
    "elder_duplicate_id",
    "unknown_category",
    "unknown_diet_tag",
    "unknown_allergen",
    "category_dates_invalid",
    "elder_birth_date_future",
    "elder_birth_date_mismatch",
    "elder_gender_mismatch",
)
IMPORT_ERRORS = (
    "not_found",
    "import_file_type",
    "import_file_too_large",
    "import_empty",
    "import_mapping_invalid",
    "import_columns_missing",
    "unsupported_media_type",
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class ImportForm:
    """The upload: the spreadsheet, the district, and optionally the column mapping as JSON."""

    file: UploadFile
    district_id: int
    mapping: str | None = None


Multipart = Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)]


async def _read_form(form: ImportForm) -> tuple[int, str, bytes, dict[str, int] | None]:
    if not 1 <= form.district_id <= INT4_MAX:
        raise DomainError("not_found", {"district_id": form.district_id})
    mapping = None
    if form.mapping:
        try:
            mapping = msgspec.json.decode(form.mapping.encode(), type=ColumnMapping)
        except msgspec.DecodeError:
            raise DomainError("import_mapping_invalid", {"field": "mapping"}) from None
    data = await form.file.read()
    return form.district_id, (form.file.filename or "")[:200], data, mapping


async def _stash(actor: Any, form: ImportForm) -> tuple[import_service.PendingUpload, dict[str, int] | None]:
    """Check the upload in the request (scope, file type and size, headers, the mapping's
    columns: refused at once, in words) and keep it for the job, which reads every row."""
    district_id, filename, content, mapping = await _read_form(form)
    await import_service.read_columns(actor, district_id, filename, content, mapping)
    upload = import_service.PendingUpload(actor.user_id, district_id, filename, content)
    await import_service.stash_upload(upload)
    return upload, mapping


class ElderController(Controller):
    path = "/api/v1/elders"
    tags = ["elders"]
    guards = [login_required]

    @get(
        "/",
        summary="Search elders you may read (name, phone, last 4 of the ID, full ID or card number)",
        responses=errors(),
    )
    async def search(
        self,
        request: Req,
        q: SearchText = None,
        community_id: QueryId = None,
        category: CategoryCode = None,
        status: FromQuery[ElderStatus | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ElderList:
        return await svc.search_elders(
            principal_of(request),
            q,
            community_id=community_id,
            category=category,
            status=status,
            limit=limit,
            cursor=int(cursor) if cursor else None,
        )

    @post(
        "/",
        summary="Register an elder (accepts Idempotency-Key)",
        responses=errors(*WRITE_ERRORS, "idempotency_key_invalid", "idempotency_key_reused"),
    )
    async def create(
        self, request: Req, data: JSONBody[ElderCreate], idempotency_key: IdempotencyKey = None
    ) -> ElderView:
        return await svc.register_elder(principal_of(request), data, idempotency_key=idempotency_key)

    @get("/{elder_id:int}", summary="One elder, as your role may see them", responses=errors("not_found"))
    async def read(self, request: Req, elder_id: PathId) -> ElderView:
        return await svc.get_elder(principal_of(request), elder_id)

    @patch(
        "/{elder_id:int}",
        summary="Change an elder's record (send the version you read)",
        responses=errors(*WRITE_ERRORS, "conflict"),
    )
    async def update(self, request: Req, elder_id: PathId, data: JSONBody[ElderPatch]) -> ElderView:
        return await svc.update_elder(principal_of(request), elder_id, data, expected_version=data.version)

    @post(
        "/{elder_id:int}/status",
        status_code=200,
        summary="Set active / suspended / moved / deceased",
        responses=errors("not_found", "conflict"),
    )
    async def status(self, request: Req, elder_id: PathId, data: JSONBody[StatusIn]) -> ElderView:
        return await svc.set_status(principal_of(request), elder_id, data.status, data.reason)

    @post(
        "/{elder_id:int}/delivery-grant",
        status_code=200,
        summary="Grant meal delivery by a case worker's decision",
        responses=errors("not_found", "conflict", "delivery_grant_until_past"),
    )
    async def delivery_grant(
        self, request: Req, elder_id: PathId, data: JSONBody[DeliveryGrantIn]
    ) -> ElderView:
        return await svc.grant_delivery(principal_of(request), elder_id, data.reason, data.until)

    @post(
        "/{elder_id:int}/pin",
        status_code=204,
        summary="Set the elder's 4-6 digit PIN",
        responses=errors("not_found", "conflict", "pin_invalid", "pin_too_weak"),
    )
    async def pin(self, request: Req, elder_id: PathId, data: JSONBody[PinIn]) -> None:
        await svc.set_pin(principal_of(request), elder_id, data.pin)

    @get(
        "/{elder_id:int}/national-id",
        summary="The full ID number (admin and the district's officials; every view is audited)",
        responses=errors("not_found"),
    )
    async def national_id(self, request: Req, elder_id: PathId) -> NationalIdView:
        number = await svc.reveal_national_id(principal_of(request), elder_id)
        return NationalIdView(elder_id=elder_id, national_id=number)

    @post(
        "/import/dry-run",
        status_code=202,
        summary="Check a spreadsheet (queued): the run's download is the preview — what an import "
        "would create, update, leave, and each bad row",
        responses=errors(*IMPORT_ERRORS),
    )
    async def import_dry_run(self, request: Req, data: Multipart) -> Response[JobRunOut]:
        actor = principal_of(request)
        upload, mapping = await _stash(actor, data)
        return accepted(await import_service.submit_check(actor, upload, mapping))

    @post(
        "/import",
        status_code=202,
        summary="Import a spreadsheet's good rows in one transaction (queued; idempotent per file); "
        "the run's result holds the counts",
        responses=errors(*IMPORT_ERRORS),
    )
    async def import_commit(self, request: Req, data: Multipart) -> Response[JobRunOut]:
        actor = principal_of(request)
        upload, mapping = await _stash(actor, data)
        return accepted(await import_service.submit_import(actor, upload, mapping))

    @get(
        "/export",
        summary="The district's register as XLSX or CSV (IDs masked unless admin/official; audited)",
        responses=errors("not_found"),
        media_type=XLSX,
    )
    async def export(
        self, request: Req, district_id: RequiredQueryId, fmt: ExportFormat = "xlsx"
    ) -> Response[bytes]:
        body = await import_service.export_elders(principal_of(request), district_id, fmt)
        media = XLSX if fmt == "xlsx" else "text/csv"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="elders-{district_id}.{fmt}"'},
        )


CONTROLLERS: list[Any] = [ElderController]
