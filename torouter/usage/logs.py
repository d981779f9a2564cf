"""Reading the usage log by keyset (SPEC R11.4, R11.5, R16.4).

Rows are ordered by (created_at, id): newest first for the views, oldest first for exports.
A page continues strictly after the (created_at, id) of the previous page's last row, as a row
value comparison that both databases answer from the (…, created_at, id) indexes of the
migration, so page 5,000 costs what page 1 costs and rows written meanwhile never shift a page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, Select, literal, select, tuple_
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import UTCDateTime, usage_logs
from torouter.usage.filters import UsageFilter

__all__ = ["Position", "find_request", "page_after", "read_page"]

Position = tuple[dt.datetime, int]  # (created_at, id) of a row


def page_after(
    f: UsageFilter,
    after: Position | None,
    limit: int,
    *,
    newest_first: bool = True,
    columns: Any = None,
) -> Select[Any]:
    c = usage_logs.c
    stmt = select(*(columns if columns is not None else [usage_logs])).where(*f.conditions())
    if after is not None:
        mark = tuple_(literal(after[0], UTCDateTime), literal(after[1], Integer))
        here = tuple_(c.created_at, c.id)
        stmt = stmt.where(here < mark if newest_first else here > mark)
    if newest_first:
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc())
    else:
        stmt = stmt.order_by(c.created_at, c.id)
    return stmt.limit(limit)


async def read_page(
    conn: AsyncConnection,
    f: UsageFilter,
    after: Position | None,
    limit: int,
    *,
    newest_first: bool = True,
) -> list[RowMapping]:
    rows = await conn.execute(page_after(f, after, limit, newest_first=newest_first))
    return list(rows.mappings())


async def find_request(
    conn: AsyncConnection, request_id: str, *, user_id: int | None
) -> RowMapping | None:
    """The newest row with this request id (of this user, when given). A client's request id
    need not be unique (R11.2); the newest is the one a user just searched for."""
    f = UsageFilter(user_id=user_id, request_id=request_id)
    rows = await read_page(conn, f, None, 1)
    return rows[0] if rows else None
