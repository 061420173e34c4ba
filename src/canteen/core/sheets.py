"""Values bound for a spreadsheet cell (XLSX or CSV): one rule for every export.

Control characters are dropped (openpyxl refuses them, and they are never wanted in a report),
anything that is not a number or text becomes text, and text that a spreadsheet would run as a
formula (= + - @) is prefixed with a quote: a name typed into the registry must never execute.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def sheet_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | dt.date):
        return value
    text = _CONTROL.sub("", value if isinstance(value, str) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def sheet_row(values: Iterable[Any]) -> list[Any]:
    return [sheet_value(v) for v in values]
