"""Member cards: signed QR tokens, printed card numbers and the signing keys.

A card carries two things:

* a **QR token** that a scanner reads: ``C1`` + base32(payload || signature),
  signed with Ed25519 so that a counter terminal holding only the public key
  can tell a genuine card from a forged one without asking the server;
* a **card number** printed under the QR (``K7M-4QXP-9``) that a cashier can
  type when the QR is scratched or the scanner is broken.

Neither carries anything personal: the token names the elder by database id
and the card by its serial, the card number is random. Revocation (a lost card
replaced by serial + 1) needs the database and is checked by the service layer,
which raises ``card_revoked``; the code is registered here so that all card
codes live together.

Token layout (version ``C1``)::

    payload   = key_id (1 byte) || varint(elder_id) || varint(serial)
    signature = Ed25519(b"canteen-card:C1:" + payload)      # 64 bytes
    token     = "C1" + BASE32(payload || signature) without "=" padding

* Uppercase base32 without padding uses only characters of the QR
  *alphanumeric* mode (5.5 bits per character instead of 8 in byte mode).
  A realistic token is 113-119 characters: QR version 7 at error correction Q
  (capacity 122 alphanumeric characters). The bounds on ``elder_id`` and
  ``serial`` below are what keeps the worst case within that capacity.
* The signed message is prefixed with a context string and the version, so a
  signature made by the same key for any other purpose (or a future token
  format) can never be replayed as a card.
* ``key_id`` lets keys rotate: a terminal can trust the old and the new public
  key for a while, and picks the right one by id instead of trying all. By
  default the id is derived from the public key itself, so rotating the seed in
  the settings rotates the id without another setting.
* Decoding is strict: the base32 text must be the canonical encoding of the
  bytes it decodes to (base32 can hide up to 4 free bits in its last
  character, and a lenient decoder would accept two spellings of one card),
  and varints must be minimal with no trailing bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from canteen.core.errors import DomainError, register
from canteen.settings import DEMO_CARD_SIGNING_KEY

register("invalid_card", 400)
register("invalid_card_number", 400)
register("card_revoked", 409)

# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------

#: Development seed (hex), the same value as ``Settings.card_signing_key``'s
#: default; a production start refuses it (see ``canteen.settings``).
DEMO_CARD_SEED_HEX: Final = DEMO_CARD_SIGNING_KEY

_KEY_ID_CONTEXT: Final = b"canteen-card-key-id:"


def default_key_id(public_raw: bytes) -> int:
    """The key id a public key gets unless one is given: the first byte of a hash of it.

    Two keys trusted at the same time share an id with probability 1/256; the
    verifier then simply tries both, so a clash costs one extra verification,
    never a wrong answer.
    """
    return hashlib.sha256(_KEY_ID_CONTEXT + public_raw).digest()[0]


def _check_key_id(key_id: int) -> int:
    if not 0 <= key_id <= 255:
        raise ValueError(f"key_id must be between 0 and 255, got {key_id}")
    return key_id


@dataclass(frozen=True, slots=True)
class CardPublicKey:
    """A public key as a counter terminal holds it: enough to verify cards, not to make them."""

    key_id: int
    public_key: Ed25519PublicKey = field(repr=False)

    @classmethod
    def from_raw(cls, raw: bytes, key_id: int | None = None) -> CardPublicKey:
        """Load the 32-byte raw public key; ``key_id`` defaults to ``default_key_id(raw)``."""
        public_key = Ed25519PublicKey.from_public_bytes(raw)
        return cls(_check_key_id(default_key_id(raw) if key_id is None else key_id), public_key)

    @classmethod
    def from_pem(cls, pem: bytes | str, key_id: int | None = None) -> CardPublicKey:
        """Load a ``-----BEGIN PUBLIC KEY-----`` (SubjectPublicKeyInfo) PEM."""
        data = pem.encode() if isinstance(pem, str) else pem
        loaded = serialization.load_pem_public_key(data)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(_check_key_id(default_key_id(raw) if key_id is None else key_id), loaded)

    def raw(self) -> bytes:
        """The 32-byte raw public key (what a terminal stores; hex it for config files)."""
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def pem(self) -> str:
        """The public key as a SubjectPublicKeyInfo PEM, for terminals and other tools."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


