"""Protection of personal data at rest (ID numbers, phones, addresses).

Two keys are derived from the one secret ``CANTEEN_PII_KEY`` with HKDF, each
under its own label, so that knowing (or leaking) one says nothing about the
other:

* an AES-256-GCM key to encrypt values into text that fits a Varchar/Text
  column: ``v1.<base64url(nonce || ciphertext || tag)>``. The random 96-bit
  nonce makes equal plaintexts encrypt differently; the tag makes any change
  to the stored text fail loudly instead of decrypting to garbage;
* an HMAC-SHA256 key for *lookup hashes*: deterministic, so a unique index on
  ``(district, id_hash)`` can refuse duplicates and a full ID number can be
  searched, without the database ever holding the number in clear. The hash is
  keyed because a plain SHA-256 of an ID number is brute-forced in minutes (the
  space is small: region × birth date × sequence).

The ``v1`` prefix names the format and key generation, so a later key rotation
can add ``v2`` and re-encrypt lazily while old rows still decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from canteen.settings import DEMO_PII_KEY

# The demo key, for development and tests only; production settings refuse it.
DEMO_PII_KEY_HEX = DEMO_PII_KEY

_VERSION = "v1"
_NONCE_BYTES = 12
_INFO_ENCRYPT = b"canteen/pii/aes-256-gcm/v1"
_INFO_LOOKUP = b"canteen/pii/lookup-hmac-sha256/v1"
_SALT = b"canteen-pii"


class PiiDecryptError(ValueError):
    """A stored value could not be decrypted: wrong key, unknown version or tampering.

    Deliberately not a ``DomainError``: it is never the user's fault and must
    surface as an internal error (and an alert), not as a 4xx message.
    """


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(secret)


class PiiCipher:
    """Encrypts personal data and computes keyed lookup hashes from one 32-byte secret."""

    __slots__ = ("_aead", "_lookup_key")

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the PII key must be 32 bytes (64 hex characters)")
        self._aead = AESGCM(_derive(key, _INFO_ENCRYPT))
        self._lookup_key = _derive(key, _INFO_LOOKUP)

    @classmethod
    def from_hex(cls, key_hex: str) -> PiiCipher:
        """Build from the hex text held in settings (``CANTEEN_PII_KEY``)."""
        try:
            key = bytes.fromhex(key_hex.strip())
        except ValueError:
            raise ValueError("the PII key must be hex") from None
        return cls(key)

    @classmethod
    def demo(cls) -> PiiCipher:
        """The cipher for development and tests (never production)."""
        return cls.from_hex(DEMO_PII_KEY_HEX)

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt to ``v1.<base64url>`` text; each call uses a fresh random nonce.

        ``context`` (e.g. ``"elder.national_id"``) is bound as associated data:
        a ciphertext copied into another column then refuses to decrypt.
        """
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{_VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, token: str, *, context: str = "") -> str:
        """Decrypt text made by :meth:`encrypt`; raise ``PiiDecryptError`` if it was altered."""
        version, sep, body = token.partition(".")
        if not sep or version != _VERSION:
            raise PiiDecryptError("unknown ciphertext version")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise PiiDecryptError("ciphertext is not base64") from None
        if len(raw) < _NONCE_BYTES + 16:
            raise PiiDecryptError("ciphertext too short")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise PiiDecryptError("ciphertext was altered or the key is wrong") from None
        return plain.decode("utf-8")

    def lookup_hash(self, value: str, *, scope: str) -> str:
        """Keyed HMAC-SHA256 (64 hex chars) of ``value`` within ``scope``.

        The scope (e.g. ``"national_id"``, ``"phone"``) separates namespaces so
        equal strings in different fields hash differently. Callers normalise
        the value first (``normalise_national_id``) so spellings agree.
        """
        # A NUL cannot occur in a scope name, so (scope, value) pairs cannot collide.
        if "\x00" in scope:
            raise ValueError("scope must not contain NUL")
        msg = scope.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._lookup_key, msg, hashlib.sha256).hexdigest()


def last4(value: str) -> str:
    """The last four characters, kept in clear beside a ciphertext for display and search."""
    return value.strip()[-4:]
