"""`/api/me/usage/*`: the signed-in user's own usage (SPEC R11.4–R11.6, R15.4, R16.4).

Every query is fixed to the caller's user id, so another user's request id is simply not
found (404) and a key filter can only narrow the caller's own rows. Channel, client IP and the
upstream's request id are left out (admins only, R11.4).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator
from starlette.responses import StreamingResponse

from torouter.api.auth import SessionUser
from torouter.api.changes import deployment_zone
from torouter.api.deps import Deps
from torouter.api.fields import Day, Id, Time
from torouter.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, CursorPage
from torouter.api.schemas import ErrorEnvelope
from torouter.api.usage_schemas import DailyRead, MyUsageDetail, MyUsageRead, SummaryRead
from torouter.api.usage_views import (
    CSV_RESPONSES,
    csv_response,
    daily_read,
    decode_position,
    my_detail,
    next_cursor,
    range_of,
    summary_read,
)
from torouter.errors import error
from torouter.usage import export, logs, summaries
from torouter.usage.filters import UsageFilter
from torouter.usage.row import RequestOutcome

__all__ = ["Days", "End", "Model", "Outcome", "Start", "router"]

router = APIRouter(prefix="/usage", tags=["usage"])

Outcome = RequestOutcome
Start = Annotated[Day | None, Query(description="First day (YYYY-MM-DD, deployment timezone)")]
End = Annotated[Day | None, Query(description="Last day, inclusive")]
Model = Annotated[str | None, Query(description="The requested (public) model id")]


def _seven_or_thirty(days: int) -> int:
    if days not in (7, 30):
        raise ValueError("must be 7 or 30")
    return days


Days = Annotated[int, Query(ge=7, le=30, description="7 or 30"), AfterValidator(_seven_or_thirty)]


def _uid(principal: SessionUser) -> int:
    assert principal.user_id is not None  # a session always has its user
    return principal.user_id


@router.get(
    "/logs",
    response_model=CursorPage[MyUsageRead],
    summary="My usage log, newest first",
    description="One row per request (R11.1, R11.4). Pass `next_cursor` back as `cursor` for "
    "the next page; rows written meanwhile never shift a page. `start`/`end` are days of the "
    "deployment timezone, `since`/`until` exact instants.",
)
async def list_logs(
    deps: Deps,
    principal: SessionUser,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    start: Start = None,
    end: End = None,
    since: Time | None = None,
    until: Time | None = None,
    model: Model = None,
    key_id: Id | None = None,
    outcome: Outcome | None = None,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
) -> CursorPage[MyUsageRead]:
    f = UsageFilter(
        user_id=_uid(principal),
        key_id=key_id,
        model=model,
        outcome=outcome,
        request_id=request_id,
        since=_aware(since),
        until=_aware(until),
    )
    if start is not None or end is not None:
        f = f.within(range_of(deps, start, end))
    after = decode_position(cursor) if cursor else None
    async with deps.db.connect() as conn:
        rows = await logs.read_page(conn, f, after, page_size + 1)
    return CursorPage[MyUsageRead](
        data=[MyUsageRead.from_row(r) for r in rows[:page_size]],
        next_cursor=next_cursor(rows, page_size),
    )


@router.get(
    "/logs/{request_id}",
    response_model=MyUsageDetail,
    responses={404: {"model": ErrorEnvelope}},
    summary="One of my requests in detail",
    description="Search by request id (`x-request-id`, R15.4): every upstream attempt in order "
    "(status, failure class, latency), the billing breakdown (tokens by kind, unit prices, "
    "multiplier, estimate vs settled) and the timings. When a request id was sent more than "
    "once, the newest request is shown.",
)
async def get_log(deps: Deps, principal: SessionUser, request_id: str) -> MyUsageDetail:
    async with deps.db.connect() as conn:
        row = await logs.find_request(conn, request_id, user_id=principal.user_id)
    if row is None:
        raise error("E19", "Request not found")
    return my_detail(row)


@router.get(
    "/summary",
    response_model=SummaryRead,
    summary="My usage summary",
    description="Stat cards (cost, requests, input and output tokens) and the per-model table "
    "with its totals row (R11.4), from the daily roll-ups; the last 30 days by default.",
)
async def get_summary(
    deps: Deps,
    principal: SessionUser,
    start: Start = None,
    end: End = None,
    model: Model = None,
    key_id: Id | None = None,
) -> SummaryRead:
    days = range_of(deps, start, end)
    async with deps.db.connect() as conn:
        found = await summaries.summary(
            conn, UsageFilter(user_id=_uid(principal), model=model, key_id=key_id), days
        )
    return summary_read(found)


@router.get(
    "/daily",
    response_model=DailyRead,
    summary="My spend and requests per day",
    description="The last 7 or 30 days up to today (deployment timezone), zero-filled.",
)
async def get_daily(
    deps: Deps,
    principal: SessionUser,
    days: Days = 7,
    model: Model = None,
    key_id: Id | None = None,
) -> DailyRead:
    span = range_of(deps, None, None, default_days=days)
    async with deps.db.connect() as conn:
        points = await summaries.daily(
            conn, UsageFilter(user_id=_uid(principal), model=model, key_id=key_id), span
        )
    return daily_read(points)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSES,
    summary="Export my usage as CSV",
    description="R11.5: `usage-<start>_<end>.csv`, one row per request, oldest first, "
    "`cost_usd` with 9 decimals; the last 30 days by default.",
)
async def export_csv(
    deps: Deps,
    principal: SessionUser,
    start: Start = None,
    end: End = None,
    model: Model = None,
    key_id: Id | None = None,
    outcome: Outcome | None = None,
) -> StreamingResponse:
    days = range_of(deps, start, end)
    f = UsageFilter(user_id=_uid(principal), model=model, key_id=key_id, outcome=outcome).within(
        days
    )
    rows = export.csv_rows(deps.db, f, zone=deployment_zone(deps), admin=False)
    return csv_response(rows, export.file_name(days))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
