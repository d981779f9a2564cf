"""Invalidation messages between nodes (SPEC R7.12): in-process, or Redis pub/sub.

A handler sees every message of its channel, this node's own included (senders put their node
id in the message when they need to tell). After a lost Redis connection is back, the
`on_reconnect` callbacks run, so a node that may have missed messages flushes its caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["Bus", "MemoryBus", "RedisBus"]

log = logging.getLogger("torouter.bus")

Handler = Callable[[bytes], Awaitable[None] | None]
Callback = Callable[[], Awaitable[None] | None]


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str, handler: Handler) -> None: ...

    def on_reconnect(self, callback: Callback) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def _call(fn: Callable[..., Awaitable[None] | None], *args: object) -> None:
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
            await _call(h, message)

    def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers.setdefault(channel, []).append(handler)

    def on_reconnect(self, callback: Callback) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBus:
    """Redis pub/sub with one listening task that reconnects with back-off."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "torouter:") -> None:
        self._client = client
        self._prefix = prefix
        self._handlers: dict[str, list[Handler]] = {}
        self._reconnect: list[Callback] = []
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self._client.publish(self._prefix + channel, message)
        except RedisError as exc:
            log.error("redis publish failed on %s: %s", channel, exc)

    def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers.setdefault(self._prefix + channel, []).append(handler)

    def on_reconnect(self, callback: Callback) -> None:
        self._reconnect.append(callback)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def _run(self) -> None:
        delay = 0.1
        lost = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._handlers)
                self.subscribed.set()
                if lost:
                    log.warning("redis pub/sub reconnected: flushing caches")
                    for cb in self._reconnect:
                        await _call(cb)
                    lost = False
                delay = 0.1
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    channel = msg["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    data = msg["data"]
                    for h in self._handlers.get(channel, ()):
                        await _call(h, data if isinstance(data, bytes) else str(data).encode())
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not lost:
                    log.error("redis pub/sub connection lost: %s", exc)
                lost = True
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
