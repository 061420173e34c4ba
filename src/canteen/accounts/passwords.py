"""Password hashing (argon2id via argon2-cffi) and the password policy."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from canteen.core.errors import DomainError, register

register("password_too_weak", 422)

_hasher = PasswordHasher()
# A hash of a random string, verified against when the user does not exist so a
# wrong username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("canteen-no-such-user-timing-guard")


def hash_password(password: str) -> str:
    """Blocking (tens of milliseconds of CPU on purpose): from async code use ``hash_password_async``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Blocking like ``hash_password``: from async code use ``verify_password_async``."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# argon2 is slow on purpose and holds the CPU (argon2-cffi releases the GIL while it works):
# on the event loop every other request of the process waited for each hash, so a burst
# of sign-ins stalled the counter. In a worker thread the loop serves others meanwhile.
async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """``verify_password`` in a worker thread, off the event loop (same answers, same timing guard)."""
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_policy(password: str, username: str = "") -> None:
    """Staff passwords: ≥ 10 characters, letters and digits, not the username."""
    ok = (
        len(password) >= 10
        and any(c.isalpha() for c in password)
        and any(c.isdigit() for c in password)
        and password.lower() != username.lower()
        and len(password) <= 200
    )
    if not ok:
        raise DomainError("password_too_weak")
