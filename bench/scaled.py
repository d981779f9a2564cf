"""The scaled-out stores for `bench/run.py --scaled-out` (SPEC R20.3, issue 18 point 5).

The embedded default measures SQLite and in-process counters; scaled out, the same gateway runs
on PostgreSQL and Redis (admission and settlement are Redis round trips, settled rows also go to
the shared usage journal's stream). This module gives that run a database of its own, created
fresh on the given PostgreSQL server and dropped afterwards, and an emptied Redis database.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ScaledStores"]


@dataclass
class ScaledStores:
    server_url: str  # postgresql+asyncpg://user@host:port/postgres: where the database is made
    redis_url: str  # redis://host:port/N: this database is flushed first
    database_url: str = ""

    def create(self) -> ScaledStores:
        name = f"torouter_bench_{secrets.token_hex(4)}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        self.database_url = self.server_url.rsplit("/", 1)[0] + f"/{name}"
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()
        return self

    def toml(self, encryption_key: str) -> str:
        """Top-level keys and sections to put before the rest of the gateway's TOML."""
        return (
            f'encryption_key = "{encryption_key}"\n'
            f'[database]\nurl = "{self.database_url}"\n'
            f'[redis]\nurl = "{self.redis_url}"\n'
        )

    def migrate(self, command: list[str], config: Path, cwd: Path) -> None:
        """`torouter migrate up`: a PostgreSQL database is migrated before `serve` (R17.6)."""
        subprocess.run(
            [*command, "migrate", "up", "--config", str(config)],
            cwd=cwd,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def drop(self) -> None:
        if self.database_url:
            name = self.database_url.rsplit("/", 1)[1]
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, statement: str) -> None:
        import asyncpg

        dsn = self.server_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
