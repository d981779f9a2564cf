"""Node heartbeats: every serving process keeps one row of `nodes` fresh (ToRouter extension).

    identity = NodeIdentity.here(version)        # hostname-pid-ULID, new at every start
    beat = Heartbeat(db, identity, depth=recorder.depth…, info={…}); beat.start()
    …; await beat.stop()                          # the row says it stopped cleanly

A row whose `last_seen_at` is older than `STALE_AFTER` belongs to a process that is gone
(killed, or its host down); a clean shutdown stamps `stopped_at`. Rows of processes gone
for more than `FORGET_AFTER` are deleted by the next heartbeat of any node, so restarts do
not pile up. A failed write is logged and retried at the next beat, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.ids import new_ulid
from torouter.storage.db import Database
from torouter.storage.tables import nodes

__all__ = [
    "FORGET_AFTER",
    "INTERVAL_S",
    "STALE_AFTER",
    "Heartbeat",
    "NodeIdentity",
    "NodeRow",
    "list_nodes",
]

log = logging.getLogger("torouter.operations")

INTERVAL_S = 15.0
STALE_AFTER = dt.timedelta(seconds=60)
FORGET_AFTER = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    id: str
    hostname: str
    pid: int
    version: str
    started_at: dt.datetime

    @classmethod
    def here(cls, version: str, *, now: dt.datetime | None = None) -> NodeIdentity:
        host = socket.gethostname()
        pid = os.getpid()
        return cls(
            id=f"{host}-{pid}-{new_ulid()}"[:100],
            hostname=host[:255],
            pid=pid,
            version=version[:40],
            started_at=now or dt.datetime.now(dt.UTC),
        )


@dataclass(frozen=True, slots=True)
class NodeRow:
    id: str
    hostname: str
    pid: int
    version: str
    started_at: dt.datetime
    last_seen_at: dt.datetime
    stopped_at: dt.datetime | None
    usage_queue_depth: int
    info: dict[str, Any]
    state: str  # up | gone (no heartbeat for STALE_AFTER) | stopped (clean shutdown)


class Heartbeat:
    def __init__(
        self,
        db: Database,
        identity: NodeIdentity,
        *,
        depth: Callable[[], int] = lambda: 0,
        info: Mapping[str, Any] | None = None,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._db = db
        self.identity = identity
        self._depth = depth
        self._info = dict(info or {})
        self._interval = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="node-heartbeat")

    async def _loop(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self._interval)

    async def beat(self) -> None:
        """Write this node's row now (insert on the first beat); forget long-gone nodes."""
        now = self._clock()
        me = self.identity
        values = {"last_seen_at": now, "usage_queue_depth": self._depth(), "info": self._info}
        try:
            async with self._db.begin() as conn:
                done = await conn.execute(update(nodes).where(nodes.c.id == me.id).values(values))
                if done.rowcount == 0:
                    await conn.execute(
                        insert(nodes).values(
                            id=me.id,
                            hostname=me.hostname,
                            pid=me.pid,
                            version=me.version,
                            started_at=me.started_at,
                            **values,
                        )
                    )
                await conn.execute(delete(nodes).where(nodes.c.last_seen_at < now - FORGET_AFTER))
        except Exception:
            log.exception("node heartbeat failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        now = self._clock()
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    update(nodes)
                    .where(nodes.c.id == self.identity.id)
                    .values(stopped_at=now, last_seen_at=now, usage_queue_depth=self._depth())
                )
        except Exception:
            log.exception("node heartbeat could not record the shutdown")


async def list_nodes(conn: AsyncConnection, now: dt.datetime) -> list[NodeRow]:
    """Every node seen in the last `FORGET_AFTER`: those up first, newest start first."""
    rows = (await conn.execute(select(nodes))).mappings()
    out = []
    for r in rows:
        if r["stopped_at"] is not None:
            state = "stopped"
        elif now - r["last_seen_at"] > STALE_AFTER:
            state = "gone"
        else:
            state = "up"
        out.append(NodeRow(**{k: r[k] for k in nodes.c.keys()}, state=state))
    order = {"up": 0, "gone": 1, "stopped": 2}
    out.sort(key=lambda n: (order[n.state], -n.started_at.timestamp()))
    return out
