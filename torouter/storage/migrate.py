"""Schema migrations (R17.8): one alembic history for SQLite and PostgreSQL.

Alembic is configured here, not by an alembic.ini, and runs inside `conn.run_sync` on the
application's own async engine, so both drivers (aiosqlite, asyncpg) work unchanged.

Alembic itself (about 10 MB resident) is imported only to change or compare a schema: the start-up
check of a current database reads `alembic_version` and the revision ids of the scripts directly.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from torouter.storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

    from torouter.crypto import Keyring

__all__ = [
    "current_revision",
    "downgrade",
    "head_revision",
    "is_current",
    "schema_diff",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Serialises concurrent `migrate up` runs against one PostgreSQL database ("tormigra").
_PG_MIGRATE_LOCK = 0x746F726D69677261


def alembic_config(connection: Connection | None = None, keyring: Keyring | None = None) -> Config:
    """`keyring`: the deployment key, for the revisions that encrypt or decrypt stored values
    (0005, channel proxies); they say what they do without it."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    cfg.attributes["keyring"] = keyring
    return cfg


def head_revision() -> str:
    """The newest revision of the scripts: the one no other script revises."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            value = ast.literal_eval(node.value) if node.value is not None else None
            if "revision" in names and isinstance(value, str):
                revisions.add(value)
            elif "down_revision" in names and value is not None:
                revised.update([value] if isinstance(value, str) else value)
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migration history needs exactly one head, found {sorted(heads)}")
    return heads.pop()


async def upgrade(db: Database, revision: str = "head", keyring: Keyring | None = None) -> None:
    """Migrate the database to `revision` (the newest by default); a no-op when current.

    Pass the deployment's `keyring` whenever there is one: without it 0005 leaves existing
    channel proxies unencrypted (the loaders accept both forms)."""

    await _alembic(db, "upgrade", revision, keyring)


async def downgrade(db: Database, revision: str, keyring: Keyring | None = None) -> None:
    """Migrate the database back to `revision` (operators' escape hatch and the migration
    tests); below 0005 it needs the `keyring` that encrypted the channel proxies."""

    await _alembic(db, "downgrade", revision, keyring)


async def _alembic(db: Database, step: str, revision: str, keyring: Keyring | None) -> None:
    """Run alembic's `step` ("upgrade" or "downgrade") in one transaction, PostgreSQL's
    migration lock held: concurrent nodes migrate one after the other."""

    def run(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
        from alembic import command

        getattr(command, step)(alembic_config(conn, keyring), revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(db: Database) -> str | None:
    """The database's revision (`alembic_version`), None when it has none."""
    async with db.engine.connect() as conn:
        try:
            rows = list(await conn.execute(text("SELECT version_num FROM alembic_version")))
        except DBAPIError:  # no such table: a database never migrated
            return None
    if len(rows) > 1:
        raise RuntimeError("alembic_version holds several heads")
    return str(rows[0][0]) if rows else None


async def is_current(db: Database) -> bool:
    """True when the schema is at the head revision (`/readyz`, scale-out `serve`)."""
    return await current_revision(db) == head_revision()


async def schema_diff(db: Database) -> list[Any]:
    """Differences between the live schema and `tables.metadata` (empty when they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from torouter.storage.tables import metadata

    def run(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(run)
