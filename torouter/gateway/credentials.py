"""Where the API key comes from (SPEC R2.3–R2.5). Pure functions over the request headers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from torouter.errors import error

__all__ = [
    "INTERNAL_KEY_HASH",
    "KEY_HEADERS",
    "KEY_RE",
    "extract_key",
    "key_headers",
    "query_key_violation",
    "query_params",
]

KEY_RE = re.compile(r"^sk-[A-Za-z0-9_-]{48}$")
# The headers that can carry a key (R2.3), in the order they are tried.
KEY_HEADERS = (b"authorization", b"x-api-key", b"x-goog-api-key")
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


def key_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The key-carrying headers of a request; a name sent twice is E16 naming it.

    Two values of one credential header are ambiguous: servers and proxies disagree on which
    one counts (the first, the last, or both joined), so a proxy in front could check one key
    while the gateway bills another. Refusing the request is the only answer both agree on.
    ASGI servers lower-case header names, so an exact compare suffices.
    """
    found: dict[bytes, bytes] = {}
    for name, value in raw_headers:
        if name in KEY_HEADERS:
            if name in found:
                header = name.decode()
                raise error("E16", f"{header}: the header is sent more than once", param=header)
            found[name] = value
    return found


def extract_key(
    raw_headers: Iterable[tuple[bytes, bytes]], query: dict[str, str], gemini_route: bool
) -> str:
    """The first present, non-empty source wins; '' if none. Takes the request's header
    list as sent (not a dict, which would hide a repeated header)."""
    headers = key_headers(raw_headers)
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
