"""`previous_response_id` routing (SPEC R3.3, ToRouter extension): a Responses follow-up goes to
the openai channel that produced the response it continues.

Response ids and channel ids only, kept 30 days. The hot path touches memory only: ids land in
a bounded LRU and a pending list; a background flush writes the list in one batch shortly
after (table `response_routes`), so a restart or another node finds them in the database. A
follow-up whose id is not in memory costs one indexed lookup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from torouter.errors import error
from torouter.records import ChannelRec
from torouter.routing import matrix
from torouter.storage import tables as t
from torouter.storage.db import Database

__all__ = ["ResponseRoutes"]

log = logging.getLogger("torouter.gateway")

TTL_S = 30 * 86400
_PRUNE_EVERY_S = 3600.0


class ResponseRoutes:
    def __init__(
        self,
        db: Database | None,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = 100_000,
        flush_delay_s: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._ttl = ttl_s
        self._max = max_entries
        self._delay = flush_delay_s
        self._clock = clock
        self._recent: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._pending: list[tuple[str, int, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._pruned = 0.0

    # -- hot path ---------------------------------------------------------------------------

    def remember(self, response_id: str, channel_id: int) -> None:
        now = self._clock()
        self._recent[response_id] = (channel_id, now)
        self._recent.move_to_end(response_id)
        while len(self._recent) > self._max:
            self._recent.popitem(last=False)
        if self._db is None or len(self._pending) >= self._max:
            return
        self._pending.append((response_id[:200], channel_id, now))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def lookup(self, response_id: str) -> int | None:
        now = self._clock()
        hit = self._recent.get(response_id)
        if hit is not None:
            if hit[1] + self._ttl > now:
                return hit[0]
            del self._recent[response_id]
            return None
        if self._db is None:
            return None
        since = dt.datetime.fromtimestamp(now - self._ttl, dt.UTC)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(t.response_routes.c.channel_id).where(
                        t.response_routes.c.response_id == response_id,
                        t.response_routes.c.created_at >= since,
                    )
                )
            ).first()
        return int(row[0]) if row is not None else None

    async def route(self, response_id: str, candidates: list[ChannelRec]) -> list[ChannelRec]:
        """The candidates a follow-up may use: the channel of its response (E22 when that one
        cannot serve now); openai channels only (E16 elsewhere)."""
        native = [c for c in candidates if matrix.serves_previous_response(c)]
        if not native:
            raise error(
                "E16",
                "previous_response_id is only supported on openai channels",
                param="previous_response_id",
            )
        channel_id = await self.lookup(response_id)
        if channel_id is None:
            return native
        pinned = [c for c in native if c.id == channel_id]
        if not pinned:
            raise error("E22")
        return pinned

    # -- off the hot path -------------------------------------------------------------------

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._delay)
        while self._pending:
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch or self._db is None:
            return
        rows = [
            {
                "response_id": rid,
                "channel_id": cid,
                "created_at": dt.datetime.fromtimestamp(ts, dt.UTC),
            }
            for rid, cid, ts in batch
        ]
        dialect = postgresql if self._db.dialect.startswith("postgres") else sqlite
        stmt = dialect.insert(t.response_routes).on_conflict_do_nothing()
        try:
            async with self._db.begin() as conn:
                await conn.execute(stmt, rows)
                now = self._clock()
                if now - self._pruned > _PRUNE_EVERY_S:
                    self._pruned = now
                    cutoff = dt.datetime.fromtimestamp(now - self._ttl, dt.UTC)
                    await conn.execute(
                        delete(t.response_routes).where(t.response_routes.c.created_at < cutoff)
                    )
        except Exception:
            log.exception("could not store response routes", extra={"rows": len(rows)})

    async def close(self) -> None:
        """Write what is pending (at shutdown)."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=5)
        await self.flush()
