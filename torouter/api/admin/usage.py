"""`/api/admin/usage/*`: every user's usage (SPEC R11.1, R11.4, R11.5, R15.4), with the admin
filters (user, channel, status, outcome) and columns (channel, client IP, attempt chain).

`GET /api/admin/usage` and `/api/admin/usage/logs` are the same cursor-paged log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import StreamingResponse

from torouter.api.changes import deployment_zone
from torouter.api.deps import Deps
from torouter.api.fields import Id, Time
from torouter.api.me.usage import Days, End, Model, Outcome, Start
from torouter.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, CursorPage
from torouter.api.schemas import ErrorEnvelope
from torouter.api.usage_schemas import DailyRead, SummaryRead, UsageDetail, UsageRead
from torouter.api.usage_views import (
    CSV_RESPONSES,
    admin_detail,
    csv_response,
    daily_read,
    decode_position,
    next_cursor,
    range_of,
    summary_read,
)
from torouter.errors import error
from torouter.usage import export, logs, summaries
from torouter.usage.filters import UsageFilter

__all__ = ["UsageRead", "router"]

router = APIRouter(tags=["usage"])


@dataclass(frozen=True, slots=True)
class AdminFilters:
    user_id: int | None
    key_id: int | None
    channel_id: int | None
    model: str | None
    outcome: str | None
    status: int | None

    def usage_filter(
        self,
        *,
        request_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> UsageFilter:
        return UsageFilter(
            user_id=self.user_id,
            key_id=self.key_id,
            channel_id=self.channel_id,
            model=self.model,
            outcome=self.outcome,
            status=self.status,
            request_id=request_id,
            since=since,
            until=until,
        )


def _filters(
    user_id: Id | None = None,
    key_id: Id | None = None,
    channel_id: Id | None = None,
    model: Model = None,
    outcome: Outcome | None = None,
    status: Annotated[
        int | None, Query(ge=100, le=599, description="The HTTP status answered")
    ] = None,
) -> AdminFilters:
    return AdminFilters(user_id, key_id, channel_id, model, outcome, status)


Filters = Annotated[AdminFilters, Depends(_filters)]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


async def list_usage(
    deps: Deps,
    filters: Filters,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
    start: Start = None,
    end: End = None,
    since: Annotated[Time | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[Time | None, Query(description="Before this time (exclusive)")] = None,
) -> CursorPage[UsageRead]:
    f = filters.usage_filter(request_id=request_id, since=_aware(since), until=_aware(until))
    if start is not None or end is not None:
        f = f.within(range_of(deps, start, end))
    after = decode_position(cursor) if cursor else None
    async with deps.db.connect() as conn:
        found = await logs.narrowed(conn, f, deployment_zone(deps))
        rows = [] if found is None else await logs.read_page(conn, found, after, page_size + 1)
    return CursorPage[UsageRead](
        data=[UsageRead.from_row(r) for r in rows[:page_size]],
        next_cursor=next_cursor(rows, page_size),
    )


_LIST_DESCRIPTION = "Every user's requests, newest first (R11.1, R11.4), by cursor."
for _path, _summary in (("/usage", "List usage rows"), ("/usage/logs", "List usage rows (alias)")):
    router.get(
        _path,
        response_model=CursorPage[UsageRead],
        summary=_summary,
        description=_LIST_DESCRIPTION,
    )(list_usage)


@router.get(
    "/usage/logs/{request_id}",
    response_model=UsageDetail,
    responses={404: {"model": ErrorEnvelope}},
    summary="One request in detail",
    description="Every upstream attempt in order with its channel, status, failure class and "
    "latency; the billing breakdown; the timings (R15.4). The newest request with this id.",
)
async def get_usage(deps: Deps, request_id: str) -> UsageDetail:
    async with deps.db.connect() as conn:
        row = await logs.find_request(conn, request_id, user_id=None)
        if row is None:
            raise error("E19", "Request not found")
        return await admin_detail(conn, row)


@router.get(
    "/usage/summary",
    response_model=SummaryRead,
    summary="Usage summary",
    description="Stat cards and the per-model table with its totals row, from the roll-ups; "
    "the last 30 days by default.",
)
async def get_summary(
    deps: Deps, filters: Filters, start: Start = None, end: End = None
) -> SummaryRead:
    days = range_of(deps, start, end)
    async with deps.db.connect() as conn:
        return summary_read(await summaries.summary(conn, filters.usage_filter(), days))


@router.get(
    "/usage/daily",
    response_model=DailyRead,
    summary="Spend and requests per day",
    description="The last 7 or 30 days, zero-filled (user, key and model filters).",
)
async def get_daily(
    deps: Deps,
    days: Days = 7,
    user_id: Id | None = None,
    key_id: Id | None = None,
    model: Model = None,
) -> DailyRead:
    span = range_of(deps, None, None, default_days=days)
    f = UsageFilter(user_id=user_id, key_id=key_id, model=model)
    async with deps.db.connect() as conn:
        return daily_read(await summaries.daily(conn, f, span))


@router.get(
    "/usage/export.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSES,
    summary="Export usage as CSV",
    description="R11.5 with the admin columns `user_email, channel, attempts, client_ip`.",
)
async def export_csv(
    deps: Deps, filters: Filters, start: Start = None, end: End = None
) -> StreamingResponse:
    days = range_of(deps, start, end)
    f = filters.usage_filter().within(days)
    rows = export.csv_rows(deps.db, f, zone=deployment_zone(deps), admin=True)
    return csv_response(rows, export.file_name(days))
