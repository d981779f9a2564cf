"""Invalidation messages between nodes over Redis pub/sub (SPEC R7.12); see `bus.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from torouter.state.bus import Callback, Handler, deliver

__all__ = ["RedisBus"]

log = logging.getLogger("torouter.bus")


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
                        await deliver(cb)
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
                        await deliver(h, data if isinstance(data, bytes) else str(data).encode())
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not lost:
                    log.error("redis pub/sub connection lost: %s", exc)
                lost = True
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
