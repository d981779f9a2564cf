"""Reading the usage log by keyset (SPEC R11.4, R11.5, R16.4).

Rows are ordered by (created_at, id): newest first for the views, oldest first for exports.
A page continues strictly after the (created_at, id) of the previous page's last row, as a row
value comparison that both databases answer from the (…, created_at, id) indexes of the
migration, so page 5,000 costs what page 1 costs and rows written meanwhile never shift a page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from sqlalchemy import Integer, Select, func, literal, select, tuple_
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.tables import UTCDateTime, usage_daily_channel, usage_logs
from torouter.usage.filters import DayRange, UsageFilter
from torouter.usage.rollups import local_day

__all__ = ["Position", "find_request", "narrowed", "page_after", "read_page"]

Position = tuple[dt.datetime, int]  # (created_at, id) of a row


def page_after(
    f: UsageFilter,
    after: Position | None,
    limit: int,
    *,
    newest_first: bool = True,
) -> Select[Any]:
    c = usage_logs.c
    if after is not None:
        # The position replaces the range's bound on its side (rows after it are inside that
        # bound anyway): given both, SQLite starts its index range at the bound, not at the
        # position, and every page would rescan all the pages before it.
        f = replace(f, until=None) if newest_first else replace(f, since=None)
    stmt = select(usage_logs).where(*f.conditions())
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


async def narrowed(conn: AsyncConnection, f: UsageFilter, zone: dt.tzinfo) -> UsageFilter | None:
    """`f` with its time range cut to the days on which the per-channel roll-up has matching
    rows; None when it has none.

    The admin-only filters (model, channel, status, outcome) have no index of their own: a
    page walks the time index until it fills, which is quick for values that occur but would
    read the whole range for a value that never does. `usage_daily_channel`, a few rows a day,
    says which days hold such rows at all (the writer keeps it with the rows, R11.3).
    """
    if f.user_id is not None or f.key_id is not None or f.request_id is not None:
        return f  # their own indexes bound the walk
    if f.model is None and not f.needs_log:
        return f
    c = usage_daily_channel.c
    where = []
    for column, value in (
        (c.model, f.model),
        (c.channel_id, f.channel_id),
        (c.status, f.status),
        (c.outcome, f.outcome),
    ):
        if value is not None:
            where.append(column == value)
    if f.since is not None:
        where.append(c.day >= local_day(f.since, zone))
    if f.until is not None:
        where.append(c.day <= local_day(f.until - dt.timedelta(microseconds=1), zone))
    first, last = (await conn.execute(select(func.min(c.day), func.max(c.day)).where(*where))).one()
    if first is None:
        return None
    days = DayRange.of(dt.date.fromisoformat(first), dt.date.fromisoformat(last), zone)
    since = days.since if f.since is None else max(f.since, days.since)
    until = days.until if f.until is None else min(f.until, days.until)
    return replace(f, since=since, until=until)
