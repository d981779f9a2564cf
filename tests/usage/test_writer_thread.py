"""The usage writer in its own thread (`usage.writer_thread`, SQLite; issue 20, R20.1): rows
leave memory while the serving loop is saturated, and everything the loop writer promises
still holds: exactly once by admission id, retries, the journal (R11.2), the flush at
shutdown (R17.4) and low-balance notices on the serving loop (R15.4)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.usage.test_recorder import add_user, make_rows
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.storage.migrate import upgrade
from torouter.usage.journal import Journal
from torouter.usage.low_balance import LowBalance
from torouter.usage.recorder import UsageRecorder


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'usage.db'}")
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


def stored_ids(db: Database) -> list[str]:
    path = db.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT admission_id FROM usage_logs")]


def _file(db: Database) -> str:
    return db.url.split("///", 1)[1]


def break_inserts(db: Database) -> None:
    """Every insert into usage_logs fails (as a full disk would), until `repair_inserts`."""
    with sqlite3.connect(_file(db)) as conn:
        conn.execute(
            "CREATE TRIGGER broken BEFORE INSERT ON usage_logs "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )


def repair_inserts(db: Database) -> None:
    with sqlite3.connect(_file(db)) as conn:
        conn.execute("DROP TRIGGER broken")


def ledger_count(db: Database) -> int:
    with sqlite3.connect(_file(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM ledger").fetchone()[0])


def record_all(recorder: UsageRecorder, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        recorder.record(r)  # type: ignore[arg-type]


async def test_rows_are_written_while_the_loop_never_yields(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The loop is held (no await at all) until the rows are in the file: only a writer that
    does not need the loop can have written them."""
    user = await add_user(sqlite_db)
    rows = make_rows(300, [user])
    recorder = UsageRecorder(sqlite_db, Journal(tmp_path / "j"), batch_size=100, writer_thread=True)
    recorder.start()
    try:
        record_all(recorder, rows)
        deadline = time.monotonic() + 60
        while len(stored_ids(sqlite_db)) < len(rows) and time.monotonic() < deadline:
            time.sleep(0.02)  # noqa: ASYNC251 - blocks the loop on purpose
        assert sorted(stored_ids(sqlite_db)) == sorted(r["admission_id"] for r in rows)
        assert recorder.written == len(rows)
        assert recorder.depth == 0
        assert not list((tmp_path / "j").glob("usage-*.jsonl"))  # committed: segments gone
    finally:
        await recorder.close()


async def test_close_writes_every_queued_row_once(sqlite_db: Database, tmp_path: Path) -> None:
    user = await add_user(sqlite_db)
    rows = make_rows(250, [user])
    recorder = UsageRecorder(
        sqlite_db,
        Journal(tmp_path / "j"),
        batch_size=10_000,  # never woken by size: close alone must write them
        flush_interval_s=3600,
        writer_thread=True,
    )
    recorder.start()
    record_all(recorder, rows + rows[:50])  # an admission id twice is charged once
    await recorder.close()
    ids = stored_ids(sqlite_db)
    assert len(ids) == 250 and set(ids) == {r["admission_id"] for r in rows}
    assert recorder.depth == 0
    assert not list((tmp_path / "j").glob("usage-*.jsonl"))


async def test_flush_returns_once_the_rows_are_committed(
    sqlite_db: Database, tmp_path: Path
) -> None:
    user = await add_user(sqlite_db)
    recorder = UsageRecorder(
        sqlite_db,
        Journal(tmp_path / "j"),
        batch_size=10_000,
        flush_interval_s=3600,
        writer_thread=True,
    )
    recorder.start()
    try:
        record_all(recorder, make_rows(20, [user]))
        await recorder.flush()
        assert len(stored_ids(sqlite_db)) == 20 and recorder.written == 20
    finally:
        await recorder.close()


async def test_a_failed_batch_is_retried_and_the_journal_kept_until_then(
    sqlite_db: Database, tmp_path: Path
) -> None:
    user = await add_user(sqlite_db)
    rows = make_rows(30, [user])
    recorder = UsageRecorder(
        sqlite_db,
        Journal(tmp_path / "j"),
        batch_size=10_000,
        flush_interval_s=3600,
        writer_thread=True,
    )
    break_inserts(sqlite_db)  # a real failure, inside the batch's transaction
    recorder.start()
    try:
        record_all(recorder, rows)
        await recorder.flush()  # the first attempt fails
        assert stored_ids(sqlite_db) == [] and recorder.depth == 30
        assert ledger_count(sqlite_db) == 0  # rolled back whole: no charge without its rows
        assert list((tmp_path / "j").glob("usage-*.jsonl"))  # the durable copy stays
        replayed = list(Journal.read(sorted((tmp_path / "j").glob("usage-*.jsonl"))))
        assert len(replayed) == 30
        repair_inserts(sqlite_db)
        await recorder.flush()  # the retry
        assert len(stored_ids(sqlite_db)) == 30 and recorder.depth == 0
        assert ledger_count(sqlite_db) == 1
        assert not list((tmp_path / "j").glob("usage-*.jsonl"))
    finally:
        await recorder.close()


