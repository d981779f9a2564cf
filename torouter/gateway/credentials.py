"""Where the API key comes from (SPEC R2.3–R2.5). Pure functions over the request headers."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

__all__ = ["INTERNAL_KEY_HASH", "KEY_RE", "extract_key", "query_key_violation", "query_params"]

KEY_RE = re.compile(r"^sk-[A-Za-z0-9_-]{48}$")
# A scope entry naming the key by its SHA-256, set only by in-process callers (the playground
# of a signed-in user, who chose one of their own keys): no HTTP server puts it in a scope, so
# a client cannot. Such a request is then admitted, limited and billed as that key's.
INTERNAL_KEY_HASH = "torouter.key_hash"


def query_params(query_string: bytes) -> dict[str, str]:
    if not query_string:
        return {}
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def query_key_violation(query: dict[str, str], gemini_route: bool) -> bool:
    """R2.4: `?api_key=` anywhere, or `?key=` off Gemini routes."""
    return "api_key" in query or ("key" in query and not gemini_route)


def extract_key(headers: dict[bytes, bytes], query: dict[str, str], gemini_route: bool) -> str:
    """The first present, non-empty source wins; '' if none."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, value = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for name in (b"x-api-key", b"x-goog-api-key"):
        v = headers.get(name)
        if v and v.strip():
            return v.decode("latin-1").strip()
    if gemini_route:
        return query.get("key", "").strip()
    return ""
