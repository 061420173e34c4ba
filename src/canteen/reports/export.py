"""One export for every table: the same rows and headers as the page shows, as XLSX or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from canteen.core.errors import DomainError, register
from canteen.core.sheets import sheet_value

register(
    "export_format", 422, "不支持的导出格式（可选 xlsx 或 csv）。", "Unknown export format (xlsx or csv)."
)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str, title: str = "Report") -> bytes:
    """Rows (lists of plain values) under ``headers`` as ``fmt`` ("xlsx" or "csv") bytes.

    CSV starts with a UTF-8 BOM so Excel on Chinese Windows opens the Chinese text correctly.
    Cells starting with = + - @ are prefixed with a quote: a name must never run as a formula.
    """

    safe = sheet_value
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow([safe(h) for h in headers])
        for row in rows:
            writer.writerow([safe(v) for v in row])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = title[:31] or "Report"
        ws.append([safe(h) for h in headers])
        for row in rows:
            ws.append([safe(v) for v in row])
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise DomainError("export_format", {"format": fmt})
