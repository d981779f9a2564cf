"""API keys and admin tokens (R7.2, R18.1): generation, hashing, masking. Pure functions.

Only the SHA-256 hex of a key is stored (it is also the lookup key) plus a mask for display;
the key itself is shown once at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = [
    "ADMIN_TOKEN_RE",
    "FAILED_LOOKUPS_PER_MINUTE",
    "KEY_RE",
    "NewKey",
    "generate_admin_token",
    "generate_key",
    "hash_key",
    "hash_token",
    "is_key_shaped",
    "mask_key",
    "new_key",
    "same_hash",
]

KEY_PREFIX = "sk-"
ADMIN_TOKEN_PREFIX = "tra_"
# \A…\Z, not ^…$: `$` would accept a trailing newline.
KEY_RE = re.compile(r"\Ask-[A-Za-z0-9_-]{48}\Z")
ADMIN_TOKEN_RE = re.compile(r"\Atra_[A-Za-z0-9_-]{40}\Z")
# R18.3: this many failed key lookups per client IP and minute refuse the IP (E14) until the
# minute ends, wherever keys are looked up (the gateway, `GET /api/me/key`).
FAILED_LOOKUPS_PER_MINUTE = 100


def generate_key() -> str:
    """`sk-` + 48 URL-safe characters: 36 random bytes, 288 bits."""
    return KEY_PREFIX + secrets.token_urlsafe(36)


def generate_admin_token() -> str:
    """`tra_` + 40 URL-safe characters: 30 random bytes, 240 bits."""
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(30)


def is_key_shaped(value: str) -> bool:
    """R2.5: anything else is E2 without a lookup."""
    return KEY_RE.match(value) is not None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hash_token(token: str) -> str:
    """Admin tokens, sessions, email and recovery codes: SHA-256 hex, like keys."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode(), b.encode())


def mask_key(key: str) -> str:
    """`sk-abcd…wxyz`: the prefix, 4 characters, an ellipsis and the last 4."""
    for prefix in (KEY_PREFIX, ADMIN_TOKEN_PREFIX):
        if key.startswith(prefix):
            body = key[len(prefix) :]
            break
    else:
        prefix, body = "", key
    if len(body) < 12:
        return prefix + "…"
    return f"{prefix}{body[:4]}…{body[-4:]}"


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: `secret` is shown once; only `key_hash` and `mask` are stored."""

    secret: str
    key_hash: str
    mask: str


def new_key() -> NewKey:
    """Generate a key with what storage keeps of it (R7.2)."""
    key = generate_key()
    return NewKey(secret=key, key_hash=hash_key(key), mask=mask_key(key))
