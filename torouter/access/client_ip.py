"""The client IP (SPEC R7.3): the socket peer, or behind trusted proxies the right-most
untrusted `X-Forwarded-For` address (all trusted: the left-most). Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["IPNet", "client_ip", "parse_networks"]

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNet, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _addr(text: str) -> IPAddr | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddr, trusted: tuple[IPNet, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in trusted)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: tuple[IPNet, ...]
) -> str | None:
    if not peer or not trusted or not forwarded_for:
        return peer
    peer_ip = _addr(peer)
    if peer_ip is None or not _trusted(peer_ip, trusted):
        return peer
    hops = [ip for ip in (_addr(h) for h in forwarded_for.split(",")) if ip is not None]
    for ip in reversed(hops):
        if not _trusted(ip, trusted):
            return str(ip)
    return str(hops[0]) if hops else peer
