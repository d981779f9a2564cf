"""Noticing a client that went away while the relay waits on the upstream (SPEC R4.9, R10.6).

A request whose body has been read has nothing left to receive, so the ASGI `receive()` only
returns again with `http.disconnect`. Someone has to be awaiting it for the gateway to notice; a
task per request costs twice a timer (measured with uvloop: a waiting task created and cancelled
4.5 µs; this whole watch, timer included, 2.2 µs), and most answers of a fast upstream arrive
before anybody needs to notice. So a timer starts the watching task only once the upstream call
has lasted `GRACE_S`; a slow or hung upstream — the case that held connections for 300 s — is
then watched. (Streams used to start a task each at their first byte; they now share this.)

On `http.disconnect` the watch sets `gone`, closes the stream being relayed (`resp`), and, while
the request's task is awaiting the upstream (`waiting()` windows), cancels that task: aiohttp
then closes the upstream connection at once. Outside those windows (settling, sending) nothing
is interrupted: a cancellation only ever lands on an upstream await, so a settlement is never
cut in half.

A window may carry a deadline (`waiting(timeout_s)`: the channel's first-byte timeout, R9.3):
when it passes inside the window the watch cancels the task the same way and sets `expired`.
This replaces an `asyncio.timeout` block per attempt, whose context manager, task lookups and
rescheduling cost about 27,000 instructions each (callgrind, 3 % of a whole request); the
deadline is one `call_later`, cancelled when the window closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from torouter.asgi import Receive

__all__ = ["GRACE_S", "ClientWatch"]


GRACE_S = 0.05


class ClientWatch:
    """One per relayed request: `gone` once the client disconnected."""

    __slots__ = (
        "_armed",
        "_cancelled",
        "_closed",
        "_deadline",
        "_expiry",
        "_loop",
        "_receive",
        "_task",
        "_timer",
        "_watcher",
        "expired",
        "gone",
        "resp",
    )

    def __init__(self, receive: Receive, grace_s: float = GRACE_S) -> None:
        self._receive = receive
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task(self._loop)  # given the loop: no second lookup
        self._watcher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(grace_s, self._start)
        self._armed = False
        self._cancelled = False
        self._closed = False
        self._deadline: float | None = None  # the next window's timeout, seconds
        self._expiry: asyncio.TimerHandle | None = None
        self.expired = False  # the last window's deadline passed inside it
        self.gone = False
        self.resp: Any = None  # an upstream response being relayed: closed on disconnect

    def _start(self) -> None:
        self._timer = None
        if not self._closed:
            self._watcher = self._loop.create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if self._closed:  # the answer is complete: the server reports that as a disconnect too
            return
        self.gone = True
        if self.resp is not None:
            with contextlib.suppress(Exception):
                self.resp.close()
        self._cancel()

    def _cancel(self) -> None:
        """Cancel the request's task in its window, once (one `uncancel` undoes it)."""
        if self._armed and self._task is not None and not self._cancelled:
            self._cancelled = True
            self._task.cancel()

    def _expire(self) -> None:
        self._expiry = None
        if self._armed:
            self.expired = True
            self._cancel()

    def waiting(self, timeout_s: float | None = None) -> ClientWatch:
        """`with watch.waiting():` — the request's task is awaiting the upstream, so a
        disconnect may cancel it there; with `timeout_s`, so does the window's deadline
        (`expired`). (The watch is its own context manager: no generator.)"""
        self._deadline = timeout_s
        return self

    def __enter__(self) -> None:
        self._armed = True
        self.expired = False
        if self._deadline is not None:
            self._expiry = self._loop.call_later(self._deadline, self._expire)
            self._deadline = None

    def __exit__(self, *exc: object) -> None:
        self._armed = False
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def swallow(self) -> bool:
        """In `except CancelledError`: True (and the cancellation undone) when it was ours."""
        if not self._cancelled or self._task is None:
            return False
        self._cancelled = False
        self._task.uncancel()
        return True

    def close(self) -> None:
        """Stop watching (before the last bytes of the answer go out); idempotent."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
