import csv
import datetime as dt
import io
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from canteen.core.sheets import (
    MONEY_FORMAT,
    Money,
    append_row,
    csv_value,
    money,
    sheet_row,
    sheet_value,
    write_csv,
)


def test_sheet_values_are_safe_for_every_export() -> None:
    assert sheet_value("卖鱼桥\x00幸福\x1f食堂") == "卖鱼桥幸福食堂"
    assert sheet_value('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert sheet_value("-5") == "'-5"
    assert sheet_value(1500) == 1500 and sheet_value(None) is None
    assert sheet_value(dt.date(2026, 11, 23)) == dt.date(2026, 11, 23)
    assert sheet_row(["a", 1, ("x",)]) == ["a", 1, "('x',)"]


def _read_back(rows: list[list[object]]) -> list[tuple[object, ...]]:
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        append_row(ws, row)
    buf = io.BytesIO()
    wb.save(buf)
    back = load_workbook(io.BytesIO(buf.getvalue())).active
    assert back is not None
    return [tuple(c for c in row) for row in back.iter_rows()]


def test_money_is_a_number_formatted_to_the_fen_and_negative_stays_negative() -> None:
    (row,) = _read_back([["退款", Money(-350), Money(1230), money(None), dt.date(2026, 11, 23), "=1+1"]])
    label, refund, amount, empty, day, formula = row
    assert label.value == "退款"  # type: ignore[attr-defined]
    assert refund.value == -3.5 and isinstance(refund.value, float)  # type: ignore[attr-defined]
    assert "0.00" in refund.number_format and refund.number_format == MONEY_FORMAT  # type: ignore[attr-defined]
    assert amount.value == 12.3 and "0.00" in amount.number_format  # type: ignore[attr-defined]
    assert empty.value is None  # type: ignore[attr-defined]
    assert day.value == dt.datetime(2026, 11, 23) and day.number_format == "yyyy-mm-dd"  # type: ignore[attr-defined]
    assert formula.value == "'=1+1" and formula.data_type == "s"  # type: ignore[attr-defined]
    assert str(Money(-350)) == "-3.50" and str(Money(5)) == "0.05"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-10_000_000, 10_000_000), min_size=1, max_size=30))
def test_money_cells_add_up_to_the_fen_total(amounts: list[int]) -> None:
    rows = _read_back([[Money(f)] for f in amounts])
    values = [row[0].value for row in rows]  # type: ignore[attr-defined]
    assert all(isinstance(v, int | float) for v in values)
    assert [round(v * 100) for v in values] == amounts  # exact to the fen, each cell
    assert round(sum(values) * 100) == sum(amounts)  # and the column adds up
    text = write_csv(["x"], [[Money(f)] for f in amounts], lang=None).decode("utf-8-sig")
    cells = list(csv.reader(io.StringIO(text)))[1:]
    assert [Decimal(c[0]) * 100 for c in cells] == amounts


def test_one_csv_writer_bom_safe_cells_translated_headers() -> None:
    rows = [['=HYPERLINK("http://x","点我")', "+1", "-2", "@SUM(A1)", "\tx", Money(-350), 7, "13301234567"]]
    headers = ["Meal point", "Amount (yuan)"]
    zh = write_csv(headers, rows)
    assert zh.startswith(b"\xef\xbb\xbf")
    head, body = list(csv.reader(io.StringIO(zh.decode("utf-8-sig"))))
    assert head == ["助餐点", "金额（元）"]
    assert body == [
        '\'=HYPERLINK("http://x","点我")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "-3.50",
        "7",
        "\t13301234567",
    ]
    en = write_csv(headers, rows, lang="en").decode("utf-8-sig")
    assert en.startswith("Meal point,Amount (yuan)\r\n")
    assert write_csv(["姓名"], [], lang=None).decode("utf-8-sig") == "姓名\r\n"
    assert csv_value(None) == "" and csv_value(dt.date(2026, 1, 2)) == "2026-01-02"
