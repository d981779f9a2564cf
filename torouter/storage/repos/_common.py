"""Helpers shared by the repositories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import Table, and_, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Action", "insert_row", "now", "select_one", "sync_row"]

Action = Literal["created", "updated", "unchanged"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def insert_row(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> Any:
    """Insert one row; returns its primary key (the first column of it)."""
    result = await conn.execute(insert(table).values(**values))
    pk = result.inserted_primary_key
    return pk[0] if pk else None


async def select_one(
    conn: AsyncConnection, table: Table, match: Mapping[str, Any]
) -> RowMapping | None:
    where = and_(*(table.c[k] == v for k, v in match.items()))
    return (await conn.execute(select(table).where(where))).mappings().first()


async def sync_row(
    conn: AsyncConnection,
    table: Table,
    *,
    match: Mapping[str, Any],
    values: Mapping[str, Any],
    on_insert: Mapping[str, Any] | None = None,
    stamp: str | None = None,
) -> tuple[Action, RowMapping]:
    """Make the row found by `match` carry `values`, inserting it (with `on_insert`) if absent.

    Only differing columns are written, so a second run with the same values changes
    nothing; `stamp` names a column set to now when something did change.
    """
    row = await select_one(conn, table, match)
    if row is None:
        await insert_row(conn, table, {**(on_insert or {}), **match, **values})
        created = await select_one(conn, table, match)
        assert created is not None
        return "created", created
    diff = {k: v for k, v in values.items() if row[k] != v}
    if not diff:
        return "unchanged", row
    if stamp is not None:
        diff[stamp] = now()
    pk = [c.name for c in table.primary_key.columns]
    await conn.execute(update(table).where(and_(*(table.c[c] == row[c] for c in pk))).values(diff))
    updated = await select_one(conn, table, {c: row[c] for c in pk})
    assert updated is not None
    return "updated", updated
