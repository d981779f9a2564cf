"""The usage writer in a thread of its own (SQLite): rows leave memory while the loop is busy.

On the serving loop, each statement of a batch is a round trip through aiosqlite's thread and
back to the loop, and a saturated loop serves it late: the queue outgrows the writer and its
rows pile up in memory (R20.1's peak RSS). This thread writes through a `sqlite3` connection
of its own on the same file (`sqlite_store.py`): no event loop and no thread hop per
statement, SQLite releasing the GIL while it works. What stays the same: batches are taken
with the journal's rotation under the recorder's lock (R11.2), rows are written idempotently
by admission id, a failed batch is retried, and stopping flushes every queued row (R17.4).
Low-balance notices go back to the serving loop, where the mailer lives.

PostgreSQL keeps the writer on the loop: asyncpg's round trips are on the loop's own sockets
(no extra thread to wait for), and scaled out the writer also acknowledges rows on the shared
journal's Redis stream, whose client belongs to that loop.

Requests come first (R20.1's added p99). A worker is one core's worth of CPU, and a flush is
tens of milliseconds of it; at the scheduler's normal priority the writer kept the core for a
whole time slice while a request waited (the benchmark's c=1 p99: ~2 ms, in bursts at every
flush). So on Linux the thread runs under `SCHED_IDLE` (it gets the core only when the
serving thread does not want it), and the interpreter's switch
interval drops to 0.1 ms while it runs, so the serving thread waits at most about that long
for the GIL the writer holds (measured: c=1 p99 +2.36 -> +0.99 ms). An idle-priority thread
starves under a saturated loop, the very case this thread is for; so when a full batch waits
behind the one being written, `lend_core` blocks the serving thread for a moment (the writer
then has the core), and the intake slows to what the writer can write instead of piling rows
up in memory (measured without it: peak RSS 174 MB). Not while a batch is failing: then rows
wait in the journal and the queue (R11.2), and slowing requests would not help the database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from torouter.usage.low_balance import LowBalance
from torouter.usage.sqlite_store import SqliteUsageStore

if TYPE_CHECKING:
    from torouter.usage.recorder import UsageRecorder

__all__ = ["WriterThread"]

log = logging.getLogger("torouter.usage")

_FINAL_TRIES = 3  # at stop, a failing batch is tried this often before its journal keeps it
_LEND_S = 0.002  # the longest one `lend_core` holds the serving thread
_SWITCH_S = 0.0001  # the switch interval while a writer thread runs (Python's default: 5 ms)

_switch_lock = threading.Lock()
_switch_users = 0
_switch_before = 0.0


def _shorten_switch_interval() -> None:
    """Process-wide, so counted: the first writer thread sets it, the last one restores it."""
    global _switch_users, _switch_before
    with _switch_lock:
        if _switch_users == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_before, _SWITCH_S))
        _switch_users += 1


def _restore_switch_interval() -> None:
    global _switch_users
    with _switch_lock:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_before)


def idle_priority() -> bool:
    """Put the calling thread under `SCHED_IDLE` (Linux; threads it starts inherit it).

    False where the platform has no such policy or refuses it: the writer then runs at normal
    priority, as it did before, and `lend_core` is not needed.
    """
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return False
    try:
        os.sched_setscheduler(threading.get_native_id(), policy, os.sched_param(0))
    except OSError as exc:  # lowering one's own priority needs no privilege; be safe anyway
        log.info("usage writer keeps normal priority", extra={"error": str(exc)})
        return False
    return True


class WriterThread:
    def __init__(
        self,
        recorder: UsageRecorder,
        database_url: str,
        *,
        interval_s: float,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self._recorder = recorder
        path = make_url(database_url).database
        if not path or path == ":memory:":  # a second connection would see another database
            raise ValueError("the usage writer thread needs an SQLite file")
        self._path = path
        self._zone = zone  # the deployment timezone: roll-up days and hours
        self._interval = interval_s
        self._wake = threading.Event()
        self._stopping = False
        self._waiters: list[concurrent.futures.Future[None]] = []
        self._waiters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._progress = threading.Event()  # set after each batch written (`lend_core`)
        self.idle = False  # runs under SCHED_IDLE (set by the thread itself)
        self._failing = False  # the last batch failed: no lending, the database is the problem

    def start(self, serving_loop: asyncio.AbstractEventLoop) -> None:
        self._serving_loop = serving_loop
        _shorten_switch_interval()
        self._thread = threading.Thread(target=self._main, name="usage-writer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def lend_core(self) -> None:
        """On the serving thread, with rows piling up: wait (at most `_LEND_S`) for the writer
        to finish a batch. Blocking is the point: an idle-priority writer runs only while the
        serving thread does not."""
        if not self.idle or self._failing or not self.running:
            return
        self._progress.clear()
        self._wake.set()
        self._progress.wait(_LEND_S)

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
            self._thread = None
            _restore_switch_interval()

    # -- in the thread ---------------------------------------------------------------------------

    def _main(self) -> None:
        self.idle = idle_priority()
        store = SqliteUsageStore(self._path, zone=self._zone)
        try:
            while not self._stopping:
                self._wake.wait(self._interval)
                self._wake.clear()
                with self._waiters_lock:
                    waiters, self._waiters = self._waiters, []
                self._batch(store)
                for w in waiters:
                    w.set_result(None)
            for _ in range(_FINAL_TRIES):
                if not self._batch(store):
                    break
        finally:
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            for w in waiters:
                w.set_result(None)
            store.close()

    def _batch(self, store: SqliteUsageStore) -> bool:
        """Write what is queued; True when a batch failed (its rows wait for the next try)."""
        rows, paths = self._recorder.take()
        if not rows:
            return False
        try:
            written = store.write(rows, self._notify)
        except Exception:
            log.exception("usage batch write failed; will retry")
            self._failing = True
            self._recorder.settled(rows, paths, None)
            return True
        self._failing = False
        self._recorder.settled(rows, paths, written)
        self._progress.set()
        return False

    def _notify(self, notices: Sequence[LowBalance]) -> None:
        hook = self._recorder.on_low_balance
        if hook is not None and self._serving_loop is not None:
            self._serving_loop.call_soon_threadsafe(hook, notices)
