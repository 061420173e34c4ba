"""Long work of `registry` run on the job queue (canteen.core.queue); handlers submit, answer 202.

- ``registry.card_sheet``: issue the missing cards of a checked selection and draw the A4 PDF
  (reportlab and the QR codes in a worker thread, so the demo's in-process worker never blocks
  the web loop); the PDF is stored on the run's row and downloaded from the run's page.
- ``registry.elder_import_check`` / ``registry.elder_import``: read and check every row of an
  uploaded register (the preview, stored on the run), then import the good rows, with progress in
  rows; the upload waits, sealed, in ``import_upload`` (canteen.registry.import_service).

Both are idempotent: a retried sheet finds the cards the first attempt issued and issues none;
a retried import matches rows by the ID hash and fingerprint and changes nothing twice.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.from_thread

from canteen.core import queue
from canteen.core.tables import JobRun
from canteen.registry import card_services, import_service
from canteen.registry.card_render import CARDS_PER_PAGE, render_sheet_pdf

CARD_SHEET = "registry.card_sheet"


@queue.job(CARD_SHEET, title="Card sheet")
async def card_sheet_job(ctx: queue.JobContext, *, elder_ids: list[int], filename: str) -> dict[str, Any]:
    # The cards are issued in the name of who asked (the audit rows say so).
    actor = await import_service.job_actor(ctx.user_id)
    await ctx.progress(0, len(elder_ids), "Issuing cards", force=True)
    faces = await card_services.sheet_faces(actor, elder_ids)

    def on_page(done: int, pages: int) -> None:
        cards = min(len(faces), done * CARDS_PER_PAGE)
        anyio.from_thread.run(ctx.progress, cards, len(faces), "Drawing the cards")

    pdf = await anyio.to_thread.run_sync(lambda: render_sheet_pdf(faces, on_page=on_page))
    await JobRun.update(
        {JobRun.output: pdf, JobRun.output_name: filename[:120], JobRun.output_type: "application/pdf"}
    ).where(JobRun.id == ctx.run_id)
    await ctx.progress(len(faces), len(faces), "Drawing the cards", force=True)
    return {
        "download": True,
        "cards": len(faces),
        "summary": "{cards} cards on {pages} pages",
        "summary_args": {"cards": len(faces), "pages": max(1, -(-len(faces) // CARDS_PER_PAGE))},
        "url": "/cards/print",
        "link_text": "Print more cards",
    }


@queue.job(import_service.CHECK_JOB, title="Elder register check")
async def elder_import_check_job(
    ctx: queue.JobContext, *, upload_id: int, mapping: dict[str, int] | None = None, token: str | None = None
) -> dict[str, Any]:
    return await import_service.run_check_job(ctx, upload_id, mapping, token)


@queue.job(import_service.IMPORT_JOB, title="Elder register import")
async def elder_import_job(
    ctx: queue.JobContext, *, upload_id: int, mapping: dict[str, int] | None = None
) -> dict[str, Any]:
    return await import_service.run_import_job(ctx, upload_id, mapping)
