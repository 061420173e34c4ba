"""Member cards: tokens, card numbers, keys and the rendered faces and sheets.

The rendering tests read the codes back with a real decoder (zxing-cpp), from
the PNG and from a rasterised PDF page, because "the library made a QR" is not
the property that matters: "a scanner reads a token we accept" is.
"""

from __future__ import annotations

import io
import random
import xml.etree.ElementTree as ET

import pypdfium2 as pdfium
import pytest
import qrcode
import qrcode.util
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_Q

from canteen.core.errors import ERRORS, DomainError
from canteen.registry.card_render import (
    CARD_HEIGHT_MM,
    CARD_WIDTH_MM,
    CardFace,
    qr_matrix,
    render_png,
    render_sheet_pdf,
    render_svg,
)
from canteen.registry.cards import (
    CARD_ALPHABET,
    MAX_ELDER_ID,
    MAX_SERIAL,
    TOKEN_PREFIX,
    CardKeys,
    CardPublicKey,
    card_check_char,
    format_card_number,
    is_valid_card_number,
    issue_token,
    looks_like_token,
    new_card_number,
    parse_card_number,
    verify_token,
)

KEYS = CardKeys.demo()
OTHER_SEED = bytes(range(32))
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _code(exc: pytest.ExceptionInfo[DomainError]) -> tuple[str, object]:
    return exc.value.code, exc.value.detail.get("reason")


# --- errors -----------------------------------------------------------------


def test_card_error_codes_are_registered_together():
    assert ERRORS["invalid_card"].status == 400
    assert ERRORS["invalid_card_number"].status == 400
    assert ERRORS["card_revoked"].status == 409


# --- keys -------------------------------------------------------------------


def test_keys_from_seed_are_deterministic_and_public_key_exports_roundtrip():
    a = CardKeys.from_seed(OTHER_SEED)
    b = CardKeys.from_hex(OTHER_SEED.hex())
    assert a.public.raw() == b.public.raw()
    assert a.key_id == b.key_id
    assert len(a.public.raw()) == 32
    assert a.public.pem().startswith("-----BEGIN PUBLIC KEY-----")

    token = issue_token(a, 42, 1)
    for terminal_key in (CardPublicKey.from_pem(a.public.pem()), CardPublicKey.from_raw(a.public.raw())):
        assert terminal_key.key_id == a.key_id
        assert verify_token(terminal_key, token).elder_id == 42


def test_keys_refuse_bad_seeds_and_do_not_print_the_private_key():
    with pytest.raises(ValueError):
        CardKeys.from_seed(b"short")
    with pytest.raises(ValueError):
        CardKeys.from_hex("not hex")
    with pytest.raises(ValueError):
        CardKeys.from_seed(OTHER_SEED, key_id=256)
    assert "private" not in repr(KEYS)


# --- tokens -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("elder_id", "serial"), [(1, 1), (127, 1), (128, 2), (82_417, 3), (MAX_ELDER_ID, MAX_SERIAL)]
)
def test_token_roundtrip(elder_id: int, serial: int):
    token = issue_token(KEYS, elder_id, serial)
    assert token.startswith(TOKEN_PREFIX)
    assert token == token.upper() and "=" not in token
    claims = verify_token(KEYS.public, token)
    assert (claims.elder_id, claims.serial, claims.key_id) == (elder_id, serial, KEYS.key_id)
    # Ed25519 is deterministic: a reprinted card carries the same QR.
    assert issue_token(KEYS, elder_id, serial) == token


def test_token_accepts_what_a_keyboard_wedge_scanner_types():
    token = issue_token(KEYS, 5001, 2)
    for typed in (token + "\r\n", "  " + token + "\t", token.lower() + "\n"):
        assert verify_token(KEYS, typed).elder_id == 5001
    assert looks_like_token(token + "\n")
    assert not looks_like_token("K7M-4QXP-9")


def test_token_with_any_single_character_changed_is_refused():
    # elder 82417 gives a 68-byte token whose last base32 character has a
    # free bit: the exhaustive sweep also covers the "same bytes, other
    # spelling" case that a lenient base32 decoder would accept.
    token = issue_token(KEYS, 82_417, 3)
    alphabet = B32 + "0189"
    for i, original in enumerate(token):
        for replacement in alphabet:
            if replacement == original:
                continue
            forged = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(DomainError) as exc:
                verify_token(KEYS, forged)
            assert exc.value.code == "invalid_card", (i, replacement)


def test_non_canonical_base32_is_refused():
    token = issue_token(KEYS, 82_417, 3)
    body = token[len(TOKEN_PREFIX) :]
    assert (len(body) * 5) % 8, "pick ids that leave free bits in the last character"
    last = B32.index(body[-1])
    twin = token[:-1] + B32[last ^ 1]  # the lowest bit is one of the free ones
    with pytest.raises(DomainError) as exc:
        verify_token(KEYS, twin)
    assert _code(exc) == ("invalid_card", "encoding")


