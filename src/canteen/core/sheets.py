"""Values bound for a spreadsheet cell (XLSX or CSV): one rule for every export.

Control characters are dropped (openpyxl refuses them, and they are never wanted in a report),
anything that is not a number or text becomes text, and text that a spreadsheet would run as a
formula (= + - @, or a leading tab or carriage return) is prefixed with a quote: a name typed
into the registry must never execute.

Money is written as a number an accountant can add up: wrap an amount in ``Money(fen)`` and
``append_row`` writes it as yuan (fen / 100) with the ``MONEY_FORMAT`` number format (negative
amounts stay negative numbers), ``write_csv`` as plain ``-3.50`` text. ``write_csv`` is the one
CSV writer: UTF-8 with a BOM (so Excel opens Chinese correctly), the safe cells above and the
header row in the caller's language through the gettext catalogs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from canteen import i18n
from canteen.core.money import yuan

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Long digit strings (ID numbers, phones) that Excel would turn into 3.3E+17 when it opens a CSV.
_LONG_DIGITS = re.compile(r"\d{17}[\dXx]|\d{11,}")

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"


class Money(NamedTuple):
    """An amount in fen bound for a money cell; ``str()`` gives the plain yuan text ("-3.50")."""

    fen: int

    def __str__(self) -> str:
        return yuan(self.fen)


def money(fen: int | None) -> Money | None:
    """``Money(fen)``, or None (an empty cell) when there is no amount."""
    return None if fen is None else Money(int(fen))


def clean_text(text: str) -> str:
    """Text without the control characters a spreadsheet refuses."""
    return _CONTROL.sub("", text)


def sheet_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | dt.date | Money):
        return value
    text = clean_text(value if isinstance(value, str) else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def sheet_row(values: Iterable[Any]) -> list[Any]:
    return [sheet_value(v) for v in values]


def money_cell(ws: Any, fen: int) -> Cell:
    """The one money cell of every XLSX export: yuan as a number (exact to the fen), ``MONEY_FORMAT``."""
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=fen / 100)
    cell.number_format = MONEY_FORMAT
    return cell


def xlsx_row(ws: Any, values: Iterable[Any]) -> list[Any]:
    """Safe cell values for ``ws.append``: ``Money`` becomes a money cell, a date a date cell."""
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl.cell import WriteOnlyCell

    out: list[Any] = []
    for v in sheet_row(values):
        if isinstance(v, Money):
            out.append(money_cell(ws, v.fen))
        elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            cell = WriteOnlyCell(ws, value=v)
            cell.number_format = DATE_FORMAT
            out.append(cell)
        else:
            out.append(v)
    return out


def append_row(ws: Any, values: Iterable[Any]) -> None:
    """Append one row of an XLSX export through the cell rule above."""
    ws.append(xlsx_row(ws, values))


def csv_value(value: Any) -> str:
    """A cell of a CSV export: the same rule, money as "-3.50", dates as ISO text."""
    v = sheet_value(value)
    if v is None:
        return ""
    if isinstance(v, Money):
        return str(v)
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, dt.date | int | float):
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    text = str(v)
    return "\t" + text if _LONG_DIGITS.fullmatch(text) else text


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, lang: str | None = "zh-CN") -> bytes:
    """The one CSV writer: UTF-8 with a BOM, CRLF rows, every cell through ``csv_value``.

    ``headers`` are gettext msgids translated to ``lang`` (zh-CN by default); ``lang=None``
    writes them as given (a layout that must stay fixed, such as the registry import columns).
    Rows may also hold ``[]`` to leave a blank line between two tables of one file.
    """
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_value(h) for h in header_row(headers, lang)])
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def header_row(headers: Sequence[str], lang: str | None) -> list[str]:
    """Header msgids in the caller's language (as given when ``lang`` is None)."""
    return [h if lang is None else i18n.gettext(lang, h) for h in headers]
