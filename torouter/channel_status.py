"""Persisting a channel's status off the request path (SPEC R9.6, R7.12).

The health book decides an auto-disable on the hot path; this writer stores it in the
database from a task of its own and invalidates the snapshot, so every node stops (or, after
a successful probe, resumes) using the channel. It lives outside `routing/` because it writes
SQL: routing stays free of the storage layer and is handed this writer by the composition root.
"""

from __future__ import annotations

import asyncio
import logging

from torouter.records import ChannelStatus
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database
from torouter.storage.repos.channels import set_channel_status

__all__ = ["ChannelStatusWriter"]

log = logging.getLogger("torouter.routing")


class ChannelStatusWriter:
    """Persists a channel's status and reloads the snapshot, one write at a time."""

    def __init__(self, db: Database, snapshot: SnapshotHolder) -> None:
        self._db = db
        self._snapshot = snapshot
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, channel_id: int, status: ChannelStatus, reason: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self.write(channel_id, status, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write(self, channel_id: int, status: ChannelStatus, reason: str | None) -> None:
        try:
            async with self._db.begin() as conn:
                await set_channel_status(conn, channel_id=channel_id, status=status, reason=reason)
            await self._snapshot.invalidate()  # every node stops or resumes using it (R7.12)
            log.warning(
                "channel status changed",
                extra={"channel": channel_id, "status": status, "reason": reason},
            )
        except Exception:
            log.exception("could not persist channel status", extra={"channel": channel_id})

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
