"""The shared usage journal (SPEC R11.2's MAY, issue 18 point 3): a Redis stream, scaled out.

The local journal keeps a killed node's settled rows on its own disk until it comes back; a
node that never comes back (a lost machine, a pod rescheduled without its volume) would take
its charges with it. So, with Redis configured, each settled row also goes to one Redis stream:

- Publish: `publish(row)` only appends to an outbox (no await on the hot path); a task sends
  the outbox in one script call per batch — XADD each row, then XCLAIM … FORCE puts the new
  entries in the consumer group's pending list under this node's name. Under load one round
  trip carries many rows; idle, a row reaches Redis on the loop's next turn, long before the
  writer's next batch (200 ms).
- Done: once the writer has committed rows, `done(rows)` queues their entry ids; the next
  publish call acknowledges and deletes them (XACK + XDEL), in the same round trip.
- Recover: every node sweeps the group every `sweep_every_s` with XAUTOCLAIM for entries idle
  longer than `claim_idle_s`: only the rows of a node that died (or whose writer has stalled
  that long) are that old. It writes them through the ordinary writer — idempotent by admission
  id, so a row its owner also wrote, or another sweeper took too, is never charged twice —
  then acknowledges and deletes them. A sweeper killed half-way leaves them pending under its
  own name; the next sweep of any node takes them again.

Rows a node settled and had not yet sent when it was killed are in its local journal only:
the stream narrows the loss window of a node that never returns, the local journal still
covers a node that does.
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

__all__ = ["GROUP", "STREAM", "SharedJournal"]

log = logging.getLogger("torouter.usage")

STREAM = "torouter:usage:journal"
GROUP = "writers"

RowWriter = Callable[[list[Mapping[str, Any]]], Awaitable[int]]

# KEYS[1] the stream. ARGV: group, consumer, n, n rows, then the entry ids to acknowledge.
# The group is created on first use (and again if Redis came back empty); a row's entry is
# pending under this node from the moment it exists, so a sweeper can always find it.
_PUBLISH = """
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
local n = tonumber(ARGV[3])
local ids = {}
for i = 1, n do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'row', ARGV[3 + i])
end
if n > 0 then
  local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for i = 1, n do claim[#claim + 1] = ids[i] end
  claim[#claim + 1] = 'FORCE'
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
if #ARGV > 3 + n then
  local done = {}
  for i = 4 + n, #ARGV do done[#done + 1] = ARGV[i] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(done))
  redis.call('XDEL', KEYS[1], unpack(done))
end
return ids
"""

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
    ) -> None:
        self._client = client
        self.consumer = consumer  # this node's name in the group: unique per process
        self._write = write
        self.stream = stream
        self.group = group
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self._sweep_every = sweep_every_s
        self._script = client.register_script(_PUBLISH)
        self._outbox: list[Mapping[str, Any]] = []
        self._acks: list[bytes] = []
        self._ids: dict[str, bytes] = {}  # admission id → entry id, until committed
        self._sending: set[str] = set()  # admission ids of the publish call in flight
        self._early: set[str] = set()  # committed while their publish was in flight
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.recovered = 0  # rows of other nodes this node wrote (new ones only)

    # -- the owner's side ------------------------------------------------------------------

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
