"""`serve` migrates a fresh or outdated SQLite file in a child process (R17.8), so the serving
process never loads alembic (R20.1 peak RSS); the child keeps the start-up's lock (R1.5) and
its sentences and exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from torouter.config import Settings
from torouter.migrate_apart import migrate_apart, needs_migration, sqlite_revision
from torouter.schema_gate import StartupError
from torouter.storage.db import Database
from torouter.storage.lock import ProcessLock
from torouter.storage.migrate import head_revision, upgrade


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", demo={"enabled": False}, **extra)


async def outdated(s: Settings) -> None:
    db = Database(s.database_url)
    try:
        await upgrade(db, "0003")
    finally:
        await db.dispose()


_SERVE_PATH = """
import asyncio, sys, tempfile
from torouter.config import Settings
from torouter.migrate_apart import migrate_apart, sqlite_revision

s = Settings(data_dir=tempfile.mkdtemp(), demo={"enabled": False})
migrate_apart(s)  # what run_single does before importing the app
from torouter.app import build_app

async def main():
    app = build_app(s)
    await app.startup()
    await app.shutdown()

asyncio.run(main())
print("@@", sqlite_revision(s.database_url), sorted({m.split(".")[0] for m in sys.modules}
      & {"alembic", "mako"}))
"""


def test_a_fresh_folder_is_migrated_and_the_server_never_loads_alembic() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SERVE_PATH], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("@@ "))
    assert line == f"@@ {head_revision()} []"


async def test_an_outdated_file_is_brought_to_head(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.data_dir.mkdir()
    await outdated(s)
    assert sqlite_revision(s.database_url) == "0003"
    assert needs_migration(s)
    migrate_apart(s)
    assert sqlite_revision(s.database_url) == head_revision()
    assert not needs_migration(s)  # a current file starts no child


async def test_the_child_encrypts_proxies_with_the_deployment_key(tmp_path: Path) -> None:
    """Migration 0005 in the child (R9.1 proxies at rest, R18.2): it gets `encryption_key`
    on stdin and encrypts the proxy URLs a 0004 file held in clear."""
    import datetime as dt
    import sqlite3

    from sqlalchemy import insert, text

    from torouter.crypto import Keyring, decrypt, generate_key
    from torouter.storage.tables import channels

    key = generate_key()
    s = settings(tmp_path, encryption_key=key)
    s.data_dir.mkdir()
    url = "http://alice:pr0xy-s3cret@10.0.0.5:3128"
    db = Database(s.database_url)
    try:
        await upgrade(db, "0004")
        async with db.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            row = {"id": 1, "name": "c", "platform": "openai", "created_at": now}
            await conn.execute(insert(channels).values(row))
            await conn.execute(text("UPDATE channels SET proxy = :u"), {"u": url})
    finally:
        await db.dispose()
    migrate_apart(s)
    con = sqlite3.connect(s.data_dir / "torouter.db")
    (stored,) = con.execute("SELECT proxy_enc FROM channels").fetchone()
    con.close()
    assert "pr0xy-s3cret" not in stored and decrypt(stored, Keyring.from_setting(key)) == url


def test_what_needs_a_child(tmp_path: Path) -> None:
    assert needs_migration(settings(tmp_path))  # no file yet
    assert sqlite_revision(settings(tmp_path).database_url) is None
    assert not (tmp_path / "data" / "torouter.db").exists()  # the check created nothing
    memory = settings(tmp_path, database={"url": "sqlite+aiosqlite:///:memory:"})
    assert not needs_migration(memory)  # a child's copy would vanish: the server migrates it
    pg = settings(tmp_path, database={"url": "postgresql+asyncpg://u@127.0.0.1:1/x"})
    assert not needs_migration(pg)  # PostgreSQL is migrated by `torouter migrate up` (R17.8)


async def test_an_outdated_file_served_by_another_process_is_left_alone(tmp_path: Path) -> None:
    """An older server still holds the lock: the child refuses as the start-up would, with the
    lock's holder named (`serve` exits 2 on it), and the schema untouched under that server."""
    s = settings(tmp_path)
    s.data_dir.mkdir()
    await outdated(s)
    db = Database(s.database_url)
    lock = ProcessLock()
    await lock.acquire(db, s.data_dir)
    try:
        with pytest.raises(StartupError) as failed:
            migrate_apart(s)
    finally:
        await lock.release()
        await db.dispose()
    assert "is locked by process" in str(failed.value)
    assert "set redis.url to run several" in str(failed.value)
    assert sqlite_revision(s.database_url) == "0003"


def test_a_file_that_is_no_database_is_named_not_a_traceback(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.data_dir.mkdir()
    (s.data_dir / "torouter.db").write_bytes(b"not a database, " * 100)
    assert needs_migration(s)
    with pytest.raises(StartupError) as failed:
        migrate_apart(s)
    assert str(failed.value) == "cannot reach the database: file is not a database"