def test_token_signed_by_another_key_is_refused():
    other = CardKeys.from_seed(OTHER_SEED)
    assert other.key_id != KEYS.key_id
    with pytest.raises(DomainError) as exc:
        verify_token(KEYS.public, issue_token(other, 7, 1))
    assert _code(exc) == ("invalid_card", "unknown_key")

    # Same key id, different key: the signature itself must fail.
    impostor = CardKeys.from_seed(OTHER_SEED, key_id=KEYS.key_id)
    with pytest.raises(DomainError) as exc:
        verify_token(KEYS.public, issue_token(impostor, 7, 1))
    assert _code(exc) == ("invalid_card", "signature")


def test_key_rotation_trusts_old_and_new_keys():
    old, new = KEYS, CardKeys.from_seed(OTHER_SEED)
    trusted = [old.public, new.public]
    assert verify_token(trusted, issue_token(old, 9, 1)).key_id == old.key_id
    assert verify_token(trusted, issue_token(new, 9, 2)).key_id == new.key_id
    # Two keys that happen to share an id: both are tried.
    clash = CardKeys.from_seed(OTHER_SEED, key_id=old.key_id)
    assert verify_token([old.public, clash.public], issue_token(clash, 9, 3)).serial == 3


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "format"),
        ("hello", "format"),
        ("K7M-4QXP-9", "format"),
        ("C1", "encoding"),
        ("C1ABC", "encoding"),  # a length no base32 encoder produces
        ("C1" + "A" * 8, "format"),  # decodes, far too short
        ("C1" + "A" * 200, "format"),
        ("C1" + "A" * 109 + "!", "encoding"),
        ("C2" + "A" * 109, "format"),  # unknown version
    ],
)
def test_garbage_is_refused_as_invalid_card(text: str, reason: str):
    with pytest.raises(DomainError) as exc:
        verify_token(KEYS, text)
    assert _code(exc) == ("invalid_card", reason)


def test_issue_token_bounds():
    for elder_id, serial in ((0, 1), (MAX_ELDER_ID + 1, 1), (1, 0), (1, MAX_SERIAL + 1)):
        with pytest.raises(ValueError):
            issue_token(KEYS, elder_id, serial)


@pytest.mark.parametrize(
    ("elder_id", "serial"), [(1, 1), (5_000, 1), (2_000_000, 9), (MAX_ELDER_ID, MAX_SERIAL)]
)
def test_token_fits_qr_version_7_at_level_q_in_alphanumeric_mode(elder_id: int, serial: int):
    token = issue_token(KEYS, elder_id, serial)
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q)
    qr.add_data(token)
    qr.make(fit=True)
    assert qr.version <= 7, (len(token), qr.version)
    assert all(chunk.mode == qrcode.util.MODE_ALPHA_NUM for chunk in qr.data_list)
    assert len(qr_matrix(token)) == 4 * qr.version + 17 + 8


# --- card numbers -------------------------------------------------------------


def test_alphabet_has_no_confusable_characters_and_a_prime_size():
    assert len(CARD_ALPHABET) == 31
    assert not set("0O1IL") & set(CARD_ALPHABET)
    assert len(set(CARD_ALPHABET)) == 31


def test_new_card_number_is_valid_and_seedable():
    rng = random.Random(7)
    numbers = [new_card_number(rng) for _ in range(500)]
    rng_again = random.Random(7)
    assert numbers == [new_card_number(rng_again) for _ in range(500)]
    assert all(len(n) == 8 and is_valid_card_number(n) for n in numbers)
    assert is_valid_card_number(new_card_number())


def test_card_number_format_and_lenient_parsing():
    number = new_card_number(random.Random(1))
    shown = format_card_number(number)
    assert shown == f"{number[:3]}-{number[3:7]}-{number[7]}"
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number.lower())  # typed with a Chinese IME
    for typed in (shown, shown.lower(), f" {number[:3]} {number[3:7]} {number[7]} ", full_width, number):
        assert parse_card_number(typed) == number


@pytest.mark.parametrize("bad", ["0", "O", "1", "I", "L", "o", "l"])
def test_confusable_characters_are_refused_clearly(bad: str):
    number = new_card_number(random.Random(3))
    with pytest.raises(DomainError) as exc:
        parse_card_number(bad + number[1:])
    assert exc.value.code == "invalid_card_number"
    assert exc.value.detail == {"reason": "confusable", "char": bad.upper(), "position": 1}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("K7M-4QX", "length"), ("K7M4QXP99", "length"), ("K7M-4Q*P-9", "character"), ("", "length")],
)
def test_malformed_card_numbers(text: str, reason: str):
    with pytest.raises(DomainError) as exc:
        parse_card_number(text)
    assert _code(exc) == ("invalid_card_number", reason)


