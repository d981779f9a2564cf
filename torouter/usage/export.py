"""The usage CSV export (SPEC R11.5), streamed.

One RFC 4180 UTF-8 file (CRLF line ends, quotes only where needed), one row per request,
oldest first, read 1,000 rows at a time by keyset on (created_at, id). Each page is its own
short read (the transaction ends between pages), so an export of millions of rows neither
holds memory nor pins the database. Times are ISO 8601 in the deployment timezone with their
offset; `cost_usd` has exactly 9 decimals (the nUSD amount, exact).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Integer, String, literal, select, tuple_, type_coerce

from torouter.billing.money import usd_text
from torouter.storage.db import Database
from torouter.storage.tables import channels, usage_logs, users
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
    stmt = select(*_SELECT).where(*f.conditions())
    if after is not None:
        mark = tuple_(literal(after[0], String), literal(after[1], Integer))
        stmt = stmt.where(tuple_(_c.created_at, _c.id) > mark)
    return stmt.order_by(_c.created_at, _c.id).limit(PAGE)


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
    """The file, header first, as chunks of about one page each."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(ADMIN_COLUMNS if admin else USER_COLUMNS)
    yield buf.getvalue().encode()
    local = _local_time(zone)
    emails: dict[int, str] = {}
    names: dict[int, str] = {}
    after: tuple[str, int] | None = None
    async with db.connect() as conn:
        if admin:
            found = await conn.execute(select(channels.c.id, channels.c.name))
            names = {r.id: r.name for r in found}
        while True:
            rows: Sequence[Any] = (await conn.execute(_page(f, after))).all()
            if admin:
                missing = {r.user_id for r in rows if r.user_id is not None} - emails.keys()
                if missing:
                    q = select(users.c.id, users.c.email).where(users.c.id.in_(missing))
                    emails.update({r.id: r.email for r in await conn.execute(q)})
            await conn.rollback()  # end the read: nothing is held between pages
            if not rows:
                return
            buf.seek(0)
            buf.truncate()
            for r in rows:
                line: list[Any] = [
                    local(r.at),
                    r.request_id,
                    r.key_name or "",
                    r.model_requested or "",
                    r.model_upstream or "",
                    r.endpoint or "",
                    r.status,
                    r.outcome,
                    r.input_tokens,
                    r.cache_read_tokens,
                    r.cache_write_5m_tokens,
                    r.cache_write_1h_tokens,
                    r.output_tokens,
                    r.reasoning_tokens,
                    usd_text(r.cost_nusd),
                    "true" if r.estimated else "false",
                    "" if r.latency_ms is None else r.latency_ms,
                    "" if r.ttft_ms is None else r.ttft_ms,
                ]
                if admin:
                    channel = r.channel_id
                    line += [
                        emails.get(r.user_id, "") if r.user_id is not None else "",
                        "" if channel is None else names.get(channel, str(channel)),
                        r.attempts,
                        r.client_ip or "",
                    ]
                out.writerow(line)
            yield buf.getvalue().encode()
            if len(rows) < PAGE:
                return
            last = rows[-1]
            after = (last.at, last.id)
