"""Personal-data encryption and keyed lookup hashes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canteen.core.crypto import DEMO_PII_KEY_HEX, PiiCipher, PiiDecryptError, last4

cipher = PiiCipher.demo()


@given(st.text(max_size=300))
def test_roundtrip(text: str) -> None:
    token = cipher.encrypt(text)
    assert token.startswith("v1.")
    assert token.isascii()  # fits any Varchar/Text column
    assert cipher.decrypt(token) == text


def test_same_plaintext_encrypts_differently() -> None:
    tokens = {cipher.encrypt("330105194803151234") for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.urlsafe_b64decode(t[3:] + "==")[:12] for t in tokens}
    assert len(nonces) == 50


def _flip(token: str, index: int) -> str:
    body = token[3:]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[index] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])  # nonce, ciphertext, tag
def test_tampering_is_detected(index: int) -> None:
    token = cipher.encrypt("张秀英 13812345678")
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(_flip(token, index))


@pytest.mark.parametrize("bad", ["", "v2.AAAA", "v1.", "v1.!!!!", "v1.AAAA", "plain text"])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(bad)


def test_wrong_key_and_wrong_context_are_refused() -> None:
    token = cipher.encrypt("secret", context="elder.national_id")
    assert cipher.decrypt(token, context="elder.national_id") == "secret"
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(token, context="elder.phone")
    with pytest.raises(PiiDecryptError):
        PiiCipher(bytes(32)).decrypt(token, context="elder.national_id")


def test_lookup_hash_is_deterministic_keyed_and_scoped() -> None:
    h = cipher.lookup_hash("330105194803151234", scope="national_id")
    assert h == PiiCipher.from_hex(DEMO_PII_KEY_HEX).lookup_hash("330105194803151234", scope="national_id")
    assert len(h) == 64 and int(h, 16) >= 0
    assert h != cipher.lookup_hash("330105194803151234", scope="phone")
    assert h != PiiCipher(bytes(range(32))).lookup_hash("330105194803151234", scope="national_id")


def test_encryption_and_lookup_keys_differ() -> None:
    # Both keys are derived with HKDF under different labels from one secret:
    # the lookup key cannot open a ciphertext, and neither is the raw secret.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    token = cipher.encrypt("x")
    raw = base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))
    with pytest.raises(InvalidTag):
        AESGCM(cipher._lookup_key).decrypt(raw[:12], raw[12:], b"")
    assert cipher._lookup_key != bytes.fromhex(DEMO_PII_KEY_HEX)


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        PiiCipher(b"short")
    with pytest.raises(ValueError):
        PiiCipher.from_hex("zz" * 32)


def test_last4() -> None:
    assert last4("33010519480315123X") == "123X"
    assert last4(" 13812345678 ") == "5678"
