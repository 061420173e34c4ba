"""Pages for officials: civil-affairs lists (upload → check → apply), refund tasks, expiring evidence.

The uploaded list waits between the check and the apply step sealed in the database, exactly like
the elder import's (``registry.import_service.stash_upload``), so the apply step applies the very
file that was checked. Checking and applying run on the job queue: the upload and the apply button
redirect to the run's page, which links to the check page or the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import roles
from canteen.accounts.roles import ADMIN, COMMUNITY_WORKER, OFFICIAL
from canteen.care import civil
from canteen.care.civil_rows import EVENT_WORDS
from canteen.core.categories import CATEGORY_LABELS
from canteen.core.errors import DomainError
from canteen.core.money import yuan
from canteen.registry import import_service
from canteen.registry import services as registry
from canteen.registry.importing import MAX_IMPORT_BYTES
from canteen.web.pages import page

Req = Request[Any, Any, Any]
INT4_MAX = 2_147_483_647
PathId = Annotated[int, PathParameter(ge=1, le=INT4_MAX)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=INT4_MAX)]
Token = Annotated[str, PathParameter(pattern=r"^[A-Za-z0-9_\-]{16,64}$")]
RunId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{16}$", max_length=16)]

STATUS_WORDS = {
    "active": "Registered",
    "suspended": "Suspended",
    "moved": "Moved away",
    "deceased": "Deceased",
}
TASK_STATUS_WORDS = {"open": "To do", "done": "Refunded", "cancelled": "Cancelled"}
OUTCOME_WORDS = {
    "refunded_cash": "Refunded in cash",
    "refunded_transfer": "Refunded by bank transfer",
    "cancelled": "Nothing to refund (cancelled)",
}
CONTACT_WORDS = {"family": "Family member", "emergency": "Emergency contact"}
ACTION_WORDS = {"apply": "Will be applied", "unchanged": "Already applied: nothing changes", "bad": "Skipped"}


def _words(lang: str) -> dict[str, Any]:
    en = lang.startswith("en")
    return {
        "event_word": lambda c: (EVENT_WORDS[c][1] if en else EVENT_WORDS[c][0]) if c in EVENT_WORDS else "",
        "STATUS_WORDS": STATUS_WORDS,
        "TASK_STATUS_WORDS": TASK_STATUS_WORDS,
        "OUTCOME_WORDS": OUTCOME_WORDS,
        "CONTACT_WORDS": CONTACT_WORDS,
        "ACTION_WORDS": ACTION_WORDS,
        "category_word": lambda c: (
            (CATEGORY_LABELS[c].en if en else CATEGORY_LABELS[c].zh) if c in CATEGORY_LABELS else c
        ),
        "problem_text": lambda p: p.message_en if en else p.message_zh,
        "yuan": yuan,
    }


@dataclass
class UploadForm:
    file: UploadFile
    district_id: str = ""


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= INT4_MAX else None


class CivilListPages(Controller):
    path = "/care/civil"
    guards = [roles(ADMIN, OFFICIAL)]
    include_in_schema = False

    async def _upload_page(self, request: Req, error: str | None = None, status_code: int = 200) -> Template:
        return page(
            request,
            "care/civil_upload.html",
            status_code=status_code,
            districts=await registry.district_choices(principal_of(request)),
            error=error,
            max_mb=MAX_IMPORT_BYTES // (1024 * 1024),
        )

    @get("/")
    async def start(self, request: Req) -> Template:
        return await self._upload_page(request)

    @post("/")
    async def upload(
        self, request: Req, data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]
    ) -> Response[Any]:
        actor = principal_of(request)
        district_id = _int(data.district_id)
        content = await data.file.read()
        try:
            if district_id is None:
                raise DomainError("not_found", {"field": "district_id"})
            await civil.check_file(actor, district_id, data.file.filename or "", content)
        except DomainError as err:
            if err.status >= 500:
                raise
            return await self._upload_page(request, err.message(lang_of(request)), status_code=err.status)
        assert district_id is not None
        upload = import_service.PendingUpload(
            actor.user_id, district_id, (data.file.filename or "")[:200], content
        )
        token = await import_service.stash_upload(upload, kind=civil.CIVIL_UPLOAD)
        # Every row is checked by the queue; the run's page links to the check page.
        run = await civil.submit_check(actor, upload, token=token)
        return Redirect(path=f"/jobs/{run.id}", status_code=303)

    @get("/{token:str}/checked/{run_id:str}")
    async def check(self, request: Req, token: Token, run_id: RunId) -> Template:
        actor = principal_of(request)
        await import_service.load_upload(actor, token, kind=civil.CIVIL_UPLOAD)
        preview = await civil.checked_preview(actor, run_id)
        return page(
            request, "care/civil_check.html", preview=preview, token=token, **_words(lang_of(request))
        )

    @post("/{token:str}/apply")
    async def apply(self, request: Req, token: Token) -> Response[Any]:
        actor = principal_of(request)
        upload = await import_service.load_upload(actor, token, kind=civil.CIVIL_UPLOAD)
        run = await civil.submit_apply(actor, upload)
        return Redirect(path=f"/jobs/{run.id}", status_code=303)

    @get("/done/{run_id:str}")
    async def done(self, request: Req, run_id: RunId) -> Template:
        result, district_id, filename = await civil.finished_apply(principal_of(request), run_id)
        return page(
            request,
            "care/civil_result.html",
            result=result,
            district_id=district_id,
            filename=filename,
            **_words(lang_of(request)),
        )


class RefundTaskPages(Controller):
    path = "/care/refund-tasks"
    guards = [roles(ADMIN, OFFICIAL)]
    include_in_schema = False

    async def _render(
        self,
        request: Req,
        district_id: int,
        *,
        errors: dict[int, str] | None = None,
        saved: int | None = None,
        status_code: int = 200,
    ) -> Template:
        actor = principal_of(request)
        tasks = await civil.list_refund_tasks(actor, district_id, status=None)
        return page(
            request,
            "care/civil_refunds.html",
            status_code=status_code,
            district_id=district_id,
            districts=await registry.district_choices(actor),
            open_tasks=[t for t in tasks.items if t.status == "open"],
            closed_tasks=[t for t in tasks.items if t.status != "open"],
            errors=errors or {},
            saved=saved,
            **_words(lang_of(request)),
        )

    @get("/")
    async def list_page(
        self, request: Req, district_id: QueryId = None, saved: QueryId = None
    ) -> Response[Any]:
        if district_id is None:
            choices = await registry.district_choices(principal_of(request))
            if not choices:
                raise DomainError("not_found", {"field": "district_id"})
            return Redirect(path=f"/care/refund-tasks?district_id={choices[0][0]}")
        return await self._render(request, district_id, saved=saved)

    @post("/{task_id:int}/close")
    async def close(self, request: Req, task_id: PathId) -> Response[Any]:
        actor = principal_of(request)
        form = await request.form()
        outcome = str(form.get("outcome", ""))
        note = str(form.get("note", ""))[:300]
        task = await civil.get_refund_task(actor, task_id)
        try:
            await civil.close_refund_task(actor, task_id, outcome, note)
        except DomainError as err:
            if err.status >= 500 or err.code == "not_found":
                raise
            return await self._render(
                request,
                task.district_id,
                errors={task_id: err.message(lang_of(request))},
                status_code=err.status,
            )
        return Redirect(
            path=f"/care/refund-tasks?district_id={task.district_id}&saved={task_id}", status_code=303
        )


@get("/care/expiring", guards=[roles(ADMIN, OFFICIAL, COMMUNITY_WORKER)], include_in_schema=False)
async def expiring_page(request: Req, district_id: QueryId = None, community_id: QueryId = None) -> Template:
    actor = principal_of(request)
    districts = await registry.district_choices(actor)
    if district_id is None and districts and not actor.community_ids(COMMUNITY_WORKER):
        district_id = districts[0][0]
    data = await civil.expiring_categories(actor, district_id=district_id, community_id=community_id)
    groups: dict[str, list[Any]] = {}
    for item in data.items:
        groups.setdefault(item.community_name, []).append(item)
    return page(
        request,
        "care/civil_expiring.html",
        data=data,
        groups=groups,
        district_id=district_id,
        districts=districts,
        **_words(lang_of(request)),
    )


PAGES = [CivilListPages, RefundTaskPages, expiring_page]


async def profile_part(actor: Any, elder_id: int, lang: str) -> dict[str, Any]:
    """The elder profile's civil-affairs section (``{# care:civil #}``): officials only."""
    part = await civil.elder_civil(actor, elder_id)
    words = _words(lang)
    return {"civil": part, "civil_event": words["event_word"], "civil_task_status": TASK_STATUS_WORDS}
