"""Channel state shared between nodes (SPEC R9.6, R9.2, R20.3): cooldowns and session affinity
are mirrored over the invalidation bus (Redis pub/sub when scaled out), so every node skips a
cooling channel and keeps a session on the same channel. Disables travel as database writes
plus a snapshot invalidation. Least-recently-used stamps stay per process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from torouter.routing.affinity import Affinity
from torouter.routing.health import Cooldown, HealthBook
from torouter.state.bus import Bus

__all__ = ["ChannelMirror"]

log = logging.getLogger("torouter.routing")

TOPIC = "channel-state"


class ChannelMirror:
    """Publishes this node's cooldowns and affinity moves (`cooldown`, `affinity_moved`: the
    health book's and the affinity's listeners, given to them at construction) and, once
    attached, applies the other nodes' to this node's health book and affinity."""

    def __init__(self, bus: Bus, node_id: str) -> None:
        self._bus = bus
        self._node = node_id
        self._health: HealthBook | None = None
        self._affinity: Affinity | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, health: HealthBook, affinity: Affinity) -> None:
        self._health = health
        self._affinity = affinity
        self._bus.subscribe(TOPIC, self._receive)

    def cooldown(self, cd: Cooldown) -> None:
        self._send({"t": "cool", "c": cd.channel_id, "m": cd.model, "u": cd.until, "r": cd.reason})

    def affinity_moved(self, key: tuple[int, str, str], channel_id: int) -> None:
        self._send({"t": "aff", "k": list(key), "c": channel_id})

    def _send(self, msg: dict[str, Any]) -> None:
        msg["n"] = self._node
        task = asyncio.get_running_loop().create_task(self._publish(orjson.dumps(msg)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, data: bytes) -> None:
        try:
            await self._bus.publish(TOPIC, data)
        except Exception:
            log.warning("could not publish channel state", exc_info=True)

    def _receive(self, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict) or msg.get("n") == self._node:
            return
        assert self._health is not None and self._affinity is not None  # subscribed by attach
        if msg.get("t") == "cool":
            cd = Cooldown(int(msg["c"]), msg.get("m"), float(msg["u"]), str(msg.get("r")))
            self._health.apply(cd)
            log.info(
                "channel cooling (peer)",
                extra={"channel": cd.channel_id, "model": cd.model, "reason": cd.reason},
            )
        elif msg.get("t") == "aff":
            k = msg["k"]
            self._affinity.put((int(k[0]), str(k[1]), str(k[2])), int(msg["c"]), notify=False)
            log.info("channel affinity (peer)", extra={"channel": int(msg["c"])})
