"""Reading a civil-affairs list (民政名单) of deceased / moved / in-hospital elders (pure, no database).

The file is read by the registry import's reader (``registry.importing.read_table``: XLSX,
CSV in UTF-8 with or without a BOM, GB18030), so the same uploads work here. Columns are
found by their usual headers (身份证号, 姓名, 情形, 日期, 备注 and English equivalents); each
row becomes a ``ListRow`` with its problems in words ("第3行：日期无法识别").
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from canteen.core.errors import DomainError, register
from canteen.registry.importing import FIELD_ALIASES, Table, normalise_name, parse_date_cell
from canteen.registry.national_id import parse_national_id

register("civil_columns_missing", 422)

EVENTS = ("deceased", "moved", "in_hospital")
# What each event does to the elder's status (read registry.services.set_status): a stay in
# hospital is a pause, not an end, so it is the existing "suspended".
TARGET_STATUS = {"deceased": "deceased", "moved": "moved", "in_hospital": "suspended"}
ENDING_EVENTS = frozenset({"deceased", "moved"})
EVENT_WORDS = {
    "deceased": ("死亡", "deceased"),
    "moved": ("迁出", "moved away"),
    "in_hospital": ("住院", "in hospital"),
}

EVENT_ALIASES: dict[str, str] = {
    "死亡": "deceased", "去世": "deceased", "已故": "deceased", "病故": "deceased", "身故": "deceased",
    "deceased": "deceased", "dead": "deceased", "death": "deceased", "died": "deceased",
    "迁出": "moved", "迁走": "moved", "户籍迁出": "moved", "搬离": "moved", "外迁": "moved",
    "moved": "moved", "movedaway": "moved", "moved_away": "moved",
    "住院": "in_hospital", "入院": "in_hospital", "in_hospital": "in_hospital",
    "inhospital": "in_hospital", "hospital": "in_hospital", "hospitalised": "in_hospital",
    "hospitalized": "in_hospital",
}  # fmt: skip

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "national_id": FIELD_ALIASES["national_id"],
    "name": FIELD_ALIASES["name"],
    "event": ("情形", "情况", "变动情形", "变动情况", "变动类型", "类型", "事项", "event", "kind", "type"),
    "date": ("日期", "发生日期", "变动日期", "死亡日期", "迁出日期", "入院日期", "date", "eventdate"),
    "note": ("备注", "说明", "note", "notes", "remark", "remarks"),
}
REQUIRED = ("national_id", "event", "date")
COLUMN_WORDS = {
    "national_id": ("身份证号", "ID number"),
    "name": ("姓名", "name"),
    "event": ("情形", "event"),
    "date": ("日期", "date"),
    "note": ("备注", "note"),
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    field: str
    code: str
    zh: str
    en: str


@dataclass(slots=True)
class ListRow:
    """One row as read: the values that could be read and what is wrong with it, in words."""

    row: int
    national_id: str | None = None
    name: str = ""
    event: str | None = None
    event_date: dt.date | None = None
    note: str = ""
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)

    def add(self, fld: str, code: str, zh: str, en: str, *, warning: bool = False) -> None:
        p = RowProblem(fld, code, f"第{self.row}行：{zh}", f"row {self.row}: {en}")
        (self.warnings if warning else self.problems).append(p)


def _norm(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).lower()
    s = re.sub(r"\s+", "", s).replace("*", "").rstrip(":")
    return re.sub(r"\((必填|选填)\)", "", s)


def match_columns(headers: Sequence[str]) -> dict[str, int]:
    """``{column: index}`` for the headers this list understands (the leftmost wins)."""
    found: dict[str, int] = {}
    normed = [_norm(h) for h in headers]
    for col, aliases in COLUMN_ALIASES.items():
        for i, h in enumerate(normed):
            if h in aliases and i not in found.values():
                found[col] = i
                break
    return found


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    return unicodedata.normalize("NFKC", str(v)).strip()


def read_rows(table: Table, *, today: dt.date) -> list[ListRow]:
    """Every data row of ``table`` read and checked on its own (duplicates are judged later,
    against the register). Refuses a file without the required columns (``civil_columns_missing``)."""
    cols = match_columns(table.headers)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise DomainError(
            "civil_columns_missing",
            {
                "field": "file",
                "missing": missing,
                "missing_words": "、".join(COLUMN_WORDS[c][0] for c in missing),
            },
        )
    out: list[ListRow] = []
    for number, cells in table.rows:

        def cell(col: str, cells: tuple[object, ...] = cells) -> object:
            i = cols.get(col)
            return cells[i] if i is not None and i < len(cells) else None

        r = ListRow(number)
        raw_id = _cell_text(cell("national_id")).upper()
        if not raw_id:
            r.add("national_id", "id_missing", "没有填写身份证号", "the ID number is empty")
        else:
            try:
                r.national_id = parse_national_id(raw_id, today=today).number
            except DomainError:
                r.add("national_id", "id_malformed", "身份证号格式不对（应为18位，最后一位可以是X）",
                      "the ID number is malformed (18 characters, the last may be X)")  # fmt: skip
        r.name = normalise_name(cell("name"))[:50]  # type: ignore[arg-type]
        raw_event = _cell_text(cell("event"))
        event = EVENT_ALIASES.get(_norm(raw_event))
        if event is None:
            shown = raw_event[:20]
            r.add("event", "bad_event", f"情形“{shown}”无法识别（应为 死亡、迁出 或 住院）",
                  f"the event “{shown}” is not known (use deceased, moved or in hospital)")  # fmt: skip
        r.event = event
        raw_date = cell("date")
        day = parse_date_cell(raw_date)  # type: ignore[arg-type]
        if day is None:
            shown = _cell_text(raw_date)[:20]
            r.add("date", "bad_date", f"日期“{shown}”无法识别（例如 2026-11-20）",
                  f"the date “{shown}” cannot be read (write it like 2026-11-20)")  # fmt: skip
        elif day > today:
            r.add(
                "date",
                "date_future",
                f"日期{day.isoformat()}在今天之后",
                f"the date {day.isoformat()} is in the future",
            )
        elif day < today - dt.timedelta(days=3660):
            r.add(
                "date",
                "date_too_old",
                f"日期{day.isoformat()}早于十年前",
                f"the date {day.isoformat()} is over ten years ago",
            )
        else:
            r.event_date = day
        r.note = re.sub(r"\s+", " ", _cell_text(cell("note")))[:300]
        out.append(r)
    return out
