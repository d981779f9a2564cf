"""Who is on the other end of a management API request: client IP and language."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

from torouter.protocols.envelopes import pick_language

__all__ = ["client_ip", "request_language"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[_Net, ...]:
    out = []
    for item in trusted:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue
    return tuple(out)


def _trusted(ip: str, nets: tuple[_Net, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in nets)


def client_ip(request: Request) -> str | None:
    """The peer address; behind a proxy of `trusted_proxies`, the nearest address in
    `X-Forwarded-For` that is not itself a trusted proxy (the rest can be forged)."""
    peer = request.client.host if request.client else None
    settings = request.app.state.deps.settings
    nets = _networks(tuple(settings.trusted_proxies))
    if peer is None or not nets or not _trusted(peer, nets):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, nets):
            return hop
    return peer


def request_language(request: Request) -> str:
    default = request.app.state.deps.settings.default_language
    return pick_language(request.headers.get("accept-language"), default)
