"""A channel's egress proxy URL (SPEC R9.1 `proxy`): what is accepted, and how it is shown.

One parser for every door a proxy comes in by — the admin API, the console form (through the
API), provisioning — and for the transport that dials it, so what was accepted is exactly what
is used. Pure: no I/O, nothing imported from aiohttp.

    http://[user:password@]host[:port]      plain HTTP to the proxy; CONNECT for https targets
    https://[user:password@]host[:port]     the same over TLS to the proxy
    socks5://[user:password@]host[:port]    SOCKS5, target names resolved here (curl's meaning)
    socks5h://[user:password@]host[:port]   SOCKS5, target names resolved by the proxy

The password is a secret like the channel's credential: `redacted()` is what any read, page or
log line shows, and the errors raised here never quote the URL they reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["DEFAULT_PORTS", "SCHEMES", "ProxyUrl", "parse_proxy", "redacted", "valid_proxy"]

# The ports curl assumes when a proxy URL names none.
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
SCHEMES = tuple(DEFAULT_PORTS)


@dataclass(frozen=True, slots=True)
class ProxyUrl:
    scheme: str
    host: str  # IPv6 without brackets
    port: int
    username: str | None = None  # percent-decoded
    password: str | None = None

    @property
    def socks(self) -> bool:
        return self.scheme.startswith("socks5")

    @property
    def endpoint(self) -> str:
        """`scheme://host:port`: the proxy without its credentials (aiohttp's `proxy=`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_proxy(value: str) -> ProxyUrl:
    """The proxy a URL names; `ValueError` saying what is wrong (never echoing the URL)."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # an unclosed IPv6 bracket
        raise ValueError("not a valid URL: scheme://host:port") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the proxy port must be a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("must be an http, https, socks5 or socks5h URL")
    if not parts.hostname:
        raise ValueError("the proxy URL needs a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL has no path, query or fragment: scheme://host:port")
    if port == 0:
        raise ValueError("the proxy port must be a number from 1 to 65535")
    if parts.password is not None and not parts.username:
        raise ValueError("a proxy password needs a user name")
    return ProxyUrl(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def valid_proxy(value: str | None) -> str | None:
    """The validator of the `proxy` field everywhere it is accepted: blank means none; a
    stored value keeps the spelling the admin typed, less a trailing slash."""
    if value is None or not value.strip():
        return None
    if parse_proxy(value).username == "***":  # a read's redacted copy sent back
        raise ValueError("that is the redacted proxy URL: send it with its credentials")
    return value.strip().rstrip("/")


def redacted(value: str | None) -> str | None:
    """The URL as reads and logs show it: a `user:password@` part becomes `***@`, as the
    admin API shows any URL that embeds credentials (the user name of a proxy account is
    often a session token too)."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:  # not a URL at all: nothing of it is safe to show
        return "***"
    if "@" not in parts.netloc:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))
