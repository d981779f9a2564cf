"""The one seam between the gateway and an upstream's HTTP: what the relay, the probe and the
model checks call, and the errors they may see from it.

    UpstreamFailure            the call produced no usable answer (below HTTP: no status to judge)
     ├── UpstreamTimeout       a connect or read deadline passed
     └── UpstreamUnavailable   refused, reset, closed early, DNS, a malformed HTTP answer

Three implementations: the two pooled clients a worker may run (`upstream.client`, chosen in
`upstreams/choice.py`) — `upstreams/http.py` (aiohttp; it maps aiohttp's errors, `OSError` and
timeouts to these at its one boundary, `raise … from exc`) and `upstreams/native.py` (asyncio
protocols and httptools; it raises only these, chained to their cause) — and the scripted
transport the relay's unit tests pass by constructor. Nothing above this seam sees
a foreign exception, so anything else escaping a call — `KeyError`, `TypeError`,
`AttributeError` — is a bug of ours: it surfaces as E20 with its traceback logged, never as a
channel failure (R8.5).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

__all__ = [
    "StreamedBody",
    "UpstreamFailure",
    "UpstreamResponse",
    "UpstreamTimeout",
    "UpstreamTransport",
    "UpstreamUnavailable",
]


class UpstreamFailure(Exception):
    """No usable answer from the upstream; `str()` names the cause (for logs and probes)."""


class UpstreamTimeout(UpstreamFailure):
    """A connect or read deadline passed (R9.4 `timeout`)."""


class UpstreamUnavailable(UpstreamFailure):
    """The connection could not be made or was lost (R9.4 `network`)."""


class StreamedBody(Protocol):
    """A request body sent from blocks rather than one `bytes` (a spooled multipart upload):
    its exact length is known up front, so it goes out with a `content-length`."""

    @property
    def size(self) -> int: ...

    @property
    def content_type(self) -> str: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class UpstreamResponse(Protocol):
    """An answer whose head has arrived. Every read raises only `UpstreamFailure` (or
    `CancelledError`); `close()` must be called once the caller is done with it."""

    status: int
    headers: Mapping[str, str]  # case-insensitive in both implementations

    async def read_chunk(self) -> bytes:
        """The next bytes as they arrive; b"" at the end of the body."""
        ...

    async def read(self, limit: int | None = None) -> bytes:
        """The body to its end, or its first `limit` bytes (the rest is left unread)."""
        ...

    def close(self) -> None:
        """Done with the answer: the connection is reused only when the body was read to its
        end, else dropped (an abandoned answer never reaches the next request). Idempotent,
        and safe to call from another task while a read is pending: the read then fails."""
        ...


class UpstreamTransport(Protocol):
    """Sends one request without following redirects; the deadlines are per phase, in seconds
    (None: none): `connect_s` to open a connection, `read_s` between two reads of the answer,
    `total_s` for the whole call including reading the body."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | StreamedBody | None = None,
        connect_s: float | None = None,
        read_s: float | None = None,
        total_s: float | None = None,
    ) -> UpstreamResponse: ...
