"""The database handle: one async engine for SQLite (WAL) or PostgreSQL, the same schema.

Statement parameters are hidden from every error message and log line the engine makes
(`hide_parameters`), and so is PostgreSQL's DETAIL, which repeats them: they carry emails,
password and key hashes and amounts (R18.3). A new SQLite file is created 0600 before SQLite
opens it, so its `-wal` and `-shm` files get the same mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from torouter.private_files import private_file

__all__ = ["Database"]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # 512 KiB of page cache per connection instead of 2 MiB: the gateway mostly appends, reads
    # are served by the kernel's page cache just as well, and the process stays smaller (§20).
    cur.execute("PRAGMA cache_size=-512")
    cur.close()


def _drop_values(context: ExceptionContext) -> None:
    """PostgreSQL's DETAIL repeats the offending values ("Key (email)=(…) already exists",
    "Failing row contains (…)") and asyncpg prints it with its error, past `hide_parameters`:
    drop it before anything can log the error."""
    exc: BaseException | None = context.original_exception
    while exc is not None:
        if getattr(exc, "detail", None) is not None:
            exc.detail = None  # type: ignore[attr-defined]  # asyncpg's errors carry it
        exc = exc.__cause__


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """Owns the engine. `url` is a SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kw: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                private_file(Path(parsed.database))
            kw["poolclass"] = NullPool if parsed.database in (None, "", ":memory:") else None
            kw = {k: v for k, v in kw.items() if v is not None}
        else:
            kw["pool_size"] = pool_size
            kw["max_overflow"] = pool_size
            kw["pool_pre_ping"] = True
        kw["json_serializer"] = _json_text  # JSON columns (attempt chains): orjson, not json
        kw["hide_parameters"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kw)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "handle_error", _drop_values)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def begin(self) -> Any:
        """`async with db.begin() as conn:` — one transaction."""
        return self.engine.begin()

    def connect(self) -> Any:
        return self.engine.connect()

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            conn: AsyncConnection
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
