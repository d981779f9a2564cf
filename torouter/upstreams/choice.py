"""Which upstream client a worker runs (`upstream.client`): the native one (`upstreams/native.py`)
or aiohttp's (`upstreams/http.py`). Both are an `UpstreamTransport` with `start`/`close`.
aiohttp's client is imported only when chosen: a native worker need not load it."""

from __future__ import annotations

from typing import Literal, Protocol

from torouter.upstreams.native import NativeHttp
from torouter.upstreams.transport import UpstreamTransport

__all__ = ["ClientName", "UpstreamClient", "upstream_client"]

ClientName = Literal["native", "aiohttp"]


class UpstreamClient(UpstreamTransport, Protocol):
    """The transport a worker owns: started once before serving, closed at shutdown."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def upstream_client(name: ClientName) -> UpstreamClient:
    """A new, unstarted client of that name (the setting is validated on load)."""
    if name == "native":
        return NativeHttp()
    from torouter.upstreams.http import UpstreamHttp

    return UpstreamHttp()
