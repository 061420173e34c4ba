"""Import elders from the spreadsheets community workers keep (pure part, no database).

The flow the DB import service builds on:

1. ``read_table(filename, data)`` turns an upload (XLSX or CSV in UTF-8/GB18030)
   into a ``Table`` of header texts and rows that remember their spreadsheet row
   numbers, or refuses it with ``import_file_type`` / ``import_file_too_large`` /
   ``import_empty``;
2. ``suggest_mapping(table.headers)`` guesses which column holds which field
   from the usual Chinese and English headers (the page lets the worker fix it);
3. ``validate_rows(table, mapping, communities=..., today=...)`` is the dry run:
   every row becomes either a normalised ``ElderDraft`` or problems *in words*
   with the row number ("第17行：身份证号校验位错误");
4. ``draft_fingerprint(draft)`` lets the import skip unchanged elders and update
   changed ones, so running the same file twice changes nothing.

``export_rows`` / ``write_xlsx`` / ``write_csv`` write the same layout back, so
an export can be edited and imported again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from canteen.core import sheets
from canteen.core.categories import CATEGORIES, DIET_LABELS, DIET_TAGS, Category, DietTag
from canteen.core.errors import DomainError, register
from canteen.registry.national_id import age_on, mask_national_id, parse_national_id

if TYPE_CHECKING:
    from canteen.core.crypto import PiiCipher

register("import_file_type", 415)
register("import_file_too_large", 413)
register("import_empty", 422)

# 5 MB matches the request body limit in settings; a district's register of
# 20,000 elders is about 2 MB as XLSX. The uncompressed cap stops a "zip bomb"
# XLSX from exhausting memory before openpyxl has read a single row.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
_MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
# A title row ("某某社区老年人助餐登记表") often sits above the headers; look a
# few rows down for the real header line.
_HEADER_SEARCH_ROWS = 10
ADULT_ELDER_AGE = 60

Cell = str | int | float | date | None

# ---------------------------------------------------------------------------
# Reading files


class Row(NamedTuple):
    """One data row: its number as the spreadsheet shows it, and its cells."""

    number: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """Header texts and the non-empty data rows below them."""

    headers: list[str]
    rows: list[Row]


def read_table(
    filename: str, data: bytes, *, max_bytes: int = MAX_IMPORT_BYTES, max_rows: int = MAX_IMPORT_ROWS
) -> Table:
    """Read an uploaded XLSX or CSV into a ``Table``.

    The content decides the type, the file name only breaks ties: workers rename
    files, and an XLSX saved as "名单.csv" is still an XLSX. Refuses other types
    (``import_file_type``), big files (``import_file_too_large``) and files with
    no header or no data row (``import_empty``).
    """
    return _grid_to_table(_read_grid(filename, data, max_bytes=max_bytes, max_rows=max_rows, peek=False))


# Rows a peek reads: the header search window and a few data rows.
_PEEK_ROWS = _HEADER_SEARCH_ROWS + 40


def peek_table(filename: str, data: bytes, *, max_bytes: int = MAX_IMPORT_BYTES) -> Table:
    """The headers and the first few rows of an upload, refused like ``read_table`` (type, size,
    no header or no data row), without reading the rest: what an upload request checks before
    the job reads, checks and imports every row."""
    return _grid_to_table(_read_grid(filename, data, max_bytes=max_bytes, max_rows=_PEEK_ROWS, peek=True))


def _read_grid(
    filename: str, data: bytes, *, max_bytes: int, max_rows: int, peek: bool
) -> list[tuple[Cell, ...]]:
    if len(data) > max_bytes:
        raise DomainError("import_file_too_large", {"bytes": len(data), "max_bytes": max_bytes})
    if not data.strip():
        raise DomainError("import_empty")
    suffix = PurePath(filename or "").suffix.lower()
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, max_rows, peek=peek)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        # OLE2: legacy .xls / WPS .et. Reading it would need another library
        # (xlrd) for a format Excel itself has saved as .xlsx since 2007.
        raise DomainError("import_file_type", {"filename": filename, "detected": "xls"})
    if suffix in {".csv", ".txt", ".tsv"} or (suffix == "" and _looks_like_text(data)):
        return _read_csv(data, max_rows, filename, peek=peek)
    raise DomainError("import_file_type", {"filename": filename})


def _looks_like_text(data: bytes) -> bool:
    return b"\x00" not in data[:4096]


def _read_xlsx(data: bytes, max_rows: int, *, peek: bool = False) -> list[tuple[Cell, ...]]:
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    import openpyxl  # imported lazily: only imports need it, and it is slow to import

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "xl/workbook.xml" not in names:
                # A .docx or a plain zip: a zip, but not a workbook.
                raise DomainError("import_file_type", {"detected": "zip"})
            if sum(info.file_size for info in zf.infolist()) > _MAX_XLSX_UNCOMPRESSED:
                raise DomainError("import_file_too_large", {"reason": "uncompressed"})
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except DomainError:
        raise
    except Exception:  # openpyxl raises many types for a damaged file; all mean "not readable"
        raise DomainError("import_file_type", {"detected": "damaged_xlsx"}) from None
    try:
        ws = wb.worksheets[0]
        grid: list[tuple[Cell, ...]] = []
        for values in ws.iter_rows(min_row=1, values_only=True):
            grid.append(tuple(_xlsx_value(v) for v in values))
            if peek and len(grid) >= max_rows:
                break
            if len(grid) > max_rows + _HEADER_SEARCH_ROWS:
                raise DomainError("import_file_too_large", {"max_rows": max_rows})
        return grid
    finally:
        wb.close()


def _xlsx_value(v: Any) -> Cell:
    if v is None or isinstance(v, str | int | float):
        return v if not isinstance(v, bool) else str(v)
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, time | timedelta):
        return str(v)
    return str(v)


def _read_csv(data: bytes, max_rows: int, filename: str, *, peek: bool = False) -> list[tuple[Cell, ...]]:
    text = _decode(data, filename)
    first_line = text.split("\n", 1)[0]
    # Excel writes "," (or ";" in some locales), "Unicode text" exports use tabs:
    # the header line's most frequent candidate is the delimiter.
    delimiter = max(",\t;", key=first_line.count)
    grid: list[tuple[Cell, ...]] = []
    for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        grid.append(tuple(record))
        if peek and len(grid) >= max_rows:
            break
        if len(grid) > max_rows + _HEADER_SEARCH_ROWS:
            raise DomainError("import_file_too_large", {"max_rows": max_rows})
    return grid


def _decode(data: bytes, filename: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        # UTF-8 first: it is strict, so GB18030 text almost never decodes as
        # UTF-8 by accident, while the reverse would happen all the time.
        # GB18030 is a superset of GBK/GB2312, what Chinese Excel writes.
        encodings = ("utf-8-sig", "gb18030")
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise DomainError("import_file_type", {"filename": filename, "detected": "binary_or_unknown_encoding"})


def _is_blank(v: Cell) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _grid_to_table(grid: list[tuple[Cell, ...]]) -> Table:
    header_index = None
    first_nonblank = None
    for i, values in enumerate(grid[:_HEADER_SEARCH_ROWS]):
        if all(_is_blank(v) for v in values):
            continue
        if first_nonblank is None:
            first_nonblank = i
        texts = [str(v) for v in values if not _is_blank(v)]
        if len(_match_headers(texts)) >= 2:
            header_index = i
            break
    if header_index is None:
        header_index = first_nonblank
    if header_index is None:
        raise DomainError("import_empty")
    raw_headers = ["" if _is_blank(v) else str(v).strip() for v in grid[header_index]]
    while raw_headers and not raw_headers[-1]:
        raw_headers.pop()
    width = len(raw_headers)
    rows: list[Row] = []
    for offset, values in enumerate(grid[header_index + 1 :], start=header_index + 2):
        cells = tuple(values[:width]) + (None,) * (width - len(values))
        if all(_is_blank(v) for v in cells):
            continue  # blank rows between blocks are common; they are not errors
        rows.append(Row(offset, cells))
    if width == 0 or not rows:
        raise DomainError("import_empty")
    return Table(headers=raw_headers, rows=rows)


# ---------------------------------------------------------------------------
# Column mapping

Field = Literal[
    "name",
    "gender",
    "birth_date",
    "national_id",
    "phone",
    "address",
    "community",
    "living_situation",
    "categories",
    "category_valid_until",
    "diet",
    "allergies",
    "emergency_name",
    "emergency_phone",
    "lat",
    "lon",
]

# Known header spellings per field, compared after normalisation (NFKC, lower
# case, no spaces, no "*"/"(必填)" decorations).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "老人姓名", "名字", "name", "fullname", "eldername"),
    "gender": ("性别", "sex", "gender"),
    "birth_date": ("出生日期", "出生年月", "出生年月日", "生日", "dateofbirth", "birthdate", "dob",
                   "birthday"),
    "national_id": (
        "身份证号", "身份证号码", "身份证", "公民身份号码", "身份证件号码", "证件号码", "证件号",
        "idnumber", "nationalid", "idno", "idcard", "idcardnumber",
    ),
    "phone": ("联系电话", "电话", "手机", "手机号", "手机号码", "本人电话", "联系方式", "phone", "mobile",
              "telephone", "tel", "phonenumber"),
    "address": ("住址", "家庭住址", "居住地址", "现住址", "地址", "详细地址", "家庭地址", "address",
                "homeaddress"),
    "community": ("社区", "所属社区", "社区名称", "居委会", "村(社区)", "所在社区", "community"),
    "living_situation": ("居住情况", "居住状况", "居住方式", "居住类型", "livingsituation",
                         "livingarrangement"),
    "categories": ("类别", "补贴类别", "人员类别", "老人类别", "对象类别", "助餐类别", "补助类别",
                   "categories", "category"),
    "category_valid_until": ("类别有效期至", "有效期至", "有效期", "类别有效期", "认定有效期", "validuntil",
                             "categoryvaliduntil"),
    "diet": ("饮食", "饮食禁忌", "饮食要求", "饮食需求", "饮食习惯", "特殊饮食", "diet", "dietaryneeds"),
    "allergies": ("过敏", "过敏史", "过敏食物", "食物过敏", "allergies", "allergy"),
    "emergency_name": ("紧急联系人", "紧急联系人姓名", "联系人", "家属姓名", "emergencycontact",
                       "emergencycontactname"),
    "emergency_phone": ("紧急联系电话", "紧急联系人电话", "联系人电话", "家属电话", "emergencyphone",
                        "emergencycontactphone"),
    "lat": ("纬度", "lat", "latitude"),
    "lon": ("经度", "lon", "lng", "longitude"),
}  # fmt: skip

REQUIRED_FIELDS = ("name", "national_id")

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "name": ("姓名", "name"),
    "gender": ("性别", "gender"),
    "birth_date": ("出生日期", "birth date"),
    "national_id": ("身份证号", "ID number"),
    "phone": ("联系电话", "phone"),
    "address": ("住址", "address"),
    "community": ("社区", "community"),
    "living_situation": ("居住情况", "living situation"),
    "categories": ("类别", "categories"),
    "category_valid_until": ("类别有效期至", "category valid until"),
    "diet": ("饮食禁忌", "diet"),
    "allergies": ("过敏", "allergies"),
    "emergency_name": ("紧急联系人", "emergency contact"),
    "emergency_phone": ("紧急联系电话", "emergency phone"),
    "lat": ("纬度", "latitude"),
    "lon": ("经度", "longitude"),
}


def _norm_header(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).lower()
    s = re.sub(r"\s+", "", s)
    s = s.replace("*", "").rstrip(":")
    s = re.sub(r"\((必填|选填|可选|必须|optional|required)\)", "", s)
    return s


def _strip_parens(s: str) -> str:
    return re.sub(r"\([^)]*\)", "", s)


def _match_headers(headers: Sequence[str]) -> dict[str, int]:
    exact: dict[str, str] = {}
    for fld, aliases in FIELD_ALIASES.items():
        for alias in aliases:
            exact.setdefault(alias, fld)
    mapping: dict[str, int] = {}
    taken: set[int] = set()
    normed = [_norm_header(h) for h in headers]
    # Exact matches first, in column order (the leftmost column wins a field),
    # so "紧急联系电话" is never taken for "联系电话" by the substring pass.
    for i, h in enumerate(normed):
        for candidate in (h, _strip_parens(h)):
            hit = exact.get(candidate)
            if hit is not None and hit not in mapping:
                mapping[hit] = i
                taken.add(i)
                break
    # Then headers that contain a known spelling ("老人身份证号码（18位）"): the
    # longest alias wins so "联系人电话" beats "电话".
    by_length = sorted(exact.items(), key=lambda kv: -len(kv[0]))
    for i, h in enumerate(normed):
        if i in taken or not h:
            continue
        for alias, fld in by_length:
            if fld in mapping or len(alias) < 2 or (alias.isascii() and len(alias) < 3):
                continue
            if alias in h:
                mapping[fld] = i
                taken.add(i)
                break
    return mapping


def suggest_mapping(headers: Sequence[str]) -> dict[str, int]:
    """Guess ``{field: column index}`` from header texts; unknown columns are left out."""
    return _match_headers(headers)


# ---------------------------------------------------------------------------
# Drafts and problems

Gender = Literal["male", "female"]
LivingSituation = Literal["alone", "with_spouse", "with_children", "other"]


class CategoryClaim(msgspec.Struct, frozen=True, omit_defaults=True):
    """A category the elder is registered under, with the evidence's end date if any."""

    code: str
    valid_until: date | None = None
    note: str | None = None


