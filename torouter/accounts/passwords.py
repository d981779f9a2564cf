"""Password hashes (R12.3, R18.1): argon2id with argon2-cffi's RFC 9106 defaults."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "MIN_LENGTH",
    "hash_password",
    "hash_password_async",
    "is_password_hash",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
]

MIN_LENGTH = 6  # R12.1


@cache
def _hasher() -> PasswordHasher:
    """argon2id; stateless, safe to share. Imported on the first use: a gateway that never
    signs anyone in does not keep argon2-cffi resident (~0.4 MB, R20.1)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when there is no hash (unknown user), so both paths cost the same.
    return _hasher().hash("torouter-dummy-password")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches; constant time, also when `password_hash` is None."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def is_password_hash(value: str) -> bool:
    """An argon2id hash in PHC form (accepted from declarative provisioning, R17.10)."""
    return value.startswith("$argon2id$")


# argon2 releases the GIL while it works: run it in a thread so that a login never stalls the
# event loop (and the gateway on it) for the tens of milliseconds a hash takes.


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)
