"""The HTTP protocol `serve` hands uvicorn's server, as `server.protocol` says."""

from __future__ import annotations

from typing import Any

from torouter.config import ServerSettings
from torouter.server.limits import HttpLimits

__all__ = ["http_protocol"]


def http_protocol(server: ServerSettings) -> Any:
    """A picklable protocol factory for uvicorn's `http=` (workers are spawned), with R18.5's
    limits from `server`."""
    limits = HttpLimits.of(server)
    if server.protocol == "native":
        from torouter.server.native import native_factory

        return native_factory(limits)
    from torouter.server.protocol import protocol_factory

    return protocol_factory(limits)