def test_check_character_catches_every_single_substitution_and_transposition():
    rng = random.Random(2024)
    for _ in range(300):
        number = new_card_number(rng)
        assert card_check_char(number[:7]) == number[7]
        for i in range(8):
            for c in CARD_ALPHABET:
                if c != number[i]:
                    assert not is_valid_card_number(number[:i] + c + number[i + 1 :]), (number, i, c)
        for i in range(8):
            for j in range(i + 1, 8):  # adjacent ones (j == i + 1) and every other swap
                if number[i] != number[j]:
                    swapped = list(number)
                    swapped[i], swapped[j] = swapped[j], swapped[i]
                    assert not is_valid_card_number("".join(swapped)), (number, i, j)


def test_card_number_check_error_reason():
    number = new_card_number(random.Random(5))
    typo = number[:2] + next(c for c in CARD_ALPHABET if c != number[2]) + number[3:]
    with pytest.raises(DomainError) as exc:
        parse_card_number(typo)
    assert _code(exc) == ("invalid_card_number", "check")


# --- rendering --------------------------------------------------------------


def _faces(n: int) -> list[CardFace]:
    rng = random.Random(11)
    surnames = "王李张刘陈杨黄赵吴周"
    return [
        CardFace(
            display_name=surnames[i % 10] + "桂兰",
            community_name="西湖区北山街道曙光新村社区" if i % 2 else "拱墅区米市巷街道",
            card_number=new_card_number(rng),
            token=issue_token(KEYS, 10_000 + i * 37, 1 + i % 3),
            hotline="0571-12345",
        )
        for i in range(n)
    ]


def test_png_decodes_back_to_a_valid_token():
    token = issue_token(KEYS, 82_417, 3)
    number = new_card_number(random.Random(9))
    png = render_png(token, number)
    image = Image.open(io.BytesIO(png))
    assert image.size == (round(CARD_WIDTH_MM * 300 / 25.4), round(CARD_HEIGHT_MM * 300 / 25.4))
    assert round(image.info["dpi"][0]) == 300

    results = zxingcpp.read_barcodes(image)
    assert [r.format for r in results] == [zxingcpp.BarcodeFormat.QRCode]
    assert results[0].text == token
    assert verify_token(KEYS.public, results[0].text).elder_id == 82_417


def test_png_modules_are_at_least_half_a_millimetre():
    token = issue_token(KEYS, 1, 1)
    for dpi in (150, 300, 600):
        image = Image.open(io.BytesIO(render_png(token, new_card_number(random.Random(1)), dpi=dpi)))
        result = zxingcpp.read_barcodes(image)[0]
        pos = result.position
        width_px = abs(pos.top_right.x - pos.top_left.x)
        module_mm = width_px / 45 * 25.4 / dpi  # version 7 = 45 modules
        assert module_mm >= 0.49, (dpi, module_mm)


def test_svg_is_well_formed_and_shows_the_card_number():
    token = issue_token(KEYS, 3, 1)
    number = new_card_number(random.Random(4))
    svg = render_svg(token, number)
    root = ET.fromstring(svg.encode())  # noqa: S314  # our own output, not untrusted input
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert format_card_number(number) in svg
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == [format_card_number(number)]


def test_render_refuses_a_malformed_card_number():
    with pytest.raises(DomainError) as exc:
        render_svg(issue_token(KEYS, 3, 1), "K7M-4QXP-0")
    assert exc.value.code == "invalid_card_number"


def test_pdf_sheet_pages_decode_back_to_the_tokens():
    faces = _faces(23)
    pdf = render_sheet_pdf(faces)
    doc = pdfium.PdfDocument(pdf)
    assert len(doc) == 3  # 10 + 10 + 3
    width_pt, height_pt = doc[0].get_size()
    assert (round(width_pt), round(height_pt)) == (595, 842)  # A4

    for page_index, expected in ((0, faces[:10]), (2, faces[20:])):
        page = doc[page_index]
        image = page.render(scale=200 / 72).to_pil()
        decoded = {r.text for r in zxingcpp.read_barcodes(image)}
        assert decoded == {f.token for f in expected}
        for text in decoded:
            verify_token(KEYS, text)
        words = page.get_textpage().get_text_range()
        for face in expected:
            assert face.display_name in words
            assert format_card_number(face.card_number) in words
        assert "服务热线 0571-12345" in words


def test_pdf_sheet_of_one_card_and_long_names_still_render():
    face = CardFace(
        display_name="欧阳" + "丽" * 30,
        community_name="某某区" + "很长的街道名称" * 10,
        card_number=format_card_number(new_card_number(random.Random(8))),
        token=issue_token(KEYS, 77, 1),
        hotline="0571-12345",
    )
    doc = pdfium.PdfDocument(render_sheet_pdf([face]))
    assert len(doc) == 1
    words = doc[0].get_textpage().get_text_range()
    assert "欧阳丽" in words and "…" in words
