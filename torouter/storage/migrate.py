"""Schema migrations (R17.8): one alembic history for SQLite and PostgreSQL.

Alembic is configured here, not by an alembic.ini, and runs inside `conn.run_sync` on the
application's own async engine, so both drivers (aiosqlite, asyncpg) work unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from torouter.storage.db import Database

__all__ = ["current_revision", "head_revision", "is_current", "schema_diff", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Serialises concurrent `migrate up` runs against one PostgreSQL database ("tormigra").
_PG_MIGRATE_LOCK = 0x746F726D69677261


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migration history is empty"
    return head


async def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default); a no-op when current."""

    def run(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
        command.upgrade(alembic_config(conn), revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(db: Database) -> str | None:
    def run(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(run)


async def is_current(db: Database) -> bool:
    """True when the schema is at the head revision (`/readyz`, scale-out `serve`)."""
    return await current_revision(db) == head_revision()


async def schema_diff(db: Database) -> list[Any]:
    """Differences between the live schema and `tables.metadata` (empty when they match)."""
    from alembic.autogenerate import compare_metadata

    from torouter.storage.tables import metadata

    def run(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(run)
