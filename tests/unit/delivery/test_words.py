"""People read words and local times (issue #16): the ``localtime`` Jinja filter, the diet and
texture words of labels, and the delivery vocabulary with its map links."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from canteen import i18n
from canteen.core.categories import DIET_TAGS, diet_labels, texture_label
from canteen.web import delivery_words
from canteen.web.pages import local_time

ZH = {"lang": "zh-CN"}
EN = {"lang": "en"}


def test_a_utc_moment_reads_in_shanghai_time_in_both_languages() -> None:
    moment = dt.datetime(2026, 12, 2, 7, 47, tzinfo=dt.UTC)  # 15:47 in Shanghai
    assert local_time(ZH, moment, "time") == "15:47"
    assert local_time(ZH, moment) == "2026年12月2日 15:47"
    assert local_time(EN, moment) == "Dec 2, 2026 15:47"
    assert local_time(ZH, moment, "day") == "12月2日周三"
    # The cut-off a kitchen saw as "2026-12-02T01:00:00+00:00".
    assert local_time(ZH, "2026-12-02T01:00:00+00:00") == "2026年12月2日 09:00"
    # Late in the UTC evening is already the next day in Shanghai.
    assert local_time(ZH, dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC), "date") == "2026年12月2日周三"


def test_a_plain_date_is_never_shifted() -> None:
    assert local_time(ZH, dt.date(2026, 12, 2), "date") == "2026年12月2日周三"
    assert local_time(EN, dt.date(2026, 12, 2), "day") == "Wed, Dec 2"
    assert local_time(ZH, None) == ""


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_no_shape_prints_iso_text_or_an_offset(naive: dt.datetime) -> None:
    moment = naive.replace(tzinfo=dt.UTC)
    for ctx in (ZH, EN):
        for shape in ("time", "datetime", "date", "day"):
            text = local_time(ctx, moment, shape)
            assert (
                "T" not in text.replace("Tue", "").replace("Thu", "") and "+" not in text and "Z" not in text
            )


def test_diets_and_texture_in_words() -> None:
    assert diet_labels(["low_salt", "soft", "low_sugar"]) == "低盐、软食/碎食、低糖（糖尿病）"
    assert diet_labels(["low_salt", "soft"], "en", texture=False) == "Low salt"
    assert diet_labels(["low_salt", "soft"], texture=True) == "软食/碎食"
    assert texture_label([]) == "普通" and texture_label(["soft"], "en") == "Soft / minced"
    for code in DIET_TAGS:
        assert "_" not in diet_labels([code]) and "_" not in diet_labels([code], "en")


def test_every_delivery_code_has_words_in_both_languages() -> None:
    tables = (
        delivery_words.STOP_STATUS,
        delivery_words.ROUND_STATUS,
        delivery_words.WELFARE_LEVEL,
        delivery_words.ALERT_KIND,
        delivery_words.ALERT_STATUS,
        delivery_words.ALERT_REASON,
        delivery_words.ORDER_STATUS,
        delivery_words.PAYMENT,
    )
    for lang in i18n.LANGS:
        w = delivery_words.words(lang)
        for table in tables:
            for msgid in (*table.values(), delivery_words.UNKNOWN):
                said = i18n.gettext(lang, msgid)
                assert said != msgid and "_" not in said, (lang, msgid)
        assert w["stop_status"]("retired_code") == i18n.gettext(lang, delivery_words.UNKNOWN)
        assert w["yuan"](1234) == "¥12.34"


def test_map_links_are_plain_links_to_the_address_or_the_point() -> None:
    links = delivery_words.map_links("大关路10号", 30.3, 120.15)
    assert links["geo"].startswith("geo:30.3,120.15?q=") and "%E5%A4%A7" in links["geo"]
    assert links["web"].startswith("https://uri.amap.com/marker?position=120.15,30.3")
    unlocated = delivery_words.map_links("大关路10号", None, None)
    assert unlocated["web"].startswith("https://uri.amap.com/search?keyword=")