async def test_a_journal_left_by_a_crash_is_replayed_once(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Rows journaled, some written, then the process died: the next start writes the rest and
    never a row twice (admission ids)."""
    user = await add_user(sqlite_db)
    rows = make_rows(40, [user])
    first = UsageRecorder(
        sqlite_db, Journal(tmp_path / "j"), flush_interval_s=3600, writer_thread=True
    )
    first.start()
    record_all(first, rows[:25])
    await first.flush()  # 25 committed
    record_all(first, rows[25:])  # 15 journaled only: then "killed" (no close)
    first._thread._stopping = True  # type: ignore[union-attr]  # the thread ends, no flush
    first._thread.wake()  # type: ignore[union-attr]
    first._thread._thread.join(30)  # type: ignore[union-attr]
    first._journal.close()
    second = UsageRecorder(sqlite_db, Journal(tmp_path / "j"), writer_thread=True)
    assert await second.replay() == 40 - len(stored_ids(sqlite_db))
    assert sorted(stored_ids(sqlite_db)) == sorted(r["admission_id"] for r in rows)
    await second.close()


async def test_low_balance_notices_are_handed_to_the_serving_loop(
    sqlite_db: Database, tmp_path: Path
) -> None:
    user = await add_user(sqlite_db, balance=10**9)
    async with sqlite_db.begin() as conn:
        await conn.execute(
            update(t.users).where(t.users.c.id == user).values(low_balance_threshold_nusd=10**9)
        )
    got: list[tuple[int, Sequence[LowBalance]]] = []
    arrived = asyncio.Event()

    def hook(notices: Sequence[LowBalance]) -> None:
        got.append((threading.get_ident(), notices))
        arrived.set()

    recorder = UsageRecorder(
        sqlite_db, Journal(tmp_path / "j"), on_low_balance=hook, writer_thread=True
    )
    recorder.start()
    try:
        row = make_rows(1, [user])[0] | {"outcome": "success", "cost_nusd": 5, "status": 200}
        recorder.record(row)  # type: ignore[arg-type]
        await recorder.flush()
        await asyncio.wait_for(arrived.wait(), 30)
    finally:
        await recorder.close()
    ((thread, notices),) = got
    assert thread == threading.get_ident()  # the loop's thread, where the mailer lives
    assert [n.user_id for n in notices] == [user]


needs_idle_policy = pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE"),
    reason="SCHED_IDLE is Linux's: elsewhere the writer runs at normal priority",
)


def _writer_native_id() -> int:
    (thread,) = [t for t in threading.enumerate() if t.name == "usage-writer"]
    assert thread.native_id is not None
    return thread.native_id


@needs_idle_policy
async def test_the_writer_yields_the_core_and_the_gil_to_requests(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """R20.1 added p99: the writer runs only when the serving thread does not want the core,
    and waits for the GIL at 0.1 ms switches; the
    interpreter's own interval comes back when the writer stops."""
    user = await add_user(sqlite_db)
    before = sys.getswitchinterval()
    tasks_before = set(os.listdir("/proc/self/task"))
    recorder = UsageRecorder(sqlite_db, Journal(tmp_path / "j"), writer_thread=True)
    recorder.start()
    try:
        record_all(recorder, make_rows(5, [user]))
        await recorder.flush()  # the thread has set its policy and opened its connection
        assert os.sched_getscheduler(_writer_native_id()) == os.SCHED_IDLE
        spawned = set(os.listdir("/proc/self/task")) - tasks_before
        assert len(spawned) >= 1  # the writer (its sqlite3 connection starts no thread)
        assert all(os.sched_getscheduler(int(tid)) == os.SCHED_IDLE for tid in spawned)
        assert sys.getswitchinterval() == pytest.approx(0.0001)
        assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER  # not us
    finally:
        await recorder.close()
    assert sys.getswitchinterval() == before


@needs_idle_policy
async def test_a_writer_starved_by_a_busy_serving_thread_is_lent_the_core(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """On one core with a serving thread that never waits, an idle-priority writer would get
    nothing and every row would stay in memory; instead requests lend it the core once a full
    batch waits behind the one being written, so the backlog stays about two batches."""
    user = await add_user(sqlite_db)
    rows = make_rows(3_000, [user])
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mine)})  # this thread; the writer's threads inherit it
    recorder = UsageRecorder(sqlite_db, Journal(tmp_path / "j"), batch_size=100, writer_thread=True)
    try:
        recorder.start()
        deepest = 0
        for r in rows:  # no await, no sleep: a saturated serving thread
            recorder.record(r)  # type: ignore[arg-type]
            deepest = max(deepest, recorder.depth)
        assert recorder.written > 0
        # About two batches; a loaded machine (other processes on this core) can take a lent
        # core's time too. Without lending nothing is written and all 3,000 rows wait.
        assert deepest <= 8 * 100, deepest
        await recorder.flush()
        assert len(stored_ids(sqlite_db)) == len(rows)
    finally:
        await recorder.close()
        os.sched_setaffinity(0, mine)


@needs_idle_policy
async def test_no_lending_while_batches_fail(sqlite_db: Database, tmp_path: Path) -> None:
    """A failing database is not helped by slowing requests: rows wait in the journal and the
    queue (R11.2), and recording stays as fast as ever."""
    user = await add_user(sqlite_db)
    recorder = UsageRecorder(sqlite_db, Journal(tmp_path / "j"), batch_size=10, writer_thread=True)
    break_inserts(sqlite_db)
    recorder.start()
    try:
        record_all(recorder, make_rows(15, [user]))
        await recorder.flush()  # fails: the writer is now failing
        lent = 0
        real_lend = recorder._thread.lend_core  # type: ignore[union-attr]

        def counting() -> None:
            nonlocal lent
            lent += 1
            real_lend()

        recorder._thread.lend_core = counting  # type: ignore[union-attr, method-assign]
        started = time.monotonic()
        record_all(recorder, make_rows(200, [user], start=15))
        assert lent > 0  # asked …
        assert time.monotonic() - started < 0.2  # … and refused at once (no 2 ms waits)
        assert recorder.depth == 215
    finally:
        repair_inserts(sqlite_db)
        await recorder.close()
