"""The usage CSV export (SPEC R11.5), streamed.

One RFC 4180 UTF-8 file (CRLF line ends, quotes only where needed), one row per request,
oldest first, read 1,000 rows at a time by keyset on (created_at, id). Each page is its own
short read (the transaction ends between pages), so an export of millions of rows neither
holds memory nor pins the database. Times are ISO 8601 in the deployment timezone with their
offset; `cost_usd` has exactly 9 decimals (the nUSD amount, exact).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Integer, String, literal, select, tuple_, type_coerce

from torouter.billing.money import usd_text
from torouter.storage.db import Database
from torouter.storage.driver_read import fetch_raw
from torouter.storage.tables import UTCDateTime, channels, usage_logs, users
from torouter.usage.filters import DayRange, UsageFilter

__all__ = ["ADMIN_COLUMNS", "PAGE", "USER_COLUMNS", "csv_rows", "file_name"]

PAGE = 1_000

USER_COLUMNS = (
    "time",
    "request_id",
    "key_name",
    "model",
    "model_upstream",
    "endpoint",
    "status",
    "outcome",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "estimated",
    "latency_ms",
    "ttft_ms",
)
ADMIN_COLUMNS = (*USER_COLUMNS, "user_email", "channel", "attempts", "client_ip")

_c = usage_logs.c
_SELECT = (
    type_coerce(_c.created_at, String).label("at"),  # the stored text: parsed once, below
    _c.id,
    _c.request_id,
    _c.key_name,
    _c.model_requested,
    _c.model_upstream,
    _c.endpoint,
    _c.status,
    _c.outcome,
    _c.input_tokens,
    _c.cache_read_tokens,
    _c.cache_write_5m_tokens,
    _c.cache_write_1h_tokens,
    _c.output_tokens,
    _c.reasoning_tokens,
    _c.cost_nusd,
    _c.estimated,
    _c.latency_ms,
    _c.ttft_ms,
    _c.user_id,
    _c.channel_id,
    _c.attempts,
    _c.client_ip,
)


def file_name(days: DayRange) -> str:
    return f"usage-{days.first_day}_{days.last_day}.csv"


def _page(f: UsageFilter, after: tuple[str, int] | None) -> Any:
    """One page, every bound value as stored (the times as text): it is run raw."""
    stored = UTCDateTime().process_bind_param
    at = type_coerce(_c.created_at, String)
    where = replace(f, since=None, until=None).conditions()
    if after is not None:  # the position is the lower bound now (see `logs.page_after`)
        mark = tuple_(literal(after[0], String), literal(after[1], Integer))
        where.append(tuple_(at, _c.id) > mark)
    elif f.since is not None:
        where.append(at >= literal(stored(f.since, None), String))  # type: ignore[arg-type]
    if f.until is not None:
        where.append(at < literal(stored(f.until, None), String))  # type: ignore[arg-type]
    return select(*_SELECT).where(*where).order_by(_c.created_at, _c.id).limit(PAGE)


def _local_time(zone: dt.tzinfo) -> Any:
    if zone is dt.UTC or getattr(zone, "key", None) in ("UTC", "Etc/UTC"):
        # The stored text is already UTC: 2026-01-02T03:04:05.123456Z → …05.123+00:00.
        return lambda text: text[:23] + "+00:00"

    def local(text: str) -> str:
        return dt.datetime.fromisoformat(text).astimezone(zone).isoformat(timespec="milliseconds")

    return local


async def csv_rows(
    db: Database, f: UsageFilter, *, zone: dt.tzinfo, admin: bool
) -> AsyncIterator[bytes]:
    """The file, header first, as chunks of about one page each.

    Rows are read raw from the driver, by position (`_SELECT`'s order): this loop runs for
    every row of millions, and SQLAlchemy's result rows would cost more than all the rest.
    `csv` writes None as an empty field; SQLite gives `estimated` as 0/1, PostgreSQL a bool:
    both index `flag`.
    """
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(ADMIN_COLUMNS if admin else USER_COLUMNS)
    yield buf.getvalue().encode()
    local = _local_time(zone)
    flag = ("false", "true")
    emails: dict[int | None, str] = {None: ""}
    names: dict[int | None, str] = {None: ""}
    async with db.connect() as conn:
        # Each page its own statement-long transaction: nothing (a snapshot, SQLite's WAL) is
        # held between pages, and no BEGIN/ROLLBACK round trips are spent on a read.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        if admin:
            found = await conn.execute(select(channels.c.id, channels.c.name))
            names.update({r[0]: r[1] for r in found})

        async def fetch(after: tuple[str, int] | None) -> Sequence[Any]:
            rows = await fetch_raw(conn, _page(f, after))
            if admin:
                missing = {r[_USER] for r in rows} - emails.keys()
                if missing:
                    q = select(users.c.id, users.c.email).where(users.c.id.in_(missing))
                    emails.update({r[0]: r[1] for r in await conn.execute(q)})
            return rows

        # The next page is read while this one is formatted and sent: the database driver
        # works outside the GIL (SQLite's thread, asyncpg's socket), so the two overlap.
        ahead: asyncio.Task[Sequence[Any]] | None = asyncio.create_task(fetch(None))
        try:
            while ahead is not None:
                rows = await ahead
                ahead = None
                if not rows:
                    return
                if len(rows) == PAGE:
                    ahead = asyncio.create_task(fetch((rows[-1][0], rows[-1][1])))
                buf.seek(0)
                buf.truncate()
                if admin:
                    out.writerows(
                        (
                            local(r[0]),
                            *r[2:15],  # request_id … reasoning_tokens, as selected
                            usd_text(r[15]),
                            flag[r[16]],
                            r[17],
                            r[18],
                            emails.get(r[_USER], ""),
                            names.get(r[_CHANNEL]) or r[_CHANNEL],
                            r[21],
                            r[22],
                        )
                        for r in rows
                    )
                else:
                    out.writerows(
                        (local(r[0]), *r[2:15], usd_text(r[15]), flag[r[16]], r[17], r[18])
                        for r in rows
                    )
                yield buf.getvalue().encode()
        finally:
            if ahead is not None:  # the client went away mid-file
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ahead


_USER, _CHANNEL = 19, 20  # positions in _SELECT
