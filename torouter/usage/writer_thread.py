"""The usage writer in a thread of its own (SQLite): rows leave memory while the loop is busy.

On the serving loop, each statement of a batch is a round trip through aiosqlite's thread and
back to the loop, and a saturated loop serves it late: the queue outgrows the writer and its
rows pile up in memory (R20.1's peak RSS). This thread runs its own event loop with its own
engine on the same SQLite file, so the round trips wait only on SQLite, which releases the GIL
during I/O. What stays the same: batches are taken with the journal's rotation under the
recorder's lock (R11.2), rows are written idempotently by admission id, a failed batch is
retried, and stopping flushes every queued row (R17.4). Low-balance notices go back to the
serving loop, where the mailer lives.

PostgreSQL keeps the writer on the loop: asyncpg's round trips are on the loop's own sockets
(no extra thread to wait for), and scaled out the writer also acknowledges rows on the shared
journal's Redis stream, whose client belongs to that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from torouter.storage.db import Database
from torouter.usage.low_balance import LowBalance

if TYPE_CHECKING:
    from torouter.usage.recorder import UsageRecorder

__all__ = ["WriterThread"]

log = logging.getLogger("torouter.usage")

_FINAL_TRIES = 3  # at stop, a failing batch is tried this often before its journal keeps it


class WriterThread:
    def __init__(self, recorder: UsageRecorder, database_url: str, *, interval_s: float) -> None:
        self._recorder = recorder
        self._url = database_url
        self._interval = interval_s
        self._wake = threading.Event()
        self._stopping = False
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._waiters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving_loop: asyncio.AbstractEventLoop | None = None

    def start(self, serving_loop: asyncio.AbstractEventLoop) -> None:
        self._serving_loop = serving_loop
        self._thread = threading.Thread(target=self._main, name="usage-writer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    async def flush(self) -> None:
        """Return once every row recorded before the call has been through a write attempt."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._waiters_lock:
            self._waiters.append(done)
        self._wake.set()
        await asyncio.wrap_future(done)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # -- in the thread ---------------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        db = Database(self._url)
        try:
            while not self._stopping:
                self._wake.wait(self._interval)
                self._wake.clear()
                with self._waiters_lock:
                    waiters, self._waiters = self._waiters, []
                loop.run_until_complete(self._batch(db))
                for w in waiters:
                    w.set_result(None)
            for _ in range(_FINAL_TRIES):
                if not loop.run_until_complete(self._batch(db)):
                    break
        finally:
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            for w in waiters:
                w.set_result(None)
            loop.run_until_complete(db.dispose())
            loop.close()

    async def _batch(self, db: Database) -> bool:
        """Write what is queued; True when a batch failed (its rows wait for the next try)."""
        rows, paths = self._recorder.take()
        if not rows:
            return False
        try:
            written = await self._recorder.write_on(db, rows, self._notify)
        except Exception:
            log.exception("usage batch write failed; will retry")
            self._recorder.settled(rows, paths, None)
            return True
        self._recorder.settled(rows, paths, written)
        return False

    def _notify(self, notices: Sequence[LowBalance]) -> None:
        hook = self._recorder.on_low_balance
        if hook is not None and self._serving_loop is not None:
            self._serving_loop.call_soon_threadsafe(hook, notices)
