"""SQLite connection settings (SPEC R1.4): WAL, foreign keys, a busy timeout, a small page cache."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from torouter.storage.db import Database


async def test_sqlite_connections_are_configured(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite pragmas")
    async with db.connect() as conn:
        got = {
            name: (await conn.execute(text(f"PRAGMA {name}"))).scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "cache_size",
            )
        }
    assert got == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": 10000,
        "cache_size": -512,
    }