class ElderDraft(msgspec.Struct, frozen=True, kw_only=True):
    """One elder as read from a spreadsheet row, normalised and validated.

    Deterministic: the same row always yields an equal draft (categories and
    diet tags sorted, texts normalised), which is what makes imports idempotent.
    """

    name: str
    gender: Gender
    birth_date: date
    national_id: str
    community_id: int
    phone: str | None = None
    address: str | None = None
    living_situation: LivingSituation | None = None
    categories: tuple[CategoryClaim, ...] = ()
    diet: tuple[str, ...] = ()
    diet_note: str | None = None  # diet wishes we have no tag for ("不吃辣"), kept in words
    allergies: str | None = None
    emergency_name: str | None = None
    emergency_phone: str | None = None
    lat: float | None = None
    lon: float | None = None


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong (or worth a look) in a row, in words, with the row number."""

    row: int
    field: str
    code: str
    zh: str  # complete sentence with the row: "第17行：身份证号校验位错误"
    en: str  # "row 17: ID number checksum is wrong"

    def message(self, lang: str = "zh-CN") -> str:
        return self.en if lang.startswith("en") else self.zh


class RowResult(msgspec.Struct, frozen=True):
    """The verdict on one spreadsheet row: a draft, or problems that block it."""

    row: int
    draft: ElderDraft | None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()  # do not block the row (expired evidence, under 60 …)


class DryRun(msgspec.Struct, frozen=True):
    """What an import would do, before anything is written."""

    rows: tuple[RowResult, ...]
    table_problems: tuple[Problem, ...] = ()  # e.g. a required column is missing

    @property
    def ok(self) -> bool:
        return not self.table_problems and all(r.draft is not None for r in self.rows)

    @property
    def drafts(self) -> list[tuple[int, ElderDraft]]:
        return [(r.row, r.draft) for r in self.rows if r.draft is not None]

    @property
    def bad_rows(self) -> list[int]:
        return [r.row for r in self.rows if r.draft is None]

    @property
    def problems(self) -> list[Problem]:
        return [*self.table_problems, *(p for r in self.rows for p in r.problems)]

    @property
    def warnings(self) -> list[Problem]:
        return [p for r in self.rows for p in r.warnings]


# ---------------------------------------------------------------------------
# Vocabularies (import synonyms; the codes themselves come from core.categories)

CATEGORY_ALIASES: dict[str, str] = {
    "特困": Category.TEKUN, "特困人员": Category.TEKUN, "特困供养": Category.TEKUN,
    "特困供养人员": Category.TEKUN, "五保": Category.TEKUN, "五保户": Category.TEKUN,
    "低保": Category.DIBAO, "低保户": Category.DIBAO, "低保对象": Category.DIBAO,
    "最低生活保障": Category.DIBAO,
    "低收入": Category.LOW_INCOME, "低边": Category.LOW_INCOME, "低保边缘": Category.LOW_INCOME,
    "低收入家庭": Category.LOW_INCOME,
    "失能": Category.DISABLED, "完全失能": Category.DISABLED, "失能老人": Category.DISABLED,
    "半失能": Category.SEMI_DISABLED, "部分失能": Category.SEMI_DISABLED,
    "重残": Category.SEVERE_DISABILITY, "重度残疾": Category.SEVERE_DISABILITY,
    "一二级残疾": Category.SEVERE_DISABILITY,
    "独居": Category.LIVING_ALONE, "独居老人": Category.LIVING_ALONE,
    "空巢": Category.EMPTY_NEST, "空巢老人": Category.EMPTY_NEST,
    "计划生育特殊家庭": Category.FAMILY_PLANNING_SPECIAL, "计生特殊家庭": Category.FAMILY_PLANNING_SPECIAL,
    "计生特扶": Category.FAMILY_PLANNING_SPECIAL, "失独": Category.FAMILY_PLANNING_SPECIAL,
    "退役军人": Category.VETERAN, "优抚对象": Category.VETERAN, "优抚": Category.VETERAN,
    "退役军人/优抚对象": Category.VETERAN, "重点优抚对象": Category.VETERAN,
}  # fmt: skip
# Labels that mean "no category" and are simply skipped.
_NO_CATEGORY = frozenset({"无", "没有", "-", "—", "/", "否", "none", "n/a"})
# 高龄 is derived from the birth date on the meal date (see core.categories), so
# a worker writing it is right but it is not stored: a warning, not an error.
_AGE_LABELS = frozenset({"高龄", "高龄老人", "80岁以上", "90岁以上"})

DIET_ALIASES: dict[str, str] = {
    "低盐": DietTag.LOW_SALT, "少盐": DietTag.LOW_SALT, "清淡": DietTag.LOW_SALT, "高血压": DietTag.LOW_SALT,
    "低糖": DietTag.LOW_SUGAR, "少糖": DietTag.LOW_SUGAR, "无糖": DietTag.LOW_SUGAR,
    "糖尿病": DietTag.LOW_SUGAR, "低糖(糖尿病)": DietTag.LOW_SUGAR,
    "软食": DietTag.SOFT, "软烂": DietTag.SOFT, "碎食": DietTag.SOFT, "流食": DietTag.SOFT,
    "软食/碎食": DietTag.SOFT, "半流质": DietTag.SOFT,
    "不吃猪肉": DietTag.NO_PORK, "忌猪肉": DietTag.NO_PORK, "不含猪肉": DietTag.NO_PORK,
    "清真": DietTag.NO_PORK, "无猪肉": DietTag.NO_PORK,
    "素食": DietTag.VEGETARIAN, "吃素": DietTag.VEGETARIAN, "全素": DietTag.VEGETARIAN,
}  # fmt: skip

LIVING_ALIASES: dict[str, LivingSituation] = {
    "独居": "alone", "独自居住": "alone", "一人居住": "alone", "alone": "alone",
    "与配偶同住": "with_spouse", "与老伴同住": "with_spouse", "夫妻同住": "with_spouse",
    "配偶": "with_spouse", "with_spouse": "with_spouse",
    "与子女同住": "with_children", "与儿女同住": "with_children", "子女同住": "with_children",
    "with_children": "with_children",
    "其他": "other", "与亲属同住": "other", "与保姆同住": "other", "other": "other",
}  # fmt: skip

GENDER_ALIASES: dict[str, Gender] = {
    "男": "male", "男性": "male", "m": "male", "male": "male", "1": "male",
    "女": "female", "女性": "female", "f": "female", "female": "female", "2": "female",
}  # fmt: skip

# What an export writes, chosen so that it reads back to the same codes (the
# shared display label of veteran contains "/", a list separator here).
EXPORT_CATEGORY_LABELS: dict[str, str] = {
    Category.TEKUN: "特困", Category.DIBAO: "低保", Category.LOW_INCOME: "低收入",
    Category.DISABLED: "失能", Category.SEMI_DISABLED: "半失能", Category.SEVERE_DISABILITY: "重残",
    Category.LIVING_ALONE: "独居", Category.EMPTY_NEST: "空巢",
    Category.FAMILY_PLANNING_SPECIAL: "计划生育特殊家庭", Category.VETERAN: "退役军人",
}  # fmt: skip
EXPORT_DIET_LABELS: dict[str, str] = {
    DietTag.LOW_SALT: "低盐", DietTag.LOW_SUGAR: "低糖", DietTag.SOFT: "软食",
    DietTag.NO_PORK: "不吃猪肉", DietTag.VEGETARIAN: "素食",
}  # fmt: skip
EXPORT_LIVING_LABELS: dict[str, str] = {
    "alone": "独居", "with_spouse": "与配偶同住", "with_children": "与子女同住", "other": "其他",
}  # fmt: skip

# Plain str codes in drafts, not enum members: drafts are data, compared and hashed as such.
CATEGORY_ALIASES = {k: str(v) for k, v in CATEGORY_ALIASES.items()}
DIET_ALIASES = {k: str(v) for k, v in DIET_ALIASES.items()}

assert set(EXPORT_CATEGORY_LABELS) == CATEGORIES and set(EXPORT_DIET_LABELS) == DIET_TAGS
assert set(DIET_LABELS) == DIET_TAGS

# Splits "低保、失能" / "低保,失能" / "低保；失能" / "低保/失能", but not inside
# brackets, so "低保（至2026-12-31）" stays one item.
_LIST_SPLIT = re.compile(r"[、,;/|\s]+(?![^()]*\))")
_INLINE_DATE = re.compile(r"^(?P<label>[^()]+)\((?:至|到|有效期至)?(?P<date>[^)]+)\)$")

_MAX_LEN = {"name": 50, "address": 200, "allergies": 200, "emergency_name": 50, "diet_note": 200}


# ---------------------------------------------------------------------------
# Cell parsing


def _text(v: Cell) -> str:
    """A cell as normalised text: NFKC (full-width → half-width), trimmed."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)  # an integer typed into a numeric cell comes back as 123.0
    if isinstance(v, date):
        return v.isoformat()
    return unicodedata.normalize("NFKC", str(v)).strip()


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date_cell(v: Cell) -> date | None:
    """A real date, a text date (1948-03-15, 1948/3/15, 1948年3月15日, 19480315) or an Excel serial.

    Returns None when the cell cannot be read as a date.
    """
    if isinstance(v, date):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        if 20000101 >= v >= 18000101 and float(v).is_integer():
            v = str(int(v))
        elif 1 <= v < 80000:
            # A date cell that lost its format shows the serial day number.
            return _EXCEL_EPOCH + timedelta(days=int(v))
        else:
            return None
    s = _text(v)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(s)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")
