import datetime as dt

from canteen.core.sheets import sheet_row, sheet_value


def test_sheet_values_are_safe_for_every_export() -> None:
    assert sheet_value("卖鱼桥\x00幸福\x1f食堂") == "卖鱼桥幸福食堂"
    assert sheet_value('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert sheet_value("-5") == "'-5"
    assert sheet_value(1500) == 1500 and sheet_value(None) is None
    assert sheet_value(dt.date(2026, 11, 23)) == dt.date(2026, 11, 23)
    assert sheet_row(["a", 1, ("x",)]) == ["a", 1, "('x',)"]
