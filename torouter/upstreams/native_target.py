"""Where a request goes, from its URL: the pool key, the `Host` header and the request target
(RFC 9112 §3.2). Pure, and cached per URL by the native client (`upstreams/native.py`): a
gateway sends to a handful of distinct URLs, so parsing runs once per URL, not per request.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["InvalidTarget", "Target", "target_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidTarget(ValueError):
    """A URL the client cannot send to (no host, an unknown scheme, a bad port)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One URL, resolved into what a request needs."""

    tls: bool
    host: str  # for DNS and TLS SNI: no brackets, IDNA-encoded
    port: int
    host_header: str  # `Host`: brackets around an IPv6 literal, the port only when not default
    path: str  # the request target: path and query, never the fragment
    literal: bool  # the host is an IP address: nothing to resolve
    authorization: str | None  # Basic credentials from `user:pass@`, as aiohttp sends them

    @property
    def origin(self) -> tuple[bool, str, int]:
        """The pool key: connections are shared per scheme, host and port."""
        return (self.tls, self.host, self.port)


def target_of(url: str) -> Target:
    """The `Target` of an absolute http(s) URL; `InvalidTarget` when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range or not a number, a bad IPv6 literal
        raise InvalidTarget(f"invalid URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidTarget(f"unsupported URL scheme in {url!r}")
    host = parts.hostname or ""  # lower-cased, brackets removed
    if not host:
        raise InvalidTarget(f"no host in {url!r}")
    literal = _is_ip(host)
    if not literal and not host.isascii():
        host = host.encode("idna").decode("ascii")
    default = _DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        shown = f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if any(c in path for c in " \r\n"):  # would split the request line (aiohttp quotes; we refuse)
        raise InvalidTarget(f"invalid characters in the path of {url!r}")
    auth = None
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
    return Target(scheme == "https", host, port or default, shown, path, literal, auth)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
