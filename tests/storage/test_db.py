"""The database handle: statement parameters never reach an error message or a log line
(R18.3), and a new SQLite database is private to the service's user, WAL and SHM included."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import traceback
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from torouter.storage.db import Database
from torouter.storage.tables import users

CANARY = "leak-canary-7f3a@example.com"


async def test_parameters_are_kept_out_of_errors_and_logs(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    now = dt.datetime.now(dt.UTC)
    row = {"email": CANARY, "password_hash": "h", "created_at": now, "updated_at": now}
    async with db.begin() as conn:
        await conn.execute(insert(users).values(**row))
    with pytest.raises(IntegrityError) as caught:
        async with db.begin() as conn:
            await conn.execute(insert(users).values(**row))
    logging.getLogger("torouter.test").error("write failed", exc_info=caught.value)
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "INSERT INTO users" in shown  # the statement may be shown, never its values
    assert CANARY not in shown
    assert "parameters hidden" in shown


async def test_a_new_sqlite_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'torouter.db'}")
        try:
            async with db.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
            names = sorted(p.name for p in (tmp_path / "new").iterdir())
            assert names == ["torouter.db", "torouter.db-shm", "torouter.db-wal"]
            for path in (tmp_path / "new").iterdir():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
        finally:
            await db.dispose()
    finally:
        os.umask(old)
