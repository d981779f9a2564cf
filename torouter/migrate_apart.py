"""Migrate a SQLite database in a short-lived child process before `serve` builds its app.

The embedded default migrates its own SQLite file (R17.8), and the first start of every data
folder needs it. Done in the serving process, alembic, mako and the migration scripts stay
resident for the process's life (about 10 MB of the 100 MB goal per worker, R20.1): nothing
unloads a Python module. So `serve` reads the file's revision with the standard library's
`sqlite3` and, only when the schema is missing or behind, runs the migration in a child that
exits afterwards. The child takes the single-process lock first, as the server would, so an
older server still running on the file is never migrated under (R1.5), and it reports the
same sentences and exit code as a start-up that migrated in process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from torouter.schema_gate import StartupError

if TYPE_CHECKING:
    from torouter.config import Settings

__all__ = ["migrate_apart", "needs_migration", "sqlite_revision"]


def sqlite_revision(database_url: str) -> str | None:
    """The revision stored in the SQLite file of `database_url`; None when there is none yet.

    Opens nothing that does not exist (a missing file is not created here) and changes nothing.
    """
    path = make_url(database_url).database
    if not path or path == ":memory:" or not os.path.exists(path):
        return None
    conn = sqlite3.connect(path, timeout=5)
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:  # no such table (never migrated) or not a database
        return None
    finally:
        conn.close()
    return str(rows[0][0]) if len(rows) == 1 else None


def needs_migration(settings: Settings) -> bool:
    """True for a SQLite file whose schema is missing or not at the scripts' head.

    An in-memory database is left to the server (a child's copy would vanish with it); any
    doubt (an unreadable file) answers True, and the child then reports it properly.
    """
    from torouter.storage.migrate import head_revision

    url = settings.database_url
    if not settings.is_sqlite or make_url(url).database in (None, "", ":memory:"):
        return False
    try:
        return sqlite_revision(url) != head_revision()
    except (OSError, sqlite3.Error):
        return True


def migrate_apart(settings: Settings) -> None:
    """Bring the SQLite schema to head in a child process; `StartupError` with its reason."""
    if not needs_migration(settings):
        return
    job = {
        "database_url": settings.database_url,
        "data_dir": str(settings.data_dir),
        "lock": not settings.redis.url,  # Redis-less servers hold the file lock (R1.5)
        # For the migrations that encrypt stored secrets (0005); on stdin, never in argv.
        "encryption_key": settings.encryption_key,
    }
    done = subprocess.run(
        [sys.executable, "-m", "torouter.migrate_apart"],
        input=json.dumps(job),
        stdout=subprocess.PIPE,  # the reason of a refusal; stderr (a traceback) passes through
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stdout.strip() or f"the migration stopped with exit code {done.returncode}"
        raise StartupError(reason)


async def _migrate(
    database_url: str, data_dir: Path, lock: bool, encryption_key: str | None = None
) -> None:
    from torouter.crypto import existing_keyring
    from torouter.private_files import private_folder
    from torouter.schema_gate import hold_process_lock, prepare_schema
    from torouter.storage.db import Database

    private_folder(data_dir)
    db = Database(database_url)
    held = None
    try:
        if lock:
            held = await hold_process_lock(db, data_dir)
        await prepare_schema(db, existing_keyring(encryption_key, data_dir))
    finally:
        if held is not None:
            await held.release()
        await db.dispose()


def main() -> int:
    """The child: a JSON job on stdin; exit 0, or 1 with the reason on stdout."""
    job = json.loads(sys.stdin.read())
    try:
        asyncio.run(
            _migrate(
                job["database_url"],
                Path(job["data_dir"]),
                bool(job["lock"]),
                job.get("encryption_key"),
            )
        )
    except StartupError as exc:
        print(exc)
        return 1
    except Exception as exc:  # unforeseen: the trace for the operator, the sentence for stderr
        traceback.print_exc()
        print(f"migrating the database failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
