"""The SOCKS5 side of the egress proxies (SPEC R9.1): a pool that dials through the proxy, and
the errors `aiohttp-socks` raises, which are no `aiohttp.ClientError` or `OSError`.

Imported by `egress.py` only when a channel names a `socks5://` or `socks5h://` proxy, so a
gateway without one never loads `aiohttp_socks` or `python_socks` (tests/test_footprint.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import aiohttp_socks
from python_socks import ProxyType

from torouter.upstreams.http import UpstreamConnector
from torouter.upstreams.proxy_url import ProxyUrl

__all__ = ["PROXY_ERRORS", "PROXY_TIMEOUTS", "socks_connector"]

# Raised from the pool's dial (aiohttp passes them through unmapped).
PROXY_ERRORS: tuple[type[Exception], ...] = (
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
)
PROXY_TIMEOUTS: tuple[type[Exception], ...] = (aiohttp_socks.ProxyTimeoutError,)


class SocksUpstreamConnector(UpstreamConnector, aiohttp_socks.ProxyConnector):
    """`UpstreamConnector`'s pool checks on connections dialled through a SOCKS5 proxy:
    `ProxyConnector` replaces only how a connection is made, so pooling, keep-alive expiry and
    the dead-connection checks stay the direct client's."""


def socks_connector(proxy: ProxyUrl) -> Callable[..., UpstreamConnector]:
    """What `UpstreamHttp(connector=…)` builds its pool with for this proxy. `socks5h` asks
    the proxy to resolve target names (rdns); `socks5` resolves them here first."""
    kw: dict[str, Any] = {
        "host": proxy.host,
        "port": proxy.port,
        "proxy_type": ProxyType.SOCKS5,
        "username": proxy.username,
        "password": proxy.password,
        "rdns": proxy.scheme == "socks5h",
    }
    return functools.partial(SocksUpstreamConnector, **kw)
