"""Chinese resident identity numbers (居民身份证号码, GB 11643-1999).

An 18-character number: a 6-digit administrative region code, an 8-digit birth
date (YYYYMMDD), a 3-digit sequence (odd for men, even for women) and a check
character computed with ISO 7064 MOD 11-2 ("X" stands for 10).

Pure functions only: the registry stores the number encrypted and looks it up
by a keyed hash (see ``canteen.core.crypto``); this module only says whether a
number is well formed and what it tells us about the person.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Literal

import msgspec

from canteen.core.errors import DomainError, register

register("id_number_malformed", 422)
register("id_number_checksum", 422)
register("id_number_birth_date", 422)

# ISO 7064 MOD 11-2 weights for positions 1..17 (2^(18-i) mod 11) and the
# check character for each remainder.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"

# First two digits of the region code: the provinces of GB/T 2260 plus Taiwan
# (71), Hong Kong (81) and Macao (82), which appear on residence permits that
# use the same format. Checking the province catches a swapped or shifted
# number early without shipping the whole, ever-changing county list.
_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

MAX_AGE_YEARS = 120

_SHAPE = re.compile(r"^\d{17}[\dX]$")

Gender = Literal["male", "female"]


class NationalId(msgspec.Struct, frozen=True):
    """A parsed, valid resident ID number and what it encodes."""

    number: str  # normalised: 18 characters, upper-case X
    region_code: str  # 6 digits, e.g. "330105" (杭州市拱墅区)
    birth_date: date
    gender: Gender
    sequence: str  # the 3-digit sequence code (positions 15-17)

    @property
    def province_code(self) -> str:
        return self.region_code[:2]

    def age_on(self, day: date) -> int:
        """Full years of age on ``day`` (a 29 February birthday counts on 1 March)."""
        return age_on(self.birth_date, day)


def age_on(birth_date: date, day: date) -> int:
    """Completed years between ``birth_date`` and ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def normalise_national_id(text: str) -> str:
    """Canonical spelling of what a person typed: no spaces, half-width, upper-case X.

    NFKC turns full-width digits and letters (common from Chinese input methods)
    into ASCII; separators people use for readability are dropped. A leading
    apostrophe is what Excel users type to keep a long number as text.
    """
    s = unicodedata.normalize("NFKC", text).strip().lstrip("'")
    s = re.sub(r"[\s\-_.]", "", s)
    return s.upper()


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_national_id(text: str, *, today: date) -> NationalId:
    """Validate and decode an ID number typed or imported by a community worker.

    Raises ``DomainError`` with code ``id_number_malformed`` (length, characters,
    province), ``id_number_checksum`` or ``id_number_birth_date``. ``today`` is
    passed in (service zone) so the "not in the future" check is testable.
    """
    number = normalise_national_id(text)
    if not _SHAPE.fullmatch(number):
        raise DomainError("id_number_malformed", {"length": len(number)})
    if number[:2] not in _PROVINCES:
        raise DomainError("id_number_malformed", {"reason": "region"})
    # Check the checksum before the date: a mistyped digit is by far the most
    # common error and the checksum message tells the worker what to do.
    if check_char(number[:17]) != number[17]:
        raise DomainError("id_number_checksum")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise DomainError("id_number_birth_date", {"reason": "not_a_date"}) from None
    if born > today:
        raise DomainError("id_number_birth_date", {"reason": "future"})
    if age_on(born, today) > MAX_AGE_YEARS:
        raise DomainError("id_number_birth_date", {"reason": "too_old"})
    sequence = number[14:17]
    return NationalId(
        number=number,
        region_code=number[:6],
        birth_date=born,
        gender="male" if int(sequence[2]) % 2 == 1 else "female",
        sequence=sequence,
    )


def make_national_id(region6: str, birth_date: date, seq3: int | str) -> str:
    """Build a valid number (with its check character) for demo data and tests.

    The gender follows the parity of ``seq3``: odd for a man, even for a woman.
    """
    seq = f"{int(seq3):03d}"
    if not re.fullmatch(r"\d{6}", region6) or len(seq) != 3:
        raise ValueError("region6 must be 6 digits and seq3 in 0..999")
    first17 = f"{region6}{birth_date:%Y%m%d}{seq}"
    return first17 + check_char(first17)


def mask_national_id(s: str) -> str:
    """Show the first 4 and last 4 characters only: ``3301**********1234``.

    Enough for a cashier to tell two people apart, too little to rebuild the
    number (the birth date and sequence stay hidden). Short or garbled input is
    masked entirely rather than risk showing most of it.
    """
    number = normalise_national_id(s)
    if len(number) < 12:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
