"""The page of one job run: a progress bar while it runs (htmx refreshes it every second), then
the result — a link to the plan or report, or a download — or, when it failed, why in words.

Every handler that queues long work redirects here (303) after ``queue.submit``; the JSON twin
is ``GET /api/v1/jobs/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import PathParameter
from litestar.response import Response, Template

from canteen import i18n
from canteen.accounts import jobs as access
from canteen.accounts.context import lang_of, principal_of
from canteen.accounts.guards import login_required
from canteen.core import queue
from canteen.web.pages import page

RunId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{16}$", max_length=16)]
Req = Request[Any, Any, Any]

STATUS_WORDS = {"queued": "Waiting to start", "running": "Working", "done": "Done", "failed": "Failed"}


def _context(run: queue.JobRunView, lang: str) -> dict[str, Any]:
    spec = queue.spec(run.kind)
    link = run.result.get("url") if isinstance(run.result.get("url"), str) else None
    return {
        "run": run,
        "title": i18n.gettext(lang, spec.title) if spec else i18n.gettext(lang, "Background work"),
        "status_words": i18n.gettext(lang, STATUS_WORDS.get(run.status, "Working")),
        "stage_words": i18n.gettext(lang, run.stage) if run.stage else "",
        "error_words": i18n.gettext(lang, f"error.{run.error_code}") if run.error_code else "",
        "link": link if link and link.startswith("/") else None,
        "link_text": i18n.gettext(lang, run.result.get("link_text") or "Show the result"),
        "download": bool(run.result.get("download")),
        "summary": i18n.gettext(lang, run.result["summary"], **(run.result.get("summary_args") or {}))
        if isinstance(run.result.get("summary"), str)
        else "",
    }


@get("/jobs/{run_id:str}", guards=[login_required], include_in_schema=False)
async def job_page(request: Req, run_id: RunId) -> Template:
    run = await access.run_for(principal_of(request), run_id)
    return page(request, "jobs/run.html", **_context(run, lang_of(request)))


@get("/jobs/{run_id:str}/status", guards=[login_required], include_in_schema=False)
async def job_status(request: Req, run_id: RunId) -> Response[Any]:
    """The htmx partial: the bar and, once the run has ended, its result (polling stops)."""
    run = await access.run_for(principal_of(request), run_id)
    return page(request, "jobs/_status.html", **_context(run, lang_of(request)))


PAGES = [job_page, job_status]
