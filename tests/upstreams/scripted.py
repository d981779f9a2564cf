"""A scripted upstream: an `UpstreamTransport` that answers from a script instead of a socket, in
the spirit of httpx's `MockTransport`. Passed by constructor wherever the real client goes
(`Relay(transport=…)`, `probe_channel`, `check_model`), so relay tests need no subprocess and no
patching.

    transport = ScriptedTransport(lambda req: Reply(200, chunks=[b"data: {}\\n\\n"]))

A handler gets each `Request` and returns a `Reply`, raises (an `UpstreamFailure` is what the
real client raises; anything else plays a bug below the seam), or returns `HANG` (the head never
comes). A reply's `chunks` are the body's reads in order; among them `STALL` waits until the
response is closed (or, with `read_s`, fails as a read timeout) and `CUT` loses the connection.
Everything sent and every response made are kept for assertions.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from multidict import CIMultiDict, CIMultiDictProxy

from torouter.upstreams.transport import (
    StreamedBody,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "CUT",
    "HANG",
    "STALL",
    "Reply",
    "Request",
    "ScriptedResponse",
    "ScriptedTransport",
    "by_url",
]


class _Step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STALL = _Step("STALL")  # in `chunks`: nothing more arrives
CUT = _Step("CUT")  # in `chunks`: the connection is lost
HANG = _Step("HANG")  # from a handler: the answer's head never arrives


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    connect_s: float | None
    read_s: float | None
    total_s: float | None


@dataclass
class Reply:
    status: int = 200
    chunks: Sequence[bytes | _Step] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: bytes, **headers: str) -> Reply:
        return cls(status, [body], {"content-type": "application/json", **headers})


Answer = Reply | _Step
Handler = Callable[[Request], Answer | Awaitable[Answer]]


class ScriptedResponse:
    """An `UpstreamResponse` reading a `Reply`; `released` when closed after its last byte."""

    def __init__(self, reply: Reply, read_s: float | None) -> None:
        self.status = reply.status
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(reply.headers))
        self._steps = list(reply.chunks)
        self._read_s = read_s
        self._closed = asyncio.Event()
        self.at_eof = False
        self.released = False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def read_chunk(self) -> bytes:
        if self.closed:
            raise UpstreamUnavailable("ClientConnectionError")
        if not self._steps:
            self.at_eof = True
            return b""
        step = self._steps.pop(0)
        if step is CUT:
            raise UpstreamUnavailable("ClientPayloadError")
        if step is STALL:
            self._steps.insert(0, step)
            try:
                async with asyncio.timeout(self._read_s):
                    await self._closed.wait()
            except TimeoutError as exc:
                raise UpstreamTimeout("SocketTimeoutError") from exc
            raise UpstreamUnavailable("ClientConnectionError")  # closed while waiting
        assert isinstance(step, bytes)
        return step

    async def read(self, limit: int | None = None) -> bytes:
        out = b""
        while limit is None or len(out) < limit:
            chunk = await self.read_chunk()
            if not chunk:
                break
            out += chunk
        return out if limit is None else out[:limit]

    def close(self) -> None:
        if not self.closed:
            self.released = self.at_eof
            self._closed.set()


class ScriptedTransport:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.responses: list[ScriptedResponse] = []

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
    ) -> ScriptedResponse:
        if body is not None and not isinstance(body, bytes):
            body = b"".join([block async for block in body.chunks()])
        req = Request(method, url, dict(headers), body, connect_s, read_s, total_s)
        self.requests.append(req)
        answer = self._handler(req)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is HANG:
            try:
                async with asyncio.timeout(total_s):
                    await asyncio.Event().wait()
            except TimeoutError as exc:
                raise UpstreamTimeout("ServerTimeoutError") from exc
        assert isinstance(answer, Reply), answer
        resp = ScriptedResponse(answer, read_s)
        self.responses.append(resp)
        return resp


def by_url(script: Mapping[str, Answer | BaseException]) -> Handler:
    """A handler answering by the first script key the URL contains (e.g. the channel's host);
    an exception in the script is raised."""

    def handler(req: Request) -> Answer:
        for part, answer in script.items():
            if part in req.url:
                if isinstance(answer, BaseException):
                    raise answer
                return answer
        raise AssertionError(f"no script for {req.url}")

    return handler
