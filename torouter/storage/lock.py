"""The single-process lock of R1.5: one Redis-less process per database.

In-process counters cannot be shared, so a process without Redis holds this lock for its
lifetime. Both forms die with the process, so a restart after a crash is never blocked:
- SQLite: `flock` on `<database file>.lock` (the kernel drops it when the process exits);
- PostgreSQL: a session advisory lock on a dedicated connection (the server drops it when
  the session ends).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from torouter.private_files import private_folder
from torouter.storage.db import Database

__all__ = ["LockHeld", "ProcessLock", "local_holder"]

# Advisory lock key: the bytes of "torouter" as a signed 64-bit integer.
PG_LOCK_KEY = int.from_bytes(b"torouter", "big", signed=True)


class LockHeld(Exception):
    """Another process already serves this database without Redis."""


class ProcessLock:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self.path: Path | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None

    async def acquire(self, db: Database, data_dir: Path) -> None:
        if self.held:
            raise RuntimeError("lock already acquired by this object")
        if db.is_sqlite:
            self._acquire_file(lock_path(db, data_dir))
        else:
            await self._acquire_pg(db)

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock
        conn, engine = self._conn, self._engine
        self._conn = self._engine = None
        try:
            if conn is not None:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                finally:
                    await conn.close()
        finally:
            if engine is not None:
                await engine.dispose()  # NullPool: the session, and any lock, ends here

    def _acquire_file(self, path: Path) -> None:
        private_folder(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _pid_in(path)
            by = f"process {holder}" if holder else "another process"
            raise LockHeld(f"{path} is locked by {by}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd, self.path = fd, path

    async def _acquire_pg(self, db: Database) -> None:
        # A connection of its own, outside the pool, kept open for the process lifetime.
        engine = create_async_engine(db.url, poolclass=NullPool, hide_parameters=True)
        try:
            conn = await engine.connect()
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                # Names this process in pg_stat_activity, so a refused one can say who holds it.
                await conn.execute(text(f"SET application_name = '{_app_name()}'"))
                got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
                holder = None if got else await conn.scalar(_HOLDER, {"k": PG_LOCK_KEY})
            except BaseException:
                await conn.close()
                raise
        except BaseException:
            await engine.dispose()
            raise
        if not got:
            await conn.close()
            await engine.dispose()
            by = _describe(holder) if holder else "another process"
            raise LockHeld(f"the database's advisory lock {PG_LOCK_KEY} is held by {by}")
        self._engine, self._conn = engine, conn


_APP_NAME = "torouter pid "
# The session holding our advisory lock (a bigint key: classid is its high half, objid its low).
_HOLDER = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k LIMIT 1"
)


def _app_name() -> str:
    return f"{_APP_NAME}{os.getpid()} on {socket.gethostname()}"[:63]


def _describe(app_name: str) -> str:
    return "process " + app_name.removeprefix(_APP_NAME)


async def local_holder(db: Database, data_dir: Path) -> int | None:
    """The pid of the process on this host that holds the lock, or None (free, or elsewhere).

    Lets a CLI command reach the one process serving a Redis-less deployment (R7.12).
    """
    if db.is_sqlite:
        path = lock_path(db, data_dir)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(path)  # held: the pid its holder wrote
        finally:
            os.close(fd)  # also drops the shared lock taken when it was free
        return None
    engine = create_async_engine(db.url, poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            name = await conn.scalar(_HOLDER, {"k": PG_LOCK_KEY})
    finally:
        await engine.dispose()
    pid, _, host = str(name or "").removeprefix(_APP_NAME).partition(" on ")
    if not pid.isdigit() or host != socket.gethostname()[: 63 - len(_APP_NAME) - len(pid) - 4]:
        return None
    return int(pid)


def _pid_in(path: Path) -> int | None:
    """The pid the holder wrote into the lock file, when it reads as one."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def lock_path(db: Database, data_dir: Path) -> Path:
    """`<database file>.lock` beside the SQLite file, or in the data directory for `:memory:`."""
    database = make_url(db.url).database
    if database and database != ":memory:":
        return Path(database + ".lock")
    return Path(data_dir) / "torouter.lock"
