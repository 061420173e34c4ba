"""Job runs over JSON: what a 202 points at (``Location: /api/v1/jobs/{id}``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import PathParameter
from litestar.response import Response

from canteen.accounts import jobs as access
from canteen.accounts.context import principal_of
from canteen.accounts.guards import login_required
from canteen.accounts.jobs import JobRunOut, job_out
from canteen.core.apidocs import errors

RunId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{16}$", max_length=16)]


class JobsController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]
    guards = [login_required]

    @get("/{run_id:str}", summary="A job run: status, progress, result", responses=errors("job_not_found"))
    async def get_run(self, request: Request[Any, Any, Any], run_id: RunId) -> JobRunOut:
        return job_out(await access.run_for(principal_of(request), run_id))

    @get(
        "/{run_id:str}/download",
        summary="The file a finished run produced (a card sheet, an export)",
        responses=errors("job_not_found"),
        media_type="application/octet-stream",
    )
    async def download(self, request: Request[Any, Any, Any], run_id: RunId) -> Response[bytes]:
        data, name, kind = await access.output_for(principal_of(request), run_id)
        return Response(
            data,
            media_type=kind or "application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"},
        )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name or "download", safe="")


CONTROLLERS = [JobsController]