@dataclass(frozen=True, slots=True)
class CardKeys:
    """The server's card signing key (private) with its public half and key id."""

    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False)
    public: CardPublicKey

    @classmethod
    def from_seed(cls, seed: bytes, key_id: int | None = None) -> CardKeys:
        """Build the keys from a 32-byte Ed25519 seed (``CANTEEN_CARD_SIGNING_KEY`` decoded)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed has 32 bytes, got {len(seed)}")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        public_key = private_key.public_key()
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = _check_key_id(default_key_id(raw) if key_id is None else key_id)
        return cls(kid, private_key, CardPublicKey(kid, public_key))

    @classmethod
    def from_hex(cls, seed_hex: str, key_id: int | None = None) -> CardKeys:
        """Build the keys from the 64-hex-character seed held in the settings."""
        try:
            seed = bytes.fromhex(seed_hex.strip())
        except ValueError:
            raise ValueError("the card signing seed must be 64 hex characters") from None
        return cls.from_seed(seed, key_id)

    @classmethod
    def demo(cls) -> CardKeys:
        """The development keys (``DEMO_CARD_SEED_HEX``); never for production."""
        return cls.from_hex(DEMO_CARD_SEED_HEX)


def generate_seed_hex() -> str:
    """A fresh random seed for ``CANTEEN_CARD_SIGNING_KEY`` (64 hex characters)."""
    return secrets.token_hex(32)


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

TOKEN_PREFIX: Final = "C1"  # noqa: S105  # a format tag, not a secret
_SIGN_CONTEXT: Final = b"canteen-card:" + TOKEN_PREFIX.encode() + b":"
_SIG_LEN: Final = 64

# The bounds keep the worst-case token within QR version 7-Q (122 alphanumeric
# characters): 1 + 5 + 3 payload bytes + 64 signature bytes = 73 bytes = 117
# base32 characters + 2 for the prefix = 119. elder_id matches a 32-bit signed
# serial column; 2**21 - 1 reissues per elder is more than any elder will need.
MAX_ELDER_ID: Final = 2**31 - 1
MAX_SERIAL: Final = 2**21 - 1
MAX_TOKEN_LENGTH: Final = 122

_B32_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


class CardClaims(msgspec.Struct, frozen=True):
    """What a genuine token says: which elder and which of their cards. Revocation is not checked."""

    elder_id: int
    serial: int
    key_id: int


def _put_varint(out: bytearray, value: int) -> None:
    # Unsigned LEB128: 1 byte below 128, 3 bytes below 2 million; ids grow slowly.
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    value = 0
    for i in range(max_bytes):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise ValueError("non-minimal varint")
            return value, pos
    raise ValueError("varint too long")


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _invalid_card(reason: str) -> DomainError:
    # ``reason`` is for logs and the API caller; it never echoes the scanned text back.
    return DomainError("invalid_card", detail={"reason": reason})


def issue_token(keys: CardKeys, elder_id: int, serial: int) -> str:
    """Sign a card token for ``(elder_id, serial)``; the text to put in the QR code.

    Ed25519 signatures are deterministic, so the same card always gets the
    same token (reprinting a sheet reproduces the same QR codes).
    """
    if not 1 <= elder_id <= MAX_ELDER_ID:
        raise ValueError(f"elder_id must be between 1 and {MAX_ELDER_ID}, got {elder_id}")
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be between 1 and {MAX_SERIAL}, got {serial}")
    payload = bytearray([keys.key_id])
    _put_varint(payload, elder_id)
    _put_varint(payload, serial)
    signature = keys.private_key.sign(_SIGN_CONTEXT + payload)
    return TOKEN_PREFIX + _b32encode(bytes(payload) + signature)


def normalize_token(text: str) -> str:
    """Strip what scanners add around a token (CR, LF, tab, spaces) and uppercase it.

    Uppercasing is deliberate: a keyboard-wedge scanner typing while Caps Lock
    is on sends lowercase, and base32 is case-insensitive by definition.
    """
    return "".join(text.split()).upper()


def looks_like_token(text: str) -> bool:
    """True when scanner/keyboard input is meant as a QR token rather than a typed card number.

    The counter's single input box takes both; a token is long and starts with
    the prefix, a card number is 8 characters. Only a hint: verify it anyway.
    """
    t = normalize_token(text)
    return t.startswith(TOKEN_PREFIX) and len(t) > 20


def verify_token(
    public_keys: CardPublicKey | CardKeys | Iterable[CardPublicKey],
    token: str,
) -> CardClaims:
    """Check a scanned token offline and return who it names.

    ``public_keys`` is one key or every key currently trusted (during a key
    rotation, the old and the new). Raises ``DomainError("invalid_card")`` with
    ``detail["reason"]`` one of ``format``, ``encoding``, ``unknown_key``,
    ``signature``. A genuine card may still be revoked: the caller checks that.
    """
    if isinstance(public_keys, CardKeys):
        candidates: list[CardPublicKey] = [public_keys.public]
    elif isinstance(public_keys, CardPublicKey):
        candidates = [public_keys]
    else:
        candidates = list(public_keys)

    text = normalize_token(token)
    if not text.startswith(TOKEN_PREFIX) or len(text) > MAX_TOKEN_LENGTH:
        raise _invalid_card("format")
    body = text[len(TOKEN_PREFIX) :]
    if not body or not _B32_ALPHABET.issuperset(body):
        raise _invalid_card("encoding")
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise _invalid_card("encoding") from None
    if _b32encode(raw) != body:
        # Non-canonical spelling (free bits set in the last character, or a
        # length no encoder produces): refuse rather than accept two texts for one card.
        raise _invalid_card("encoding")
    if len(raw) < 3 + _SIG_LEN:
        raise _invalid_card("format")
    payload, signature = raw[:-_SIG_LEN], raw[-_SIG_LEN:]
    key_id = payload[0]
    try:
        elder_id, pos = _get_varint(payload, 1, 5)
        serial, pos = _get_varint(payload, pos, 3)
    except ValueError:
        raise _invalid_card("format") from None
    if pos != len(payload) or not (1 <= elder_id <= MAX_ELDER_ID and 1 <= serial <= MAX_SERIAL):
        raise _invalid_card("format")

    matching = [k for k in candidates if k.key_id == key_id]
    if not matching:
        raise _invalid_card("unknown_key")
    message = _SIGN_CONTEXT + payload
    for key in matching:
        try:
            key.public_key.verify(signature, message)
        except InvalidSignature:
            continue
        return CardClaims(elder_id=elder_id, serial=serial, key_id=key_id)
    raise _invalid_card("signature")


# ---------------------------------------------------------------------------
# Card numbers
# ---------------------------------------------------------------------------
#
# Alphabet: the digits 2-9 and the letters without I, L and O: 31 symbols,
# none of 0/O/1/I/L that people confuse when reading or typing. 31 is prime,
# which gives a simple check character with a proof, the ISBN-10 scheme
# (weights 1..10 mod 11) carried over to GF(31):
#
#     with values v_1 .. v_8 (v_8 the check character),  sum(i * v_i) == 0 (mod 31)
#
# * A single substitution at position i changes the sum by i * (v' - v); both
#   factors are non-zero and smaller than the prime 31, so the product is not
#   0 mod 31: every single-character error is caught.
# * Swapping positions i and j changes it by (i - j) * (v_j - v_i), again a
#   product of non-zero residues: every transposition, adjacent or not, is caught.
# * Every residue is a symbol, so the check character is always printable
#   (unlike ISBN-10's "X" or Luhn mod 10's blind spot for 09 <-> 90).
#
# Seven random symbols (31**7 = 2.75e10, 34.7 bits) plus the check: "K7M-4QXP-9".
#
# Why random and stored rather than derived from (elder_id, serial):
# derived without a secret would make numbers enumerable (type a neighbour's
# number); derived with an HMAC needs another long-lived secret, and a
# truncated HMAC still collides, so the table needs a unique column and a
# retry anyway. Random + unique column + retry is the simplest sound design:
# the DB stores ``new_card_number()`` in a UNIQUE column of the card row and
# draws again on a (rare) conflict: with a million cards issued, a new draw
# clashes with probability 1 in 27,000. The number is a lookup aid, not a
# credential: the cashier sees the elder's name and photo on the screen.

CARD_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_BASE: Final = len(CARD_ALPHABET)  # 31, prime
_VALUE: Final = {c: i for i, c in enumerate(CARD_ALPHABET)}
CARD_NUMBER_BODY: Final = 7
CARD_NUMBER_LENGTH: Final = CARD_NUMBER_BODY + 1
_CONFUSABLE: Final = frozenset("0O1IL")
# Separators people and forms use between groups, after NFKC folding (which
# turns full-width "Ｋ７Ｍ－" typed with a Chinese IME into ASCII).
_SEPARATORS: Final = frozenset(" -_.\u2010\u2011\u2012\u2013\u2014\u2212\u00b7")


def card_check_char(body: str) -> str:
    """The check character for 7 body symbols (positions 1..7 weighted 1..7, check weighted 8)."""
    total = sum((i + 1) * _VALUE[c] for i, c in enumerate(body))
    n = len(body) + 1
    # Solve n * check == -total (mod 31); pow(n, -1, 31) is n's inverse.
    return CARD_ALPHABET[(-total * pow(n, -1, _BASE)) % _BASE]


def _checksum_ok(number: str) -> bool:
    return sum((i + 1) * _VALUE[c] for i, c in enumerate(number)) % _BASE == 0


def new_card_number(rng: random.Random | None = None) -> str:
    """A fresh random card number in canonical form (8 symbols, no dashes), e.g. ``K7M4QXP9``.

    ``rng`` is for tests and demo data; by default the OS's CSPRNG is used.
    Store the canonical form in a UNIQUE column; print ``format_card_number``.
    """
    if rng is None:
        body = "".join(secrets.choice(CARD_ALPHABET) for _ in range(CARD_NUMBER_BODY))
    else:
        body = "".join(rng.choice(CARD_ALPHABET) for _ in range(CARD_NUMBER_BODY))
    return body + card_check_char(body)


def _invalid_number(reason: str, **extra: object) -> DomainError:
    return DomainError("invalid_card_number", detail={"reason": reason, **extra})


def parse_card_number(text: str) -> str:
    """Read a typed card number and return its canonical form (``K7M4QXP9``).

    Accepts lowercase, spaces, dashes and full-width characters. Refuses with
    ``DomainError("invalid_card_number")`` and ``detail["reason"]``:
    ``confusable`` (0, O, 1, I or L: none of them is on any card, so there is
    no safe guess which symbol was meant; ``detail["char"]`` names it),
    ``character`` (anything else outside the alphabet), ``length`` or
    ``check`` (a typo the check character caught).
    """
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = "".join(c for c in folded if c not in _SEPARATORS and not c.isspace())
    for position, c in enumerate(compact, start=1):
        if c in _VALUE:
            continue
        if c in _CONFUSABLE:
            raise _invalid_number("confusable", char=c, position=position)
        raise _invalid_number("character", position=position)
    if len(compact) != CARD_NUMBER_LENGTH:
        raise _invalid_number("length", expected=CARD_NUMBER_LENGTH, got=len(compact))
    if not _checksum_ok(compact):
        raise _invalid_number("check")
    return compact


def is_valid_card_number(text: str) -> bool:
    """True when ``parse_card_number`` would accept ``text``."""
    try:
        parse_card_number(text)
    except DomainError:
        return False
    return True


def mask_card_number(number: str) -> str:
    """``K7M4QXP9`` → ``***-**XP-9``: the printed shape with the last three characters, enough to
    match the card in hand or tell two cards apart, never enough to type one in."""
    n = number.replace("-", "")
    return f"***-**{n[5:7]}-{n[7:]}" if len(n) == CARD_NUMBER_LENGTH else "***"


def format_card_number(number: str) -> str:
    """The printed form ``K7M-4QXP-9`` (3-4-1: short groups, check character on its own).

    Accepts the canonical or any parseable form; raises ``invalid_card_number`` otherwise.
    """
    n = parse_card_number(number)
    return f"{n[:3]}-{n[3:7]}-{n[7:]}"
