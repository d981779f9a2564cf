"""`GET /api/admin/keys`: every user's API keys, masked, with limits and spend (R13.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from torouter.api.deps import Deps
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.storage.tables import api_keys

__all__ = ["KeyRead", "router"]

router = APIRouter(tags=["keys"])


def _split_list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


class KeyRead(ApiModel):
    id: int
    user_id: int
    group_id: int
    name: str
    mask: str
    status: str
    quota_nusd: int | None
    quota_usd: Usd | None
    expires_at: Timestamp | None
    requests_5h: int | None
    requests_1d: int | None
    requests_7d: int | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    budget_daily_nusd: int | None
    budget_daily_usd: Usd | None
    budget_weekly_nusd: int | None
    budget_weekly_usd: Usd | None
    budget_monthly_nusd: int | None
    budget_monthly_usd: Usd | None
    ip_whitelist: list[str]
    ip_blacklist: list[str]
    model_whitelist: list[str]
    spend_nusd: int
    spend_usd: Usd
    last_used_at: Timestamp | None
    last_used_ip: str | None
    deleted_at: Timestamp | None
    managed: bool
    created_at: Timestamp

    @classmethod
    def build(cls, row: Mapping[str, Any]) -> KeyRead:
        lists = {
            f: _split_list(row[f]) for f in ("ip_whitelist", "ip_blacklist", "model_whitelist")
        }
        return cls.from_row(row, **lists)


@router.get("/keys", response_model=Page[KeyRead], summary="List API keys (masked)")
async def list_keys(
    deps: Deps,
    paging: Paging,
    user_id: int | None = None,
    group_id: int | None = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
    include_deleted: bool = False,
) -> Page[KeyRead]:
    c = api_keys.c
    stmt = select(api_keys).order_by(c.id)
    for column, value in (("user_id", user_id), ("group_id", group_id), ("status", status)):
        if value is not None:
            stmt = stmt.where(c[column] == value)
    if not include_deleted:
        stmt = stmt.where(c.deleted_at.is_(None))
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, KeyRead.build)
