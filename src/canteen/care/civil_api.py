"""JSON API of the civil-affairs lists, refund tasks and expiring evidence (``/api/v1/care``).

Thin handlers over ``canteen.care.civil``: the service checks the scope (admin and the
district's officials; community workers read the expiring list of their communities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, PathParameter, QueryParameter

from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required
from canteen.accounts.jobs import JobRunOut, accepted
from canteen.accounts.roles import Principal
from canteen.care import civil
from canteen.care import jobs as _care_jobs  # noqa: F401 - registers the list's jobs (see canteen.jobs)
from canteen.core.apidocs import errors
from canteen.core.errors import DomainError
from canteen.registry import import_service

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


async def _stash(actor: Principal, form: ListForm) -> import_service.PendingUpload:
    """Check the upload in the request (scope, type and size, columns: refused at once, in words)
    and keep it, sealed, for the job that reads every row."""
    if not 1 <= form.district_id <= INT4_MAX:
        raise DomainError("not_found", {"district_id": form.district_id})
    filename, content = (form.file.filename or "")[:200], await form.file.read()
    await civil.check_file(actor, form.district_id, filename, content)
    upload = import_service.PendingUpload(actor.user_id, form.district_id, filename, content)
    await import_service.stash_upload(upload, kind=civil.CIVIL_UPLOAD)
    return upload


class CivilListController(Controller):
    path = "/api/v1/care/civil"
    tags = ["care"]
    guards = [login_required]

    @post(
        "/dry-run",
        status_code=202,
        summary="Check a civil-affairs list (deceased / moved / in hospital), queued: the run's "
        "download is what each row would do",
        responses=errors(*LIST_ERRORS),
    )
    async def dry_run(self, request: Req, data: Multipart) -> Response[JobRunOut]:
        actor = principal_of(request)
        return accepted(await civil.submit_check(actor, await _stash(actor, data)))

    @post(
        "/apply",
        status_code=202,
        summary="Apply a civil-affairs list's good rows, queued (a transaction per row; run twice, "
        "no change); the run's result holds the counts",
        responses=errors(*LIST_ERRORS),
    )
    async def apply(self, request: Req, data: Multipart) -> Response[JobRunOut]:
        actor = principal_of(request)
        return accepted(await civil.submit_apply(actor, await _stash(actor, data)))

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
