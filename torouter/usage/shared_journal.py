"""The shared usage journal (SPEC R11.2's MAY, issue 18 point 3): a Redis stream, scaled out.

The local journal keeps a killed node's settled rows on its own disk until it comes back; a
node that never comes back (a lost machine, a pod rescheduled without its volume) would take
its charges with it. So, with Redis configured, each settled row also goes to one Redis stream:

- Publish, in the settlement's round trip: settlement takes the row's append from `stage(row)`
  and the state backend sends it in the same pipeline as the charge (`state.base.StreamAppend`,
  the script `state.lua.STREAM_APPEND`): XADD, then XCLAIM … FORCE puts the new entry in the
  consumer group's pending list under this node's name. So once settlement has returned, the
  row is in the stream: a node killed at any moment after that leaves no row only on its own
  disk, and no round trip is added. `staged(row, append)` records the entry id.
- Fallback: a row whose settlement call failed (Redis away) goes to an outbox that a task
  sends, one script call per batch, retrying until Redis is back (`publish(row)`).
- Done: once the writer has committed rows, `done(rows)` queues their entry ids; the next
  settlement's append acknowledges and deletes them (XACK + XDEL) in its round trip. Idle,
  the publisher task sends them after `ack_delay_s`, long before a sweep would take them.
- Recover: every node sweeps the group every `sweep_every_s` with XAUTOCLAIM for entries idle
  longer than `claim_idle_s`: only the rows of a node that died (or whose writer has stalled
  that long) are that old. It writes them through the ordinary writer — idempotent by admission
  id, so a row its owner also wrote, or another sweeper took too, is never charged twice —
  then acknowledges and deletes them. A sweeper killed half-way leaves them pending under its
  own name; the next sweep of any node takes them again.

Only a row whose settlement failed to reach Redis waits in the outbox (and the local journal):
its charge is not in Redis either, so a node lost in that moment loses a row whose counters
were not charged, and the local journal still covers a node that comes back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from torouter.state.base import StreamAppend
from torouter.state.lua import STREAM_APPEND

__all__ = ["GROUP", "STREAM", "SharedJournal"]

log = logging.getLogger("torouter.usage")

STREAM = "torouter:usage:journal"
GROUP = "writers"

RowWriter = Callable[[list[Mapping[str, Any]]], Awaitable[int]]

# Rows and acknowledgements per script call: well inside Lua's stack for `unpack`.
_BATCH = 500


class SharedJournal:
    def __init__(
        self,
        client: aioredis.Redis,
        consumer: str,
        write: RowWriter,
        *,
        stream: str = STREAM,
        group: str = GROUP,
        claim_idle_s: float = 5.0,
        sweep_every_s: float = 1.0,
        ack_delay_s: float = 0.25,
    ) -> None:
        self._client = client
        self.consumer = consumer  # this node's name in the group: unique per process
        self._write = write
        self.stream = stream
        self.group = group
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self._sweep_every = sweep_every_s
        # Acknowledgements wait this long for a settlement to carry them: well under
        # `claim_idle_s`, or a sweeper would take committed rows (harmless, but work).
        self._ack_delay = min(ack_delay_s, claim_idle_s / 4)
        self._script = client.register_script(STREAM_APPEND)
        self._outbox: list[Mapping[str, Any]] = []
        self._acks: list[bytes] = []
        self._ids: dict[str, bytes] = {}  # admission id → entry id, until committed
        self._sending: set[str] = set()  # admission ids of the publish call in flight
        self._early: set[str] = set()  # committed while their publish was in flight
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.recovered = 0  # rows of other nodes this node wrote (new ones only)

    # -- the owner's side ------------------------------------------------------------------

    def stage(self, row: Mapping[str, Any]) -> StreamAppend:
        """The row's append, for the settlement's round trip; it carries the acknowledgements
        due so far (given back by `staged` if the call failed)."""
        acks, self._acks = self._acks[:_BATCH], self._acks[_BATCH:]
        return StreamAppend(self.stream, self.group, self.consumer, orjson.dumps(row), acks)

    def staged(self, row: Mapping[str, Any], append: StreamAppend) -> None:
        """After the settlement's call: the row is pending under its entry id, or (the call
        failed) goes to the outbox, and the acknowledgements wait for the next call. An
        acknowledgement sent twice is a no-op."""
        if append.entry_id is not None:
            self._ids[row["admission_id"]] = append.entry_id
            return
        if append.acks:
            self._acks[:0] = append.acks
        self.publish(row)

    def publish(self, row: Mapping[str, Any]) -> None:
        """Send this settled row to the stream soon (synchronous: no await on the hot path)."""
        self._outbox.append(row)
        self._wake.set()

    def done(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """These rows are committed: their entries are acknowledged and deleted next call."""
        committed = {r["admission_id"] for r in rows}
        if self._outbox:  # committed before they were sent: never send them
            self._outbox = [r for r in self._outbox if r["admission_id"] not in committed]
        for aid in committed:
            entry = self._ids.pop(aid, None)
            if entry is not None:
                self._acks.append(entry)
            elif aid in self._sending:
                self._early.add(aid)
        if self._acks:
            self._wake.set()

    @property
    def backlog(self) -> int:
        """Rows and acknowledgements not yet sent (Redis unreachable, or a busy loop)."""
        return len(self._outbox) + len(self._acks)

    async def push(self) -> None:
        """Send the outbox and the acknowledgements, one script call per batch."""
        while self._outbox or self._acks:
            rows, self._outbox = self._outbox[:_BATCH], self._outbox[_BATCH:]
            acks, self._acks = self._acks[:_BATCH], self._acks[_BATCH:]
            aids = [r["admission_id"] for r in rows]
            self._sending = set(aids)
            try:
                ids = await self._script(
                    keys=[self.stream],
                    args=[
                        self.group,
                        self.consumer,
                        len(rows),
                        *(orjson.dumps(r) for r in rows),
                        *acks,
                    ],
                )
            except RedisError:
                # Keep them for the next call; the local journal holds the rows meanwhile.
                # (A call that failed after its XADDs left entries nobody acknowledges: the
                # sweep finds their rows already stored and deletes them.)
                self._outbox[:0] = [r for r in rows if r["admission_id"] not in self._early]
                self._acks[:0] = acks
                self._early.difference_update(aids)
                raise
            finally:
                self._sending = set()
            for aid, entry in zip(aids, ids, strict=True):
                if aid in self._early:
                    self._early.discard(aid)
                    self._acks.append(entry)
                else:
                    self._ids[aid] = entry

    async def _publisher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._outbox:
                # Only acknowledgements: under load the next settlements carry them, so this
                # task makes no call of its own; idle, they go after a short wait.
                await asyncio.sleep(self._ack_delay)
            try:
                await self.push()
            except RedisError as exc:
                log.warning("shared usage journal: Redis unavailable (%s); will retry", exc)
                await asyncio.sleep(1.0)
                self._wake.set()

    # -- every node's side: the rows of nodes that stopped ---------------------------------

    async def recover(self) -> int:
        """Write the rows pending longer than `claim_idle_s`; return how many were new."""
        start: bytes | str = "0-0"
        written = 0
        while True:
            try:
                reply = await self._client.xautoclaim(
                    self.stream,
                    self.group,
                    self.consumer,
                    self._claim_idle_ms,
                    start_id=start,
                    count=_BATCH,
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                return written  # nothing published yet (or Redis came back empty)
            start, entries = reply[0], reply[1]
            ids = [entry_id for entry_id, fields in entries]
            rows = [orjson.loads(fields[b"row"]) for _, fields in entries if fields]
            if rows:
                new = await self._write(rows)
                written += new
                log.warning(
                    "shared usage journal: wrote rows of a stopped node",
                    extra={"rows": len(rows), "written": new},
                )
            if ids:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.xack(self.stream, self.group, *ids)
                    pipe.xdel(self.stream, *ids)
                    await pipe.execute()
            if start in (b"0-0", "0-0"):
                break
        self.recovered += written
        return written

    async def _sweeper(self) -> None:
        while True:
            # Jittered, so nodes started together do not sweep in step.
            await asyncio.sleep(self._sweep_every * random.uniform(0.75, 1.25))
            try:
                await self.recover()
            except Exception:  # Redis or the database away: the entries wait for the next sweep
                log.exception("shared usage journal: sweep failed; will retry")

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._publisher(), name="shared-journal-publish"),
            asyncio.create_task(self._sweeper(), name="shared-journal-sweep"),
        ]

    async def close(self) -> None:
        """Stop the tasks, send the last acknowledgements, leave the group if nothing of ours
        is pending (a node that stops cleanly leaves no name behind)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        try:
            await self.push()
            mine = await self._client.xpending_range(
                self.stream, self.group, min="-", max="+", count=1, consumername=self.consumer
            )
            if not mine:  # deleting a consumer drops its pending entries: only when it has none
                await self._client.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                log.warning("shared usage journal: leaving the group failed (%s)", exc)
        except RedisError as exc:
            log.warning("shared usage journal: last acknowledgements not sent (%s)", exc)
