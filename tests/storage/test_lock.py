from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.waiting import eventually
from torouter.storage.db import Database
from torouter.storage.lock import LockHeld, ProcessLock

HOLDER = """
import asyncio, sys
from pathlib import Path
from torouter.storage.db import Database
from torouter.storage.lock import ProcessLock

async def main():
    lock = ProcessLock()
    await lock.acquire(Database(sys.argv[1]), Path(sys.argv[2]))
    print("locked", flush=True)
    await asyncio.Event().wait()  # hold the lock until killed

asyncio.run(main())
"""


async def acquire_eventually(db: Database, data_dir: Path) -> ProcessLock:
    """PostgreSQL ends a killed client's session (and its lock) a moment after the kill."""

    async def attempt() -> ProcessLock | None:
        lock = ProcessLock()
        try:
            await lock.acquire(db, data_dir)
        except LockHeld:
            return None
        return lock

    return await eventually(attempt, within=10, what="the killed holder's lock to be freed")


async def test_second_acquire_is_refused(empty_db: Database, data_dir: Path) -> None:
    first, second = ProcessLock(), ProcessLock()
    await first.acquire(empty_db, data_dir)
    try:
        with pytest.raises(LockHeld):
            await second.acquire(empty_db, data_dir)
        assert not second.held
    finally:
        await first.release()
    await second.acquire(empty_db, data_dir)
    await second.release()


async def test_sqlite_lock_file_beside_database(tmp_path: Path, data_dir: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    lock = ProcessLock()
    await lock.acquire(db, data_dir)
    try:
        assert lock.path == tmp_path / "x.db.lock"
        assert lock.path.read_text().strip() == str(os.getpid())
    finally:
        await lock.release()
        await db.dispose()


async def test_lock_dies_with_its_process(db_url: str, data_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, db_url, str(data_dir), stdout=asyncio.subprocess.PIPE
    )
    db = Database(db_url)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line.strip() == b"locked"
        # The refusal names the holder: the lock file and its pid, or the advisory lock's.
        with pytest.raises(
            LockHeld, match=f"locked by process {proc.pid}$|held by process {proc.pid} on "
        ):
            await ProcessLock().acquire(db, data_dir)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        lock = await acquire_eventually(db, data_dir)
        await lock.release()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await db.dispose()
