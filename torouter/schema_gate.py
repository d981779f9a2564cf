"""The database checks `serve` makes before it builds anything: the single-process lock (R1.5)
and the schema's revision (R17.8), each failure a `StartupError` naming the step to take.

Kept apart from `torouter.app` so that the migration child (`torouter.migrate_apart`) runs
them without importing the whole request path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from torouter.storage.db import Database

if TYPE_CHECKING:
    from torouter.crypto import Keyring
    from torouter.storage.lock import ProcessLock

__all__ = ["StartupError", "hold_process_lock", "prepare_schema"]


class StartupError(Exception):
    """A configuration or database problem that stops `serve` with a clear message."""


async def hold_process_lock(db: Database, data_dir: Path) -> ProcessLock:
    """The single-process lock of a Redis-less server (R1.5), or `StartupError` saying why."""
    from torouter.storage.lock import LockHeld, ProcessLock

    lock = ProcessLock()
    try:
        await lock.acquire(db, data_dir)
    except LockHeld as exc:
        raise StartupError(
            f"{exc}; one process serves a database without Redis: stop the "
            "other one, or set redis.url to run several"
        ) from exc
    except (OSError, SQLAlchemyError) as exc:
        raise StartupError(f"cannot reach the database: {_reason(exc)}") from exc
    return lock


async def prepare_schema(db: Database, keyring: Keyring | None = None) -> None:
    """SQLite migrates itself; PostgreSQL must have been migrated by `torouter migrate up`.

    `keyring`: the deployment key, which the migrations that encrypt stored secrets use.

    Raises `StartupError` with the step to take: an empty database and an outdated one are
    told apart, and an unreachable one is named as such, never a traceback.
    """
    from torouter.storage import migrate

    try:
        if db.is_sqlite:
            if not await migrate.is_current(db):  # alembic is loaded only to migrate
                await migrate.upgrade(db, keyring=keyring)
            return
        if await migrate.is_current(db):
            return
        current = await migrate.current_revision(db)
    except (OSError, SQLAlchemyError) as exc:
        raise StartupError(f"cannot reach the database: {_reason(exc)}") from exc
    if current is None:
        raise StartupError("the database is not initialised: run `torouter migrate up`")
    raise StartupError(
        f"the database schema is outdated (at {current}, this version needs "
        f"{migrate.head_revision()}): run `torouter migrate up`"
    )


def _reason(exc: BaseException) -> str:
    """The driver's own sentence, without SQLAlchemy's boilerplate and statement dump."""
    inner = getattr(exc, "orig", None) or exc
    return str(inner).split("\n")[0] or type(inner).__name__
