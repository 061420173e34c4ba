"""Resident ID numbers: checksum, embedded birth date and gender, masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canteen.core.errors import DomainError
from canteen.registry.national_id import (
    check_char,
    make_national_id,
    mask_national_id,
    parse_national_id,
)

TODAY = date(2025, 6, 1)
# A published sample number (GB 11643 examples use it); its check char is X.
SAMPLE_X = "11010519491231002X"


def test_known_number_with_x_check_char() -> None:
    nid = parse_national_id(SAMPLE_X, today=TODAY)
    assert nid.birth_date == date(1949, 12, 31)
    assert nid.gender == "female"  # 17th digit 2 is even
    assert nid.region_code == "110105"
    assert nid.province_code == "11"
    assert nid.age_on(TODAY) == 75


def test_normalises_spaces_full_width_and_lower_case_x() -> None:
    typed = " 110105 1949 1231 002x "
    assert parse_national_id(typed, today=TODAY).number == SAMPLE_X
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    assert parse_national_id(full_width, today=TODAY).number == SAMPLE_X


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "id_number_malformed"),
        ("11010519491231002", "id_number_malformed"),  # 17 characters
        ("1101051949123100212", "id_number_malformed"),  # 19 characters
        ("11010519491231X02X", "id_number_malformed"),  # X in the middle
        ("990105194912310021", "id_number_malformed"),  # no province 99
        ("110105194912310021", "id_number_checksum"),  # last char should be X
        (make_national_id("330105", date(1948, 3, 15), 123)[:-1] + "0", "id_number_checksum"),
    ],
)
def test_refusals(text: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_national_id(text, today=TODAY)
    assert err.value.code == code
    assert err.value.status == 422
    assert err.value.message("zh-CN") and err.value.message("en")


def _with_date(yyyymmdd: str) -> str:
    first17 = f"330105{yyyymmdd}123"
    return first17 + check_char(first17)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (_with_date("19480230"), "not_a_date"),  # 30 February
        (_with_date("20250602"), "future"),  # tomorrow
        (_with_date("19040531"), "too_old"),  # 121 years old
    ],
)
def test_birth_date_refusals(number: str, reason: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_national_id(number, today=TODAY)
    assert err.value.code == "id_number_birth_date"
    assert err.value.detail["reason"] == reason


def test_born_today_and_exactly_120_are_accepted() -> None:
    assert parse_national_id(_with_date("20250601"), today=TODAY).age_on(TODAY) == 0
    assert parse_national_id(_with_date("19050601"), today=TODAY).age_on(TODAY) == 120


def test_gender_follows_parity_of_17th_digit() -> None:
    assert parse_national_id(make_national_id("330105", date(1950, 1, 1), 11), today=TODAY).gender == "male"
    assert parse_national_id(make_national_id("330105", date(1950, 1, 1), 12), today=TODAY).gender == "female"


def test_mask_shows_first_and_last_four() -> None:
    assert mask_national_id("330105194803151234") == "3301**********1234"
    assert mask_national_id("1234") == "****"


birth_dates = st.dates(min_value=date(1905, 6, 2), max_value=TODAY)
regions = st.sampled_from(["330105", "110105", "440304", "650102", "820000", "310115"])


@given(region=regions, born=birth_dates, seq=st.integers(0, 999))
def test_make_then_parse_roundtrip(region: str, born: date, seq: int) -> None:
    number = make_national_id(region, born, seq)
    nid = parse_national_id(number, today=TODAY)
    assert nid.number == number
    assert nid.region_code == region
    assert nid.birth_date == born
    assert nid.sequence == f"{seq:03d}"
    assert nid.gender == ("male" if seq % 2 else "female")


@given(region=regions, born=birth_dates, seq=st.integers(0, 999), pos=st.integers(0, 17), data=st.data())
def test_any_single_character_change_is_caught(
    region: str, born: date, seq: int, pos: int, data: st.DataObject
) -> None:
    number = make_national_id(region, born, seq)
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != number[pos]]))
    with pytest.raises(DomainError):
        parse_national_id(number[:pos] + new + number[pos + 1 :], today=TODAY)


@given(st.text(max_size=40))
def test_masking_never_reveals_more_than_eight_characters(text: str) -> None:
    masked = mask_national_id(text)
    assert sum(1 for c in masked if c != "*") <= 8


@given(region=regions, born=birth_dates, seq=st.integers(0, 999))
def test_mask_of_a_valid_number_keeps_ends(region: str, born: date, seq: int) -> None:
    number = make_national_id(region, born, seq)
    masked = mask_national_id(number)
    assert len(masked) == 18
    assert masked[:4] == number[:4] and masked[-4:] == number[-4:]
    assert masked[4:14] == "*" * 10
