"""`GET /api/admin/usage`: the usage log of every user (R11.1, R11.4), newest first, by cursor."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorPage,
    cursor_after,
    decode_cursor,
)
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.storage.tables import usage_logs

__all__ = ["UsageRead", "router"]

router = APIRouter(tags=["usage"])

Outcome = Literal[
    "success", "partial", "client_cancelled", "upstream_error", "failed", "refused", "test"
]


class UsageRead(ApiModel):
    """One request as metered (R11.1). Never prompts or completions."""

    id: int
    created_at: Timestamp
    request_id: str
    upstream_request_id: str | None
    user_id: int | None
    key_id: int | None
    key_name: str | None
    group_id: int | None
    model_requested: str | None
    model_upstream: str | None
    endpoint: str | None
    stream: bool
    status: int
    outcome: str
    error_code: str | None
    channel_id: int | None
    attempts: int
    attempt_chain: list[Any]
    latency_ms: int | None
    ttft_ms: int | None
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    images: int
    audio_seconds: float
    characters: int
    cost_nusd: int
    cost_usd: Usd
    estimated: bool
    client_ip: str | None
    user_agent: str | None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@router.get("/usage", response_model=CursorPage[UsageRead], summary="List usage rows")
async def list_usage(
    deps: Deps,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    user_id: Id | None = None,
    key_id: Id | None = None,
    channel_id: Id | None = None,
    model: Annotated[str | None, Query(description="The requested (public) model id")] = None,
    outcome: Outcome | None = None,
    status: Annotated[int | None, Query(ge=100, le=599, description="HTTP status")] = None,
    request_id: str | None = None,
    since: Annotated[dt.datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[dt.datetime | None, Query(description="Before this time (exclusive)")] = None,
) -> CursorPage[UsageRead]:
    c = usage_logs.c
    stmt = select(usage_logs).order_by(c.id.desc()).limit(page_size + 1)
    if cursor is not None:
        stmt = stmt.where(c.id < decode_cursor(cursor))
    equal: dict[str, Any] = {
        "user_id": user_id,
        "key_id": key_id,
        "channel_id": channel_id,
        "model_requested": model,
        "outcome": outcome,
        "status": status,
        "request_id": request_id,
    }
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(c[column] == value)
    if since is not None:
        stmt = stmt.where(c.created_at >= _utc(since))
    if until is not None:
        stmt = stmt.where(c.created_at < _utc(until))
    async with deps.db.connect() as conn:
        rows = list((await conn.execute(stmt)).mappings())
    return CursorPage[UsageRead](
        data=[UsageRead.from_row(r) for r in rows[:page_size]],
        next_cursor=cursor_after(rows, page_size, lambda r: int(r["id"])),
    )
