"""Batched usage writer (SPEC R11.2): the hot path only appends and enqueues.

One writer task per process drains the queue every `flush_interval_s` or `batch_size` rows and
writes, in one transaction per batch: the usage rows (skipping admission ids already stored,
so a replay never charges twice), one `usage` ledger entry per user with the running balance,
the keys' spend and last use, and the roll-ups of the rows (R11.3, `rollups.py`). A debit that
takes a balance below its owner's threshold yields a low-balance notice (R15.4), handed to
`on_low_balance` once the transaction has committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torouter.storage.db import Database
from torouter.usage import rollups
from torouter.usage.batch import USAGE_INSERT, chunk_size, parse_time, unique_rows
from torouter.usage.journal import Journal
from torouter.usage.low_balance import LowBalance, notify
from torouter.usage.money import apply_money
from torouter.usage.row import UsageRow
from torouter.usage.writer_thread import WriterThread

if TYPE_CHECKING:
    from torouter.state.base import StreamAppend
    from torouter.usage.shared_journal import SharedJournal  # imports redis: scaled out only

__all__ = ["LowBalanceHook", "UsageRecorder", "chunk_size", "write_rows"]

LowBalanceHook = Callable[[Sequence[LowBalance]], None]

log = logging.getLogger("torouter.usage")

# The names the writer's tests and benches know these by.
_INSERT = USAGE_INSERT
_parse_time = parse_time


async def write_rows(
    db: Database,
    rows: Sequence[Mapping[str, Any]],
    *,
    zone: dt.tzinfo = dt.UTC,
    on_low_balance: LowBalanceHook | None = None,
) -> int:
    """Write rows idempotently by admission id; return how many were new."""
    written = 0
    size = chunk_size(len(rows))
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        async with db.begin() as conn:
            parsed = [parse_time(r) for r in unique_rows(chunk)]
            # Rows whose admission id is stored already (a replay) are skipped: never charged
            # or counted twice. Only the rows inserted now go on to the money and roll-ups.
            inserted = await _INSERT.run_new(conn, parsed, "admission_id")
            if not inserted:
                continue
            new = [r for r in parsed if r["admission_id"] in inserted]
            now = dt.datetime.now(dt.UTC)
            notices = await apply_money(conn, new, now)
            hourly_from = rollups.local_hour(now - rollups.HOURLY_KEEP, zone)
            await rollups.apply(conn, rollups.aggregate(new, zone, hourly_from=hourly_from))
            written += len(new)
        notify(notices, on_low_balance)
    return written


class UsageRecorder:
    """Journal and queue settled rows on the hot path; write them in batches behind it.

    The writer runs as a task on the serving loop, or (`writer_thread`, SQLite files only) in
    a thread of its own with its own loop and connection (`writer_thread.py`): there each
    statement's round trip waits on an idle loop instead of a saturated one, so rows leave
    memory under load. Either way a batch is taken under `_lock` together with the journal's
    rotation, so the closed segments hold exactly the rows in the writer's hands (R11.2).
    """

    def __init__(
        self,
        db: Database,
        journal: Journal,
        *,
        queue_size: int = 100_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        zone: dt.tzinfo = dt.UTC,
        on_low_balance: LowBalanceHook | None = None,
        shared: SharedJournal | None = None,
        writer_thread: bool = False,
    ) -> None:
        self._db = db
        self._journal = journal
        self._shared = shared  # scaled out: rows also go to the Redis stream (R11.2)
        self._zone = zone  # the deployment timezone: roll-up days and hours
        self._on_low_balance = on_low_balance
        self._max = queue_size
        self._batch = batch_size
        # A full batch queued while the writer is still busy with rows: requests lend the writer
        # thread the core (`writer_thread.py`). One batch keeps the backlog at about a second of
        # a saturated worker's rows (measured: a larger one saves no CPU and adds RSS).
        self._behind = batch_size
        self._interval = flush_interval_s
        # Rows settled here (`UsageRow`) and rows replayed from a journal (plain dicts).
        self._queue: list[Mapping[str, Any]] = []
        self._retry: list[Mapping[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._writing = 0  # rows taken by the writer, not yet committed
        self.written = 0
        # Held while a row goes to the journal and the queue, and while the writer rotates the
        # journal and takes the queue: the two never interleave, whichever thread writes.
        self._lock = threading.Lock()
        self._thread: WriterThread | None = None
        if writer_thread:
            self._thread = WriterThread(self, db.url, interval_s=flush_interval_s, zone=zone)

    @property
    def depth(self) -> int:
        """Rows settled but not yet committed to the database."""
        return len(self._queue) + len(self._retry) + self._writing

    def has_room(self) -> bool:
        return self.depth < self._max

    def stage(self, row: UsageRow) -> StreamAppend | None:
        """Scaled out, the row's append to the shared journal's stream, for settlement to send
        in its own round trip (`state.base.StreamAppend`); None without a shared journal."""
        return self._shared.stage(row) if self._shared is not None else None

    def record(self, row: UsageRow, staged: StreamAppend | None = None) -> None:
        """Journal then queue one settled row (synchronous: no await on the hot path).
        `staged`: the row's append from `stage`, sent with the settlement or not."""
        with self._lock:
            self._journal.append(row)
            self._queue.append(row)
        if self._shared is not None:
            if staged is None:
                self._shared.publish(row)
            else:
                self._shared.staged(row, staged)
        if len(self._queue) >= self._batch:
            if self._thread is not None:
                self._thread.wake()
                if self.depth > self._behind:  # an idle-priority writer starved by requests
                    self._thread.lend_core()
            else:
                self._wake.set()

    async def replay(self, adopted: Sequence[Path] = ()) -> int:
        """Write what a previous process left in the journal, and the `adopted` segments of
        dead processes' journals (start-up)."""
        paths = self._journal.rotate() + list(adopted)
        rows = list(Journal.read(paths))
        n = await self._write(rows) if rows else 0
        Journal.remove(paths)
        if rows:
            log.info("usage journal replayed", extra={"rows": len(rows), "written": n})
        return n

    @property
    def on_low_balance(self) -> LowBalanceHook | None:
        return self._on_low_balance

    async def _write(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return await write_rows(
            self._db, rows, zone=self._zone, on_low_balance=self._on_low_balance
        )

    def start(self) -> None:
        if self._thread is not None:
            self._thread.start(asyncio.get_running_loop())
        else:
            self._task = asyncio.create_task(self._run(), name="usage-recorder")
        if self._shared is not None:
            self._shared.start()

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    def take(self) -> tuple[list[Mapping[str, Any]], list[Path]]:
        """The rows to write now (earlier failures first) and the journal segments they fill."""
        with self._lock:
            if not self._queue and not self._retry:
                return [], []
            # Rotate with the queue: every row appended so far is in the closed segments and
            # in the rows taken, none of a later one.
            paths = self._journal.rotate()
            rows = self._retry + self._queue
            self._retry, self._queue = [], []
            self._writing = len(rows)
        return rows, paths

    def settled(
        self, rows: list[Mapping[str, Any]], paths: list[Path], written: int | None
    ) -> None:
        """After a batch: `written` rows committed (drop their segments), or None: retry them."""
        if written is None:
            self._retry = rows
            self._writing = 0
            return
        self.written += written
        self._writing = 0
        Journal.remove(paths)
        if self._shared is not None:
            self._shared.done(rows)

    async def flush(self) -> None:
        if self._thread is not None and self._thread.running:
            await self._thread.flush()
            return
        rows, paths = self.take()
        if not rows:
            return
        try:
            written = await self._write(rows)
        except Exception:
            log.exception("usage batch write failed; will retry")
            self.settled(rows, paths, None)
            return
        self.settled(rows, paths, written)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._thread is not None and self._thread.running:
            await self._thread.stop()  # it flushes what is queued, retrying failures, then ends
        else:
            for _ in range(3):
                await self.flush()
                if not self._retry:
                    break
        if self._shared is not None:
            await self._shared.close()
        self._journal.close()
