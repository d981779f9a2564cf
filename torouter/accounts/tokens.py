"""Secrets handed to people (links, codes, session cookies) and their stored digests (R18.1).

Only SHA-256 digests are stored; a digest is the lookup key and is compared again in constant
time after the lookup, like API keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["digest", "new_code", "new_token", "same_digest"]


def new_token() -> str:
    """A link, session or ticket token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def new_code(digits: int = 6) -> str:
    """A numeric code typed by a person (the emailed TOTP-enable code)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def digest(*parts: str) -> str:
    """SHA-256 hex of the parts joined by `:` (a scope prefix keeps short codes distinct)."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
