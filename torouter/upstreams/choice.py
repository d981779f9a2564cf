"""Which upstream client a worker runs (`upstream.client`): the native one (`upstreams/native.py`)
or aiohttp's (`upstreams/http.py`). Both are the same `UpstreamTransport` with `start`/`close`."""

from __future__ import annotations

from typing import Literal

from torouter.upstreams.http import UpstreamHttp
from torouter.upstreams.native import NativeHttp

__all__ = ["ClientName", "UpstreamClient", "upstream_client"]

ClientName = Literal["native", "aiohttp"]
UpstreamClient = UpstreamHttp | NativeHttp


def upstream_client(name: ClientName) -> UpstreamClient:
    """A new, unstarted client of that name (the setting is validated on load)."""
    return NativeHttp() if name == "native" else UpstreamHttp()