_LOCAL = re.compile(r"^[2-9]\d{6,7}$")


def normalise_phone(v: Cell) -> str | None:
    """A Chinese mobile (11 digits from 1) or a landline, normalised; None if neither.

    Mobiles become ``13812345678`` (a +86 prefix dropped); landlines with an
    area code become ``0571-88001234`` (3-digit codes for 010 and 02x, else
    4); a local number without area code stays as typed digits.
    """
    s = _text(v)
    if not s:
        return None
    digits = re.sub(r"[\s\-()]", "", s)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not digits.isascii() or not digits.isdigit():
        return None
    if _MOBILE.match(digits):
        return digits
    if _LANDLINE.match(digits):
        area = 3 if digits[1] in "12" else 4
        number = digits[area:]
        if 7 <= len(number) <= 8:
            return f"{digits[:area]}-{number}"
        return None
    if _LOCAL.match(digits):
        return digits
    return None


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff"
_NAME_OK = re.compile(rf"^[{_CJK}A-Za-z·. ]+$")


def normalise_name(v: Cell) -> str:
    """Trim and drop the spaces people put between Chinese characters ("张  三" → "张三").

    Spaces between Latin letters stay ("John Smith"); the middle dots of
    minority names (阿依古丽·买买提) are unified to "·".
    """
    s = _text(v).replace("•", "·").replace("・", "·")
    s = re.sub(rf"\s+(?=[{_CJK}·])|(?<=[{_CJK}·])\s+", "", s)
    return re.sub(r"\s+", " ", s)


