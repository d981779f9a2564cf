"""Tell a running deployment that a CLI command changed its database (R7.12).

The management API reloads its process's snapshot and publishes on the bus, so every node
serves an edit at once; `torouter apply` and the other CLI writes used to wait for the periodic
reload (a minute). They now reach the running nodes the way the API's edits do:
- with Redis, the same message on the same pub/sub channel the API publishes on;
- without Redis, one process serves the database (it holds the single-process lock, whose
  holder this host can name): that process gets `SIGUSR1`, on which it reloads and publishes
  on its in-process bus, exactly as after an API edit.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from torouter.config import Settings
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database
from torouter.storage.lock import local_holder

__all__ = ["RELOAD_SIGNAL", "publish_invalidation"]

log = logging.getLogger("torouter.invalidation")

# The signal a Redis-less `serve` reloads its snapshot on.
RELOAD_SIGNAL = signal.SIGUSR1


async def publish_invalidation(settings: Settings, db: Database) -> str:
    """Reach the running nodes; returns what was done, for the command's output."""
    if settings.redis.url:
        from torouter.state.redis import connect
        from torouter.state.redis_bus import RedisBus

        client = connect(settings.redis.url, timeout_s=settings.redis.socket_timeout_s)
        try:
            # The API's own publish (prefix, channel, a node id that is not any server's).
            await RedisBus(client).publish(SnapshotHolder.CHANNEL, f"cli-{os.getpid()}".encode())
        finally:
            await client.aclose()
        return "running nodes notified through Redis"
    pid = await local_holder(db, Path(settings.data_dir))
    if pid is None or pid == os.getpid():
        return "no running server found: it will read the changes when it starts"
    try:
        os.kill(pid, RELOAD_SIGNAL)
    except ProcessLookupError:
        return "no running server found: it will read the changes when it starts"
    except PermissionError:
        log.warning("cannot signal the server (pid %s): it reloads within a minute", pid)
        return f"the running server (pid {pid}) reloads within a minute (not allowed to signal)"
    return f"asked the running server (pid {pid}) to reload"
