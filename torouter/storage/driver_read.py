"""Read rows straight from the database driver, for the few reads that return millions of rows
(the usage CSV export, SPEC R11.5).

SQLAlchemy builds and compiles the statement; the driver runs it and its rows come back as the
driver makes them (asyncpg records, sqlite3 tuples), without SQLAlchemy's result rows and type
processing, which cost more per row than the rest of an export. So every bound value must
already be what the database stores (text times, ints), and every column is read raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["fetch_raw"]


async def fetch_raw(conn: AsyncConnection, stmt: Select[Any]) -> Sequence[Sequence[Any]]:
    """`stmt`'s rows as the driver returns them (index them by position)."""
    compiled = stmt.compile(dialect=conn.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection always holds its driver's
    if conn.dialect.name == "postgresql":  # asyncpg
        return await driver.fetch(compiled.string, *params)  # type: ignore[no-any-return]  # asyncpg is untyped
    async with driver.execute(compiled.string, params) as cursor:  # aiosqlite
        return await cursor.fetchall()  # type: ignore[no-any-return]  # the driver is reached untyped
