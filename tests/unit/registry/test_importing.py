"""Elder import: reading uploads, mapping headers, the dry run, fingerprints, export."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.core.crypto import PiiCipher
from canteen.core.errors import DomainError
from canteen.demo.people import GONGSHU_COMMUNITIES, make_import_workbook, make_people
from canteen.registry.importing import (
    EXPORT_HEADERS,
    Cell,
    DryRun,
    Row,
    Table,
    draft_fingerprint,
    export_rows,
    normalise_phone,
    parse_date_cell,
    read_table,
    suggest_mapping,
    validate_rows,
    write_csv,
    write_xlsx,
)
from canteen.registry.national_id import make_national_id

TODAY = date(2025, 6, 1)
COMMUNITIES = {c.name: c.id for c in GONGSHU_COMMUNITIES}
NAMES = {c.id: c.name for c in GONGSHU_COMMUNITIES}
ID_A = make_national_id("330105", date(1943, 5, 2), 123)  # a man, 82
ID_B = make_national_id("330105", date(1950, 10, 1), 244)  # a woman, 74

HEADERS = ["序号", "姓名", "性别", "出生日期", "身份证号码", "联系电话", "家庭住址", "所属社区", "居住情况",
           "补贴类别", "类别有效期至", "饮食禁忌", "过敏", "紧急联系人", "紧急联系电话"]  # fmt: skip


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    lines = [",".join(HEADERS)] + [",".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


GOOD = ["1", "王建国", "男", "1943-05-02", ID_A, "138 1234 5678", "大关路12号3幢201室", "大关西苑社区",
        "独居", "低保、失能", "2026-12-31", "低盐，软食", "花生", "王伟", "13900001111"]  # fmt: skip


def _dry(data: bytes, filename: str = "名单.csv") -> DryRun:
    table = read_table(filename, data)
    return validate_rows(table, suggest_mapping(table.headers), communities=COMMUNITIES, today=TODAY)


# --- the headline case -------------------------------------------------------


def test_thousand_rows_with_twenty_bad_names_exactly_those_rows() -> None:
    wb = make_import_workbook(1000, 20, seed=2025, communities=GONGSHU_COMMUNITIES, today=TODAY)
    assert len(wb.bad_rows) == 20
    dry = _dry(wb.data, "助餐名单.xlsx")
    assert len(dry.rows) == 1000
    assert len(dry.drafts) == 980
    assert dry.bad_rows == sorted(wb.bad_rows)
    assert not dry.ok
    # Every bad row is explained in words, in both languages, with its row number.
    for result in dry.rows:
        if result.draft is None:
            assert result.problems
            for p in result.problems:
                assert p.zh.startswith(f"第{result.row}行：") and p.en.startswith(f"row {result.row}: ")
    codes = {wb.bad_rows[p.row]: p.code for p in dry.problems}
    assert codes["checksum"] == "id_checksum"
    assert codes["unknown_community"] == "community_unknown"
    assert codes["missing_name"] == "name_missing"
    assert codes["bad_phone"] == "phone_invalid"
    assert codes["unknown_category"] == "category_unknown"
    assert {p.code for p in dry.problems if wb.bad_rows[p.row] == "future_birth_date"} >= {"id_birth_date"}


def test_workbook_and_drafts_are_deterministic() -> None:
    a = make_import_workbook(200, 5, seed=1, communities=GONGSHU_COMMUNITIES, today=TODAY)
    b = make_import_workbook(200, 5, seed=1, communities=GONGSHU_COMMUNITIES, today=TODAY)
    assert a.bad_rows == b.bad_rows
    da, db = _dry(a.data, "a.xlsx"), _dry(b.data, "b.xlsx")
    assert da == db
    assert [draft_fingerprint(d) for _, d in da.drafts] == [draft_fingerprint(d) for _, d in db.drafts]


# --- reading files -------------------------------------------------------------


def test_csv_in_gb18030_parses() -> None:
    dry = _dry(_csv([GOOD], "gb18030"), "名单.csv")
    assert dry.ok, dry.problems
    ((row, draft),) = dry.drafts
    assert row == 2
    assert draft.name == "王建国" and draft.address == "大关路12号3幢201室"
    assert [c.code for c in draft.categories] == ["dibao", "disabled"]
    assert all(c.valid_until == date(2026, 12, 31) for c in draft.categories)
    assert draft.diet == ("low_salt", "soft")
    assert draft.phone == "13812345678"
    assert draft.living_situation == "alone"
    assert draft.community_id == COMMUNITIES["大关西苑社区"]


def test_csv_utf8_with_bom_and_without_read_the_same() -> None:
    plain = read_table("a.csv", _csv([GOOD]))
    bom = read_table("a.csv", b"\xef\xbb\xbf" + _csv([GOOD]))
    assert plain == bom
    assert plain.headers[0] == "序号"


def test_semicolon_csv_and_title_row_above_headers() -> None:
    text = "拱墅区大关街道助餐老人登记表;;\r\n姓名;身份证号;社区\r\n张秀英;" + ID_B + ";大关西苑\r\n"
    table = read_table("x.csv", text.encode("utf-8"))
    assert table.headers == ["姓名", "身份证号", "社区"]
    assert table.rows == [Row(3, ("张秀英", ID_B, "大关西苑"))]
    dry = validate_rows(table, suggest_mapping(table.headers), communities=COMMUNITIES, today=TODAY)
    assert dry.drafts[0][1].community_id == COMMUNITIES["大关西苑社区"]  # "社区" suffix optional


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"),
        ("名单.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100),
        ("名单.xlsx", b"PK\x03\x04" + b"\x00" * 100),  # a damaged zip
        ("binary.csv", b"\x00\x01\x02\x03" * 50),
    ],
)
def test_non_spreadsheet_upload_is_refused(filename: str, data: bytes) -> None:
    with pytest.raises(DomainError) as err:
        read_table(filename, data)
    assert err.value.code == "import_file_type"
    assert err.value.status == 415


def test_docx_is_a_zip_but_not_a_workbook() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(DomainError) as err:
        read_table("名单.xlsx", buf.getvalue())
    assert err.value.code == "import_file_type"


def test_too_large_and_empty() -> None:
    with pytest.raises(DomainError) as err:
        read_table("big.csv", _csv([GOOD]), max_bytes=100)
    assert (err.value.code, err.value.status) == ("import_file_too_large", 413)
    with pytest.raises(DomainError) as err:
        read_table("many.csv", _csv([GOOD] * 30), max_rows=10)
    assert err.value.code == "import_file_too_large"
    for data in (b"", b"  \r\n", ",".join(HEADERS).encode()):
        with pytest.raises(DomainError) as err:
            read_table("empty.csv", data)
        assert (err.value.code, err.value.status) == ("import_empty", 422)


def test_xlsx_with_real_and_text_dates_and_numeric_cells() -> None:
    rows: list[list[Cell]] = [
        ["李桂英", "女", date(1950, 10, 1), ID_B, 13812345678, "和睦路1号", "和睦新村社区", None],
        [
            "赵忠",
            "男",
            "1943/5/2",
            ID_A,
            "0571-88001234",
            "和睦路2号",
            "和睦新村社区",
            "高龄、低保(2024-12-31)",
        ],
    ]
    data = write_xlsx(["姓名", "性别", "出生日期", "身份证号", "手机", "地址", "社区", "类别"], rows)
    dry = _dry(data, "x.xlsx")
    assert dry.ok, dry.problems
    (_, a), (_, b) = dry.drafts
    assert a.phone == "13812345678" and a.birth_date == date(1950, 10, 1)
    assert b.phone == "0571-88001234"
    assert [(c.code, c.valid_until) for c in b.categories] == [("dibao", date(2024, 12, 31))]
    # 高龄 is computed from age, and an expired category is kept but flagged.
    assert {w.code for w in dry.warnings} == {"age_category_ignored", "category_expired"}


def test_id_number_typed_into_a_numeric_excel_cell_gets_a_specific_message() -> None:
    data = write_xlsx(["姓名", "身份证号", "社区"], [["钱金根", float(ID_A), "半山社区"]])
    (problem,) = _dry(data, "x.xlsx").problems
    assert problem.code == "id_stored_as_number"
    assert "文本" in problem.zh


# --- mapping -------------------------------------------------------------------


def test_suggest_mapping_chinese_and_english_headers() -> None:
    m = suggest_mapping(HEADERS)
    assert m["name"] == 1 and m["national_id"] == 4 and m["community"] == 7
    assert m["phone"] == 5 and m["emergency_phone"] == 14 and m["emergency_name"] == 13
    assert "序号" not in m
    m = suggest_mapping(["Name", "ID Number", "Mobile", "Community", "Latitude", "Longitude", "Diet"])
    assert m == {"name": 0, "national_id": 1, "phone": 2, "community": 3, "lat": 4, "lon": 5, "diet": 6}
    # Decorated headers: required marks, hints in brackets, full-width characters.
    m = suggest_mapping(["*姓名", "身份证号码（18位）", "联系电话（手机）", "紧急联系人电话"])
    assert m == {"name": 0, "national_id": 1, "phone": 2, "emergency_phone": 3}


def test_missing_required_columns_are_table_problems() -> None:
    table = Table(headers=["姓名", "电话"], rows=[Row(2, ("张三", "13812345678"))])
    dry = validate_rows(table, suggest_mapping(table.headers), communities=COMMUNITIES, today=TODAY)
    assert {p.field for p in dry.table_problems} == {"national_id", "community"}
    assert "缺少“身份证号”列" in dry.problems[0].zh or "缺少“身份证号”列" in dry.problems[1].zh
    # A sheet kept by one community needs no community column.
    dry = validate_rows(
        table, suggest_mapping(table.headers), communities=COMMUNITIES, today=TODAY, default_community_id=3
    )
    assert [p.field for p in dry.table_problems] == ["national_id"]


# --- row problems in words -----------------------------------------------------


def _row(**changes: str) -> list[str]:
    row = list(GOOD)
    for header, value in changes.items():
        row[HEADERS.index(header)] = value
    return row


@pytest.mark.parametrize(
    ("changes", "code", "zh"),
    [
        ({"身份证号码": ID_A[:-1] + ("0" if ID_A[-1] != "0" else "1")}, "id_checksum", "身份证号校验位错误"),
        ({"身份证号码": "3301051943"}, "id_malformed", "身份证号格式不对"),
        ({"身份证号码": ""}, "id_missing", "身份证号为空"),
        ({"所属社区": "某某社区"}, "community_unknown", "社区“某某社区”不存在"),
        ({"姓名": ""}, "name_missing", "姓名为空"),
        ({"姓名": "王建国2"}, "name_invalid", "姓名“王建国2”含有数字或符号"),
        ({"联系电话": "1381234567"}, "phone_invalid", "联系电话“1381234567”不正确"),
        ({"紧急联系电话": "12345"}, "emergency_phone_invalid", "紧急联系电话“12345”不正确"),
        ({"补贴类别": "低保、贫困户"}, "category_unknown", "类别“贫困户”无法识别"),
        (
            {"出生日期": "1943-05-03"},
            "birth_date_mismatch",
            "出生日期1943-05-03与身份证号中的1943-05-02不一致",
        ),
        ({"出生日期": "去年"}, "birth_date_invalid", "出生日期“去年”无法识别"),
        ({"性别": "女"}, "gender_mismatch", "性别“女”与身份证号不符"),
        ({"居住情况": "住院"}, "living_situation_unknown", "居住情况“住院”无法识别"),
        ({"类别有效期至": "长期"}, "valid_until_invalid", "类别有效期“长期”无法识别"),
    ],
)
def test_row_problems_in_words(changes: dict[str, str], code: str, zh: str) -> None:
    # 15 good rows (distinct IDs of men born the same day), then the changed one: row 17.
    good = [_row(身份证号码=make_national_id("330105", date(1943, 5, 2), 2 * i + 1)) for i in range(15)]
    rows = [*good, _row(**changes)]
    dry = _dry(_csv(rows))
    assert dry.bad_rows == [17]
    (problem,) = dry.problems
    assert problem.code == code
    assert problem.zh.startswith("第17行：") and zh in problem.zh
    assert problem.en.startswith("row 17: ")


def test_checksum_message_in_english() -> None:
    bad = _row(身份证号码=ID_A[:-1] + ("0" if ID_A[-1] != "0" else "1"))
    (problem,) = _dry(_csv([bad])).problems
    assert problem.message("en") == "row 2: ID number checksum is wrong"
    assert problem.message("zh-CN") == "第2行：身份证号校验位错误"


def test_duplicate_id_numbers_block_every_copy() -> None:
    other = _row(身份证号码=ID_B, 姓名="李秀兰", 性别="女", 出生日期="")
    dry = _dry(_csv([GOOD, other, _row(姓名="王建国")]))
    assert dry.bad_rows == [2, 4]
    assert [p.zh for p in dry.problems] == ["第2行：身份证号与第4行重复", "第4行：身份证号与第2行重复"]
    assert [r for r, _ in dry.drafts] == [3]


def test_lower_case_x_spaces_and_full_width_are_normalised() -> None:
    number = next(
        make_national_id("330105", date(1945, 1, d), 7) for d in range(1, 29)
        if make_national_id("330105", date(1945, 1, d), 7).endswith("X")
    )  # fmt: skip
    typed = " " + number[:6] + " " + number[6:-1] + "x"
    dry = _dry(_csv([_row(身份证号码=typed, 出生日期="", 性别="")]))
    assert dry.drafts[0][1].national_id == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("0571-88001234", "0571-88001234"),
        ("057188001234", "0571-88001234"),
        ("010 12345678", "010-12345678"),
        ("88001234", "88001234"),
        ("12812345678", None),
        ("1381234567", None),
        ("电话", None),
    ],
)
def test_phone_normalisation(text: str, expected: str | None) -> None:
    assert normalise_phone(text) == expected


@pytest.mark.parametrize(
    "text", ["1948-03-15", "1948/3/15", "1948.03.15", "1948年3月15日", "19480315", "1948-03-15 00:00:00"]
)
def test_date_spellings(text: str) -> None:
    assert parse_date_cell(text) == date(1948, 3, 15)


def test_excel_serial_date() -> None:
    assert parse_date_cell(17607) == date(1948, 3, 15)


# --- fingerprints --------------------------------------------------------------


def test_fingerprint_ignores_spelling_but_sees_changes() -> None:
    a = _dry(_csv([GOOD])).drafts[0][1]
    respelled = _row(
        补贴类别="失能；低保", 饮食禁忌="软食、低盐", 联系电话="+86 13812345678", 姓名="王 建 国"
    )
    b = _dry(_csv([respelled])).drafts[0][1]
    assert a == b and draft_fingerprint(a) == draft_fingerprint(b)
    c = _dry(_csv([_row(家庭住址="大关路12号3幢202室")])).drafts[0][1]
    assert draft_fingerprint(c) != draft_fingerprint(a)
    keyed = draft_fingerprint(a, cipher=PiiCipher.demo())
    assert keyed != draft_fingerprint(a) and len(keyed) == 64


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_fingerprints_are_stable_under_row_order(seed: int) -> None:
    people = make_people(30, seed=7, today=TODAY)
    headers, rows = export_rows(people, community_names=NAMES)
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    fp = {}
    for data in (write_csv(headers, rows), write_csv(headers, shuffled)):
        dry = _dry(data)
        assert dry.ok
        fp[data] = {d.national_id: draft_fingerprint(d) for _, d in dry.drafts}
    first, second = fp.values()
    assert first == second


# --- export and re-import --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_reimports_to_the_same_drafts(fmt: str) -> None:
    people = make_people(300, seed=11, today=TODAY)
    headers, rows = export_rows(people, community_names=NAMES)
    assert headers == EXPORT_HEADERS
    data = write_xlsx(headers, rows) if fmt == "xlsx" else write_csv(headers, rows)
    dry = _dry(data, f"导出.{fmt}")
    assert dry.ok, dry.problems[:3]
    assert [d for _, d in dry.drafts] == people


def test_csv_export_has_bom_and_guards_ids_and_formulas() -> None:
    data = write_csv(["姓名", "身份证号"], [['=HYPERLINK("x")', ID_A]])
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert "\t" + ID_A in text


def test_xlsx_export_keeps_text_as_text() -> None:
    import openpyxl

    data = write_xlsx(["姓名", "身份证号"], [["=1+1", ID_A]])
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert ws["A2"].value == "=1+1" and ws["A2"].data_type == "s"
    assert ws["B2"].value == ID_A


def test_masked_export() -> None:
    people = make_people(3, seed=1, today=TODAY)
    _, rows = export_rows(people, community_names=NAMES, mask_ids=True)
    for row, person in zip(rows, people, strict=True):
        assert row[3] == person.national_id[:4] + "*" * 10 + person.national_id[-4:]


def test_demo_people_look_like_a_register() -> None:
    people = make_people(2000, seed=3, today=TODAY)
    assert len({p.national_id for p in people}) == 2000
    ages = [TODAY.year - p.birth_date.year for p in people]
    assert min(ages) >= 60 and max(ages) <= 101
    assert 0.55 < sum(65 <= a <= 85 for a in ages) / len(ages) < 0.85
    share = {code: sum(any(c.code == code for c in p.categories) for p in people) / 2000
             for code in ("tekun", "dibao", "living_alone", "severe_disability")}  # fmt: skip
    assert 0.01 < share["tekun"] < 0.06 and 0.05 < share["dibao"] < 0.12
    assert 0.11 < share["living_alone"] < 0.19 and 0.01 < share["severe_disability"] < 0.06
    expired = [c for p in people for c in p.categories if c.valid_until and c.valid_until < TODAY]
    assert expired
    assert make_people(50, seed=3, today=TODAY) == people[:50]
