"""One export for every table: the same rows and headers as the page shows, as XLSX or CSV."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from canteen.core.errors import DomainError, register
from canteen.core.sheets import append_row, header_row, write_csv

register("export_format", 422)

MEDIA_TYPES = {
    "csv": "text/csv",  # Litestar adds "; charset=utf-8" to text/* itself (twice if we do too)
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    fmt: str,
    title: str = "Report",
    *,
    lang: str | None = None,
) -> bytes:
    """Rows (lists of plain values, ``Money`` for amounts) under ``headers`` as ``fmt`` bytes.

    ``headers`` are gettext msgids translated to ``lang`` (as given when ``lang`` is None).
    Both formats go through the one cell rule of ``canteen.core.sheets``: CSV with a UTF-8 BOM,
    XLSX with money as numbers; a name must never run as a formula.
    """

    if fmt == "csv":
        return write_csv(headers, rows, lang=lang)
    if fmt == "xlsx":
        # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = title[:31] or "Report"
        append_row(ws, header_row(headers, lang))
        for row in rows:
            append_row(ws, row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise DomainError("export_format", {"format": fmt})