def _clean_text(v: Cell) -> str | None:
    s = re.sub(r"\s+", " ", _text(v))
    return s or None


def _split_list(v: Cell) -> list[str]:
    s = _text(v)
    if not s:
        return []
    return [t for t in _LIST_SPLIT.split(s) if t]


def _parse_float(v: Cell) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    try:
        return float(_text(v))
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Validation


class _RowCheck:
    """Collects the problems of one row; keeps the messages in one place."""

    def __init__(self, row: int):
        self.row = row
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, fld: str, code: str, zh: str, en: str, *, warning: bool = False) -> None:
        p = Problem(self.row, fld, code, f"第{self.row}行：{zh}", f"row {self.row}: {en}")
        (self.warnings if warning else self.problems).append(p)


def _community_index(communities: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    exact: dict[str, int] = {}
    base: dict[str, int | None] = {}
    for name, cid in communities.items():
        key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))
        exact[key] = cid
        stem = _community_stem(key)
        # Two communities sharing a stem ("新华社区", "新华村") make the stem
        # ambiguous: only their full names match then.
        base[stem] = cid if stem not in base or base[stem] == cid else None
    return exact, {k: v for k, v in base.items() if v is not None}


def _community_stem(name: str) -> str:
    return re.sub(r"(社区居委会|社区居民委员会|居委会|社区|村委会|村)$", "", name) or name


def validate_rows(
    table: Table,
    mapping: Mapping[str, int],
    *,
    communities: Mapping[str, int],
    today: date,
    default_community_id: int | None = None,
    on_rows: Callable[[int, int], None] | None = None,
) -> DryRun:
    """Dry-run an import: a normalised ``ElderDraft`` or worded problems per row.

    ``communities`` maps community names (of the importing worker's scope) to
    ids; "拱宸桥" also finds "拱宸桥社区". ``default_community_id`` fills rows
    (or a whole file) without a community, as in a sheet kept by one community.
    Duplicate ID numbers inside the file block *every* row that carries them:
    which row is right is the worker's call, not ours. ``on_rows(done, total)`` is called
    every few hundred rows (a job's progress).
    """
    missing = [f for f in REQUIRED_FIELDS if f not in mapping]
    if "community" not in mapping and default_community_id is None:
        missing.append("community")
    if missing:
        table_problems = tuple(
            Problem(
                1,
                f,
                "column_missing",
                f"表头：缺少“{FIELD_LABELS[f][0]}”列",
                f"headers: the “{FIELD_LABELS[f][1]}” column is missing",
            )
            for f in missing
        )
        return DryRun(rows=(), table_problems=table_problems)

    exact, stems = _community_index(communities)
    checked: list[tuple[_RowCheck, ElderDraft | None, str | None]] = []
    total = len(table.rows)
    for i, row in enumerate(table.rows, start=1):
        check = _RowCheck(row.number)
        draft, id_number = _validate_row(row, mapping, check, exact, stems, today, default_community_id)
        checked.append((check, draft, id_number))
        if on_rows is not None and (i % 500 == 0 or i == total):
            on_rows(i, total)

    rows_by_id: dict[str, list[int]] = {}
    for check, _draft, id_number in checked:
        if id_number is not None:
            rows_by_id.setdefault(id_number, []).append(check.row)
    results: list[RowResult] = []
    for check, draft, id_number in checked:
        others = [r for r in rows_by_id.get(id_number or "", []) if r != check.row]
        if others:
            listed = "、".join(str(r) for r in others)
            check.add(
                "national_id",
                "id_duplicate",
                f"身份证号与第{listed}行重复",
                f"ID number duplicates row {', '.join(str(r) for r in others)}",
            )
        ok = draft is not None and not check.problems
        results.append(
            RowResult(
                row=check.row,
                draft=draft if ok else None,
                problems=tuple(check.problems),
                warnings=tuple(check.warnings),
            )
        )
    return DryRun(rows=tuple(results))


def _validate_row(
    row: Row,
    mapping: Mapping[str, int],
    check: _RowCheck,
    communities: dict[str, int],
    community_stems: dict[str, int],
    today: date,
    default_community_id: int | None,
) -> tuple[ElderDraft | None, str | None]:
    def cell(fld: str) -> Cell:
        i = mapping.get(fld)
        return row.cells[i] if i is not None and i < len(row.cells) else None

    # Name
    name = normalise_name(cell("name"))
    if not name:
        check.add("name", "name_missing", "姓名为空", "name is missing")
    elif not _NAME_OK.match(name):
        check.add("name", "name_invalid", f"姓名“{name}”含有数字或符号",
                  f"name “{name}” contains digits or symbols")  # fmt: skip
    elif len(name) > _MAX_LEN["name"]:
        check.add("name", "too_long", "姓名太长", "name is too long")

    # ID number: the source of truth for birth date and gender.
    raw_id = cell("national_id")
    id_number: str | None = None
    parsed = None
    if _is_blank(raw_id):
        check.add("national_id", "id_missing", "身份证号为空", "ID number is missing")
    else:
        try:
            parsed = parse_national_id(_text(raw_id), today=today)
            id_number = parsed.number
        except DomainError as e:
            _id_problem(check, e, raw_id)

    # Gender and birth date columns are optional; when present they must agree
    # with the ID number (a disagreement usually means a row was shifted).
    gender_text = _text(cell("gender")).lower()
    gender = GENDER_ALIASES.get(gender_text) if gender_text else None
    if gender_text and gender is None:
        check.add("gender", "gender_invalid", f"性别“{gender_text}”无法识别（请填“男”或“女”）",
                  f"gender “{gender_text}” not recognised (use male or female)")  # fmt: skip
    elif parsed and gender and gender != parsed.gender:
        check.add("gender", "gender_mismatch", f"性别“{gender_text}”与身份证号不符",
                  f"gender “{gender_text}” disagrees with the ID number")  # fmt: skip

    raw_birth = cell("birth_date")
    if not _is_blank(raw_birth):
        birth = parse_date_cell(raw_birth)
        if birth is None:
            check.add("birth_date", "birth_date_invalid",
                      f"出生日期“{_text(raw_birth)}”无法识别（例如 1948-03-15）",
                      f"birth date “{_text(raw_birth)}” not recognised (e.g. 1948-03-15)")  # fmt: skip
        elif birth > today:
            check.add("birth_date", "birth_date_future", f"出生日期{birth.isoformat()}在今天之后",
                      f"birth date {birth.isoformat()} is in the future")  # fmt: skip
        elif parsed and birth != parsed.birth_date:
            check.add("birth_date", "birth_date_mismatch",
                      f"出生日期{birth.isoformat()}与身份证号中的{parsed.birth_date.isoformat()}不一致",
                      f"birth date {birth.isoformat()} disagrees with the ID number "
                      f"({parsed.birth_date.isoformat()})")  # fmt: skip
    if parsed and age_on(parsed.birth_date, today) < ADULT_ELDER_AGE:
        check.add("national_id", "under_60", f"未满{ADULT_ELDER_AGE}周岁，请确认是否符合助餐条件",
                  f"younger than {ADULT_ELDER_AGE}; check eligibility", warning=True)  # fmt: skip

    phone = _phone(check, "phone", cell("phone"), "联系电话", "phone")
    emergency_phone = _phone(
        check, "emergency_phone", cell("emergency_phone"), "紧急联系电话", "emergency phone"
    )

    # Community
    community_id: int | None = None
    community_text = re.sub(r"\s+", "", _text(cell("community")))
    if community_text:
        community_id = communities.get(community_text)
        if community_id is None:
            community_id = community_stems.get(_community_stem(community_text))
        if community_id is None:
            check.add("community", "community_unknown", f"社区“{community_text}”不存在",
                      f"community “{community_text}” unknown")  # fmt: skip
    elif default_community_id is not None:
        community_id = default_community_id
    else:
        check.add("community", "community_missing", "社区为空", "community is missing")

    # Living situation
    living: LivingSituation | None = None
    living_text = re.sub(r"\s+", "", _text(cell("living_situation")))
    if living_text:
        living = LIVING_ALIASES.get(living_text.lower())
        if living is None:
            check.add("living_situation", "living_situation_unknown",
                      f"居住情况“{living_text}”无法识别（可填：独居、与配偶同住、与子女同住、其他）",
                      f"living situation “{living_text}” not recognised "
                      "(alone, with spouse, with children, other)")  # fmt: skip

    categories = _categories(check, cell("categories"), cell("category_valid_until"), today)
    diet, diet_note = _diet(cell("diet"))

    address = _clean_text(cell("address"))
    allergies = _clean_text(cell("allergies"))
    emergency_name = normalise_name(cell("emergency_name")) or None
    for fld, value in (("address", address), ("allergies", allergies), ("emergency_name", emergency_name),
                       ("diet_note", diet_note)):  # fmt: skip
        if value and len(value) > _MAX_LEN[fld]:
            label = FIELD_LABELS.get(fld, ("饮食禁忌", "diet"))
            check.add(fld, "too_long", f"{label[0]}太长（最多{_MAX_LEN[fld]}个字）",
                      f"{label[1]} is too long (at most {_MAX_LEN[fld]} characters)")  # fmt: skip

    lat, lon = _coordinates(check, cell("lat"), cell("lon"))

    if check.problems or parsed is None or community_id is None:
        return None, id_number
    draft = ElderDraft(
        name=name,
        gender=parsed.gender,
        birth_date=parsed.birth_date,
        national_id=parsed.number,
        community_id=community_id,
        phone=phone,
        address=address,
        living_situation=living,
        categories=categories,
        diet=diet,
        diet_note=diet_note,
        allergies=allergies,
        emergency_name=emergency_name,
        emergency_phone=emergency_phone,
        lat=lat,
        lon=lon,
    )
    return draft, id_number


def _id_problem(check: _RowCheck, error: DomainError, raw: Cell) -> None:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and abs(raw) >= 1e15:
        # Excel keeps 15 significant digits: an 18-digit number typed into a
        # numeric cell has already lost its last digits. Say so, or the worker
        # will retype the same number into the same cell.
        check.add("national_id", "id_stored_as_number",
                  "身份证号被Excel存成了数字，后几位已丢失；请把该列设为“文本”后重新填写",
                  "the ID number was stored by Excel as a number and lost its last digits; "
                  "format the column as text and type it again")  # fmt: skip
        return
    if error.code == "id_number_checksum":
        check.add("national_id", "id_checksum", "身份证号校验位错误", "ID number checksum is wrong")
    elif error.code == "id_number_birth_date":
        reason = error.detail.get("reason")
        zh, en = {
            "future": ("身份证号中的出生日期在今天之后", "the birth date in the ID number is in the future"),
            "too_old": ("身份证号显示年龄超过120岁", "the ID number gives an age over 120"),
        }.get(
            str(reason), ("身份证号中的出生日期不存在", "the birth date in the ID number is not a real date")
        )
        check.add("national_id", "id_birth_date", zh, en)
    else:
        check.add("national_id", "id_malformed", "身份证号格式不对（应为18位，最后一位可以是X）",
                  "ID number is malformed (18 characters, the last may be X)")  # fmt: skip


def _phone(check: _RowCheck, fld: str, raw: Cell, zh_label: str, en_label: str) -> str | None:
    text = _text(raw)
    if not text:
        return None
    whole = normalise_phone(text)  # "0571 88001234" is one number, not two
    if whole is not None:
        return whole
    parts = [p for p in re.split(r"[/、,;\s]+(?=[+\d(])", text) if p]
    numbers = [normalise_phone(p) for p in parts]
    if not numbers or any(n is None for n in numbers):
        check.add(fld, f"{fld}_invalid",
                  f"{zh_label}“{text}”不正确（手机号为1开头的11位数字，座机如0571-88001234）",
                  f"{en_label} “{text}” is not valid (a mobile has 11 digits starting with 1; "
                  "a landline looks like 0571-88001234)")  # fmt: skip
        return None
    if len(numbers) > 1:
        check.add(fld, f"{fld}_several", f"{zh_label}填了多个号码，只保存第一个：{numbers[0]}",
                  f"{en_label} has several numbers; only the first is kept: {numbers[0]}",
                  warning=True)  # fmt: skip
    return numbers[0]


def _categories(check: _RowCheck, raw: Cell, raw_until: Cell, today: date) -> tuple[CategoryClaim, ...]:
    row_until: date | None = None
    if not _is_blank(raw_until):
        row_until = parse_date_cell(raw_until)
        if row_until is None:
            check.add("category_valid_until", "valid_until_invalid",
                      f"类别有效期“{_text(raw_until)}”无法识别（例如 2026-12-31）",
                      f"category valid-until “{_text(raw_until)}” not recognised "
                      "(e.g. 2026-12-31)")  # fmt: skip
    found: dict[str, CategoryClaim] = {}
    for token in _split_list(raw):
        label, until = token, row_until
        code = CATEGORY_ALIASES.get(label) or (label if label in CATEGORIES else None)
        if code is None:
            m = _INLINE_DATE.match(token)
            if m:
                label = m["label"].strip()
                code = CATEGORY_ALIASES.get(label) or (label if label in CATEGORIES else None)
                until = parse_date_cell(m["date"].strip())
                if code is not None and until is None:
                    check.add("categories", "valid_until_invalid",
                              f"类别“{token}”中的日期无法识别（例如 低保(2026-12-31)）",
                              f"the date in category “{token}” is not recognised "
                              "(e.g. 低保(2026-12-31))")  # fmt: skip
                    continue
        if label.lower() in _NO_CATEGORY:
            continue
        if label in _AGE_LABELS:
            check.add("categories", "age_category_ignored", f"“{label}”按出生日期自动计算，无需填写",
                      f"“{label}” is computed from the birth date and not stored", warning=True)  # fmt: skip
            continue
        if code is None:
            check.add("categories", "category_unknown",
                      f"类别“{token}”无法识别（可填：{'、'.join(EXPORT_CATEGORY_LABELS.values())}）",
                      f"category “{token}” not recognised")  # fmt: skip
            continue
        if until is not None and until < today:
            check.add("categories", "category_expired",
                      f"类别“{EXPORT_CATEGORY_LABELS[code]}”的有效期已过（{until.isoformat()}），不能享受相应补贴",
                      f"category “{code}” expired on {until.isoformat()} and gives no subsidy",
                      warning=True)  # fmt: skip
        previous = found.get(code)
        # The same category twice: keep the later end date, deterministically.
        if previous is None or (until or date.max) > (previous.valid_until or date.max):
            found[code] = CategoryClaim(code=code, valid_until=until)
    return tuple(found[c] for c in sorted(found))


def _diet(raw: Cell) -> tuple[tuple[str, ...], str | None]:
    tags: set[str] = set()
    other: list[str] = []
    for token in _split_list(raw):
        if token.lower() in _NO_CATEGORY:
            continue
        tag = DIET_ALIASES.get(token) or (token if token in DIET_TAGS else None)
        if tag is None:
            if token not in other:
                other.append(token)
        else:
            tags.add(tag)
    return tuple(sorted(tags)), ("、".join(other) or None)


def _coordinates(check: _RowCheck, raw_lat: Cell, raw_lon: Cell) -> tuple[float | None, float | None]:
    if _is_blank(raw_lat) and _is_blank(raw_lon):
        return None, None
    lat, lon = _parse_float(raw_lat), _parse_float(raw_lon)
    if lat is None or lon is None or not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        swapped = lat is not None and lon is not None and abs(lat) > 90 and abs(lon) <= 90
        hint_zh = "（是否把经度和纬度填反了？）" if swapped else ""
        hint_en = " (latitude and longitude swapped?)" if swapped else ""
        check.add("lat", "coordinates_invalid",
                  f"经纬度“{_text(raw_lat)}, {_text(raw_lon)}”不正确{hint_zh}",
                  f"coordinates “{_text(raw_lat)}, {_text(raw_lon)}” are not valid{hint_en}")  # fmt: skip
        return None, None
    # Six decimals is ~0.1 m; rounding keeps float noise out of the fingerprint.
    return round(lat, 6), round(lon, 6)


# ---------------------------------------------------------------------------
# Fingerprints

_FINGERPRINT_VERSION = b"elder-draft/v1\x00"


def draft_fingerprint(draft: ElderDraft, *, cipher: PiiCipher | None = None) -> str:
    """A stable hash of a draft's normalised content (64 hex characters).

    Equal drafts give equal fingerprints whatever the row order or spelling in
    the file, so the import can skip unchanged elders. Pass the ``cipher`` when
    the fingerprint is stored: the draft holds the ID number, and a keyed hash
    cannot be brute-forced from a leaked table. Adding a field to ElderDraft
    changes every fingerprint once (the next import then updates every elder),
    which is why the canonical form is versioned.
    """
    canonical = _FINGERPRINT_VERSION + msgspec.json.encode(draft)
    if cipher is not None:
        return cipher.lookup_hash(canonical.decode("utf-8"), scope="elder_draft")
    return hashlib.sha256(canonical).hexdigest()


# ---------------------------------------------------------------------------
# Export

EXPORT_HEADERS = [
    "姓名", "性别", "出生日期", "身份证号", "联系电话", "住址", "社区", "居住情况", "类别", "类别有效期至",
    "饮食禁忌", "过敏", "紧急联系人", "紧急联系电话", "纬度", "经度",
]  # fmt: skip


def export_rows(
    elders: Iterable[ElderDraft],
    *,
    community_names: Mapping[int, str],
    mask_ids: bool = False,
) -> tuple[list[str], list[list[Cell]]]:
    """Rows in the import layout (Chinese headers), so an export can be edited and re-imported.

    One end date shared by all dated categories goes to "类别有效期至"; differing
    dates are written inline ("低保(2026-12-31)、失能(2025-06-30)"), which the
    import reads back. ``mask_ids`` writes ``3301**********1234`` for exports
    that leave the registry (reports for officials).
    """
    rows: list[list[Cell]] = []
    for e in elders:
        dates = {c.valid_until for c in e.categories if c.valid_until is not None}
        shared = next(iter(dates)) if len(dates) == 1 and all(c.valid_until for c in e.categories) else None
        labels = []
        for c in e.categories:
            label = EXPORT_CATEGORY_LABELS.get(c.code, c.code)
            if c.valid_until is not None and shared is None:
                label = f"{label}({c.valid_until.isoformat()})"
            labels.append(label)
        diet = [EXPORT_DIET_LABELS.get(t, t) for t in e.diet]
        if e.diet_note:
            diet.append(e.diet_note)
        rows.append(
            [
                e.name,
                "男" if e.gender == "male" else "女",
                e.birth_date,
                mask_national_id(e.national_id) if mask_ids else e.national_id,
                e.phone,
                e.address,
                community_names.get(e.community_id, str(e.community_id)),
                EXPORT_LIVING_LABELS.get(e.living_situation or "", None),
                "、".join(labels) or None,
                shared,
                "、".join(diet) or None,
                e.allergies,
                e.emergency_name,
                e.emergency_phone,
                e.lat,
                e.lon,
            ]
        )
    return list(EXPORT_HEADERS), rows


def write_xlsx(
    headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, sheet_title: str = "老人名册"
) -> bytes:
    """An XLSX workbook: bold frozen header row, real date cells, every text cell stored as text.

    Text is forced to the string type so a name like "=HYPERLINK(…)" can never
    become a formula, and ID numbers stay 18-digit text instead of 3.3E+17.
    """
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title)
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers, start=1):
        wide = any(k in h for k in ("身份证", "住址", "地址", "类别", "饮食"))
        ws.column_dimensions[get_column_letter(i)].width = 22 if wide else 12
    bold = Font(bold=True)
    header_cells = []
    for h in headers:
        c = WriteOnlyCell(ws, value=sheets.clean_text(h))
        c.data_type = "s"
        c.font = bold
        header_cells.append(c)
    ws.append(header_cells)
    for values in rows:
        out = []
        for v in values:
            if isinstance(v, str):
                c = WriteOnlyCell(ws, value=sheets.clean_text(v))
                c.data_type = "s"
            elif isinstance(v, date):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd"
            else:
                c = WriteOnlyCell(ws, value=v)
            out.append(c)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """CSV in UTF-8 with a BOM through the one CSV writer of every export (``core.sheets``).

    Long digit strings (ID numbers, phones) get a leading tab so Excel keeps
    them as text rather than rounding them; text that would start a formula
    gets a leading apostrophe (CSV injection). The import strips both. The
    headers are the import layout's and are written as given.
    """
    return sheets.write_csv(headers, rows, lang=None)
