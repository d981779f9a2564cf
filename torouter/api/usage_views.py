"""What the user's and the admin's usage routes share (SPEC R11.4–R11.6, R15.4, R16.4): the
date range, the cursor, the request detail, summaries and the streamed CSV response.

The routes only say who may see what; the reading is in `torouter/usage/`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import StreamingResponse

from torouter.api.changes import deployment_zone, now
from torouter.api.deps import ApiDeps
from torouter.api.schemas import Responses
from torouter.api.usage_schemas import (
    AdminAttemptRead,
    AttemptRead,
    BillingLineRead,
    BillingRead,
    DailyPointRead,
    DailyRead,
    ModelRowRead,
    MyUsageDetail,
    SummaryRead,
    TimingsRead,
    TokensRead,
    UsageDetail,
    UsageRead,
)
from torouter.errors import error
from torouter.records import Row
from torouter.storage.tables import channels, users
from torouter.usage import detail
from torouter.usage.filters import DayRange, day_range
from torouter.usage.logs import Position
from torouter.usage.summaries import DayPoint, Summary, Totals

__all__ = [
    "CSV_RESPONSES",
    "admin_detail",
    "csv_response",
    "daily_read",
    "decode_position",
    "encode_position",
    "my_detail",
    "next_cursor",
    "range_of",
    "summary_read",
]

CSV_RESPONSES: Responses = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The file"}
}


def range_of(
    deps: ApiDeps, start: dt.date | None, end: dt.date | None, *, default_days: int = 30
) -> DayRange:
    """The days a view covers (deployment timezone); E16 when `end` is before `start`."""
    if start is not None and end is not None and end < start:
        raise error("E16", "end: must not be before start", param="end")
    return day_range(
        start, end, zone=deployment_zone(deps), now=now(deps), default_days=default_days
    )


# -- cursor ------------------------------------------------------------------------------------

_TAG = "u1:"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def encode_position(row: Row) -> str:
    micros = (row["created_at"] - _EPOCH) // dt.timedelta(microseconds=1)  # exact
    raw = f"{_TAG}{micros}:{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str) -> Position:
    """The (created_at, id) a cursor continues after; E16 `cursor` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, _, row_id = raw.removeprefix(_TAG).partition(":")
        if not raw.startswith(_TAG) or len(cursor) > 80:
            raise ValueError(raw)
        at = _EPOCH + dt.timedelta(microseconds=int(micros))
        return at, int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise error("E16", "Invalid cursor", param="cursor") from None


def next_cursor(rows: Sequence[RowMapping], page_size: int) -> str | None:
    return encode_position(rows[page_size - 1]) if len(rows) > page_size else None


# -- request detail ----------------------------------------------------------------------------


def _billing(row: Row) -> BillingRead:
    b = detail.billing(row)
    tokens = TokensRead.model_validate(detail.usage_of(row), from_attributes=True)
    return BillingRead.model_validate(
        {
            "charged": b.charged,
            "tokens": tokens,
            "unit_prices": b.unit_prices,
            "multiplier": b.multiplier,
            "lines": [
                BillingLineRead.model_validate(line, from_attributes=True) for line in b.lines
            ],
            "subtotal": b.subtotal,
            "estimate_nusd": b.estimate_nusd,
            "settled_nusd": b.settled_nusd,
            "estimated": b.estimated,
            "difference_nusd": b.difference_nusd,
            "reconciles": b.reconciles,
        }
    )


def _timings(row: Row) -> TimingsRead:
    started: dt.datetime = row["created_at"]
    latency = row["latency_ms"]
    ended = None if latency is None else started + dt.timedelta(milliseconds=latency)
    return TimingsRead(
        started_at=started, ended_at=ended, latency_ms=latency, ttft_ms=row["ttft_ms"]
    )


def my_detail(row: RowMapping) -> MyUsageDetail:
    return MyUsageDetail.model_validate(
        {
            "request": row,
            "attempts": [
                AttemptRead(
                    number=a.number,
                    status=a.status,
                    failure_class=a.failure_class,
                    latency_ms=a.latency_ms,
                )
                for a in detail.attempts(row["attempt_chain"])
            ],
            "billing": _billing(row),
            "timings": _timings(row),
        }
    )


async def admin_detail(conn: AsyncConnection, row: RowMapping) -> UsageDetail:
    chain = detail.attempts(row["attempt_chain"])
    ids = {a.channel_id for a in chain if a.channel_id is not None}
    names: dict[int, str] = {}
    if ids:
        q = select(channels.c.id, channels.c.name).where(channels.c.id.in_(ids))
        names = {r.id: r.name for r in await conn.execute(q)}
    email = None
    if row["user_id"] is not None:
        email = await conn.scalar(select(users.c.email).where(users.c.id == row["user_id"]))
    return UsageDetail(
        request=UsageRead.from_row(row),
        user_email=email,
        attempts=[
            AdminAttemptRead(
                number=a.number,
                status=a.status,
                failure_class=a.failure_class,
                latency_ms=a.latency_ms,
                channel_id=a.channel_id,
                channel_name=names.get(a.channel_id) if a.channel_id is not None else None,
            )
            for a in chain
        ],
        billing=_billing(row),
        timings=_timings(row),
    )


# -- summaries -------------------------------------------------------------------------------


def _model_row(t: Totals) -> ModelRowRead:
    return ModelRowRead.model_validate(
        {
            "model": t.model,
            "requests": t.requests,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "cache_write_tokens": t.cache_write_tokens,
            "cache_read_tokens": t.cache_read_tokens,
            "reasoning_tokens": t.reasoning_tokens,
            "cost_nusd": t.cost_nusd,
        }
    )


def summary_read(s: Summary) -> SummaryRead:
    t = s.totals
    return SummaryRead.model_validate(
        {
            "start": s.days.first,
            "end": s.days.last,
            "cost_nusd": t.cost_nusd,
            "requests": t.requests,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "models": [_model_row(m) for m in s.models],
            "totals": _model_row(t),
            "source": s.source,
        }
    )


def daily_read(points: Sequence[DayPoint]) -> DailyRead:
    return DailyRead(
        days=len(points),
        data=[
            DailyPointRead.model_validate(
                {"date": p.date, "requests": p.requests, "cost_nusd": p.cost_nusd}
            )
            for p in points
        ],
    )


# -- CSV -----------------------------------------------------------------------------------------


def csv_response(chunks: AsyncIterator[bytes], filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )
