"""Password hashes (R12.3, R18.1): argon2id with argon2-cffi's RFC 9106 defaults."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "is_password_hash", "needs_rehash", "verify_password"]

_hasher = PasswordHasher()  # argon2id; stateless, safe to share


@cache
def _dummy_hash() -> str:
    # Verified against when there is no hash (unknown user), so both paths cost the same.
    return _hasher.hash("torouter-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches; constant time, also when `password_hash` is None."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def is_password_hash(value: str) -> bool:
    """An argon2id hash in PHC form (accepted from declarative provisioning, R17.10)."""
    return value.startswith("$argon2id$")
