"""Stream keep-alive (SPEC R4.7): after `stream.keepalive_s` of silence toward the client, an SSE
comment on the OpenAI surfaces (chat, Responses) or a `ping` event on the Anthropic one; nothing
for Gemini, whose SDK reads any line that is not `data: ` as JSON.

A timer per stream, not a task: the relay marks each send and the timer only wakes once per
interval. The relay sends whole events only, so a ping written between two sends never splits
one; uvicorn writes a body message before its first await, so the two never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib

from torouter.asgi import Send

__all__ = ["KeepAlive", "ping_for"]


_OPENAI = b": keep-alive\n\n"
_ANTHROPIC = b'event: ping\ndata: {"type": "ping"}\n\n'


def ping_for(front: str, sse: bool) -> bytes | None:
    """The keep-alive bytes of a front door's stream, or None where there are none."""
    if not sse:
        return None
    return {"openai": _OPENAI, "responses": _OPENAI, "anthropic": _ANTHROPIC}.get(front)


class KeepAlive:
    def __init__(self, send: Send, ping: bytes, interval: float) -> None:
        self._send = send
        self._message = {"type": "http.response.body", "body": ping, "more_body": True}
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()
        self._task: asyncio.Task[None] | None = None
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(
            self.last + interval, self._tick
        )

    def sent(self) -> None:
        """The relay wrote to the client: silence starts again."""
        self.last = self._loop.time()

    def stop(self) -> None:
        """Before the stream's last message: no ping may follow it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _tick(self) -> None:
        now = self._loop.time()
        due = self.last + self._interval
        if now >= due and (self._task is None or self._task.done()):
            self._task = self._loop.create_task(self._ping())
            self.last = now
            due = now + self._interval
        self._handle = self._loop.call_at(due, self._tick)

    async def _ping(self) -> None:
        with contextlib.suppress(Exception):  # a client gone is the relay's to notice
            await self._send(self._message)
