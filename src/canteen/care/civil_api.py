"""JSON API of the civil-affairs lists, refund tasks and expiring evidence (``/api/v1/care``).

Thin handlers over ``canteen.care.civil``: the service checks the scope (admin and the
district's officials; community workers read the expiring list of their communities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required
from canteen.care import civil
from canteen.core.apidocs import errors
from canteen.core.errors import DomainError

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=INT4_MAX)]
RequiredQueryId = Annotated[int, QueryParameter(ge=1, le=INT4_MAX)]
TaskStatus = Annotated[Literal["open", "done", "cancelled", "all"], QueryParameter()]

LIST_ERRORS = (
    "not_found",
    "import_file_type",
    "import_file_too_large",
    "import_empty",
    "civil_columns_missing",
    "unsupported_media_type",
)


@dataclass
class ListForm:
    """The upload: the civil-affairs list (XLSX or CSV) and the district it is for."""

    file: UploadFile
    district_id: int


Multipart = Annotated[ListForm, Body(media_type=RequestEncodingType.MULTI_PART)]


class RefundCloseIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Literal["refunded_cash", "refunded_transfer", "cancelled"]
    note: Annotated[str, msgspec.Meta(max_length=300)] = ""


async def _read(form: ListForm) -> tuple[int, str, bytes]:
    if not 1 <= form.district_id <= INT4_MAX:
        raise DomainError("not_found", {"district_id": form.district_id})
    return form.district_id, (form.file.filename or "")[:200], await form.file.read()


class CivilListController(Controller):
    path = "/api/v1/care/civil"
    tags = ["care"]
    guards = [login_required]

    @post(
        "/dry-run",
        status_code=200,
        summary="Check a civil-affairs list (deceased / moved / in hospital): what each row would do",
        responses=errors(*LIST_ERRORS),
    )
    async def dry_run(self, request: Req, data: Multipart) -> civil.CivilPreview:
        district_id, filename, content = await _read(data)
        return await civil.dry_run(principal_of(request), district_id, filename, content)

    @post(
        "/apply",
        status_code=200,
        summary="Apply a civil-affairs list's good rows (a transaction per row; run twice, no change)",
        responses=errors(*LIST_ERRORS),
    )
    async def apply(self, request: Req, data: Multipart) -> civil.CivilResult:
        district_id, filename, content = await _read(data)
        return await civil.apply_list(principal_of(request), district_id, filename, content)

    @get(
        "/expiring",
        summary="Elder categories whose evidence ends in the next 30 days, by community",
        responses=errors("not_found"),
    )
    async def expiring(
        self, request: Req, district_id: QueryId = None, community_id: QueryId = None
    ) -> civil.ExpiringList:
        return await civil.expiring_categories(
            principal_of(request), district_id=district_id, community_id=community_id
        )


class RefundTaskController(Controller):
    path = "/api/v1/care/refund-tasks"
    tags = ["care"]
    guards = [login_required]

    @get("/", summary="A district's refund tasks (open ones by default)", responses=errors("not_found"))
    async def list_tasks(
        self, request: Req, district_id: RequiredQueryId, status: TaskStatus = "open"
    ) -> civil.RefundTaskList:
        return await civil.list_refund_tasks(
            principal_of(request), district_id, status=None if status == "all" else status
        )

    @get("/{task_id:int}", summary="One refund task", responses=errors("not_found"))
    async def get_task(self, request: Req, task_id: PathId) -> civil.RefundTaskView:
        return await civil.get_refund_task(principal_of(request), task_id)

    @post(
        "/{task_id:int}/close",
        status_code=200,
        summary="Close a refund task: refunded in cash, by transfer, or cancelled (with a note)",
        responses=errors("not_found", "refund_task_closed", "reason_required"),
    )
    async def close(
        self, request: Req, task_id: PathId, data: JSONBody[RefundCloseIn]
    ) -> civil.RefundTaskView:
        return await civil.close_refund_task(principal_of(request), task_id, data.outcome, data.note)


CONTROLLERS = [CivilListController, RefundTaskController]
