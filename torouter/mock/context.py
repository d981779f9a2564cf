"""One request to the mock: its ASGI channels, credential, directives and the ways to answer.

Sending is kept on a few plain paths: a JSON body (one start, one body), and a stream given as
frames of SSE events (each frame one send). In instant mode a whole stream goes out in one send.
Delays race the client's disconnect: a single watcher per paced answer cancels the handler when
``http.disconnect`` arrives, so an abandoned slow stream never keeps a task alive.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from torouter.mock.cache import PromptCache
from torouter.mock.config import MockConfig
from torouter.mock.faults import MARKER, NONE, Directives, merge, parse_text

__all__ = ["Call", "Headers", "Pacer", "Receive", "Send", "wait_disconnect"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


async def wait_disconnect(receive: Receive) -> None:
    """Return once the client has gone (the ``timeout`` fault)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Pacer:
    """Sleeps of one answer; the client's disconnect cancels the answering task."""

    __slots__ = ("_finishing", "_task", "_watcher", "gone")

    def __init__(self, receive: Receive) -> None:
        self._task = asyncio.current_task()
        self._finishing = False
        self.gone = False
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        await wait_disconnect(receive)
        # After the last body message the server also reports a disconnect: not our business.
        if not self._finishing and self._task is not None:
            self.gone = True
            self._task.cancel()

    def finishing(self) -> None:
        self._finishing = True

    def close(self) -> None:
        self._finishing = True
        self._watcher.cancel()

    def swallow(self) -> bool:
        """In ``except CancelledError``: True (and the cancel undone) when we caused it."""
        if self.gone and self._task is not None:
            self._task.uncancel()
            return True
        return False


class Call:
    """The request being answered, and the helpers every provider uses to answer it."""

    __slots__ = (
        "body",
        "cache",
        "config",
        "credential",
        "header_directives",
        "id_header",
        "op",
        "param",
        "provider",
        "query",
        "receive",
        "rng",
        "scope",
        "send",
        "started",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        config: MockConfig,
        cache: PromptCache,
        rng: random.Random,
        credential: str,
        body: bytes,
        header_directives: Directives,
        id_header: tuple[bytes, bytes] | None,
        query: dict[str, str],
        provider: Any = None,
        op: str = "",
        param: str = "",
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.config = config
        self.cache = cache
        self.rng = rng
        self.credential = credential
        self.body = body
        self.header_directives = header_directives
        self.id_header = id_header
        self.query = query
        self.provider = provider  # the Provider answering (typed loosely to avoid a cycle)
        self.started = False  # a response has begun (set before the first send)
        self.op = op  # the operation routed to, e.g. "chat" or "streamGenerateContent"
        self.param = param  # the model id of the path, if any

    # -- directives -----------------------------------------------------------------------

    def directives(self, last_user_text: str) -> tuple[Directives, str]:
        """Config dice, then the ``x-mock`` header, then the text (later wins); and the text."""
        d = self.header_directives
        if MARKER not in last_user_text:
            if not self.config.faults:
                return d, last_user_text
            found, text = NONE, last_user_text
        else:
            found, text = parse_text(last_user_text)
        if self.config.faults:
            rolled = NONE
            for fault, probability in self.config.faults:
                if self.rng.random() < probability:
                    rolled = merge(rolled, fault)
            d = merge(rolled, d)
        return (merge(d, found) if found is not NONE else d), text

    def timing(self, d: Directives) -> tuple[int, int, int]:
        """(ttft_ms, chunk_interval_ms, chunks) for this answer."""
        cfg = self.config
        if d is NONE:
            return cfg.ttft_ms, cfg.chunk_interval_ms, cfg.chunks
        return (
            cfg.ttft_ms if d.ttft_ms is None else d.ttft_ms,
            cfg.chunk_interval_ms if d.chunk_interval_ms is None else d.chunk_interval_ms,
            d.chunks or cfg.chunks,
        )

    # -- sending --------------------------------------------------------------------------

    def headers(self, content_type: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> Headers:
        headers = [(b"content-type", content_type)]
        if self.id_header is not None:
            headers.append(self.id_header)
        headers.extend(extra)
        return headers

    async def reply(
        self,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: Sequence[tuple[bytes, bytes]] = (),
        *,
        delay_ms: int = 0,
        disconnect: bool = False,
    ) -> None:
        """A whole body; ``disconnect`` sends half of it and drops the connection."""
        headers = self.headers(content_type, extra)
        headers.append((b"content-length", str(len(body)).encode()))
        send = self.send
        self.started = True
        if not delay_ms and not disconnect:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        pacer = Pacer(self.receive)
        try:
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if not disconnect:
                pacer.finishing()
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if disconnect:
                part = body[: len(body) // 2]
                await send({"type": "http.response.body", "body": part, "more_body": True})
                return  # incomplete: the server closes the connection
            await send({"type": "http.response.body", "body": body})
        except asyncio.CancelledError:
            if not pacer.swallow():
                raise
        finally:
            pacer.close()

    async def stream(
        self,
        frames: Sequence[Sequence[bytes]],
        content_type: bytes,
        d: Directives,
        status: int = 200,
    ) -> None:
        """Send SSE ``frames`` (lists of events): the first after ``ttft_ms``, then one per
        ``chunk_interval_ms``; ``disconnect_after`` cuts the stream after that many events."""
        ttft, interval, _ = self.timing(d)
        cut = d.disconnect_after
        send = self.send
        start = {
            "type": "http.response.start",
            "status": status,
            "headers": self.headers(content_type),
        }
        self.started = True
        if not ttft and not interval and cut is None:
            await send(start)
            await send(
                {"type": "http.response.body", "body": b"".join(b"".join(f) for f in frames)}
            )
            return
        pacer = Pacer(self.receive)
        try:
            await send(start)
            sent = 0
            last = len(frames) - 1
            for index, frame in enumerate(frames):
                delay = ttft if index == 0 else interval
                if delay:
                    await asyncio.sleep(delay / 1000)
                if cut is not None:
                    room = cut - sent
                    if room < len(frame):
                        if room > 0:
                            body = b"".join(frame[:room])
                            await send(
                                {"type": "http.response.body", "body": body, "more_body": True}
                            )
                        return  # incomplete: the server closes the connection
                    sent += len(frame)
                if index == last:
                    pacer.finishing()
                body = b"".join(frame)
                await send({"type": "http.response.body", "body": body, "more_body": index != last})
        except asyncio.CancelledError:
            if not pacer.swallow():
                raise
        finally:
            pacer.close()

    async def pause(self, ms: int) -> bool:
        """Sleep ``ms``; False when the client left meanwhile (then answer nothing)."""
        pacer = Pacer(self.receive)
        try:
            await asyncio.sleep(ms / 1000)
        except asyncio.CancelledError:
            if not pacer.swallow():
                raise
            return False
        finally:
            pacer.close()
        return True
