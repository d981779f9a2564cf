"""Invalidation messages between nodes (SPEC R7.12): in-process, or Redis pub/sub.

A handler sees every message of its channel, this node's own included (senders put their node
id in the message when they need to tell). After a lost Redis connection is back, the
`on_reconnect` callbacks run, so a node that may have missed messages flushes its caches.
The Redis one is in `redis_bus.py`, imported only when `redis.url` is set.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Bus", "MemoryBus"]

log = logging.getLogger("torouter.bus")

Handler = Callable[[bytes], Awaitable[None] | None]
Callback = Callable[[], Awaitable[None] | None]


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str, handler: Handler) -> None: ...

    def on_reconnect(self, callback: Callback) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def deliver(fn: Callable[..., Awaitable[None] | None], *args: object) -> None:
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("bus handler failed")


class MemoryBus:
    """One process: a publish calls the handlers directly."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    async def publish(self, channel: str, message: bytes) -> None:
        for h in self._handlers.get(channel, ()):
            await deliver(h, message)

    def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers.setdefault(channel, []).append(handler)

    def on_reconnect(self, callback: Callback) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
