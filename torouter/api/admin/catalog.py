"""Read-only admin lists of channels, models and groups (R9.1, R10.3, R7.6).

None of them carries a secret: channels say whether a credential is set but never what it is
(nor their `options`, which may hold extra auth headers), and URLs lose any user:password part.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.deps import Deps
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, Timestamp
from torouter.storage.tables import (
    channel_groups,
    channels,
    group_models,
    groups,
    models,
)

__all__ = ["ChannelRead", "GroupRead", "ModelRead", "redact_url", "router"]

router = APIRouter(tags=["catalog"])


def redact_url(url: str | None) -> str | None:
    """Drop a `user:password@` part (a proxy or base URL may embed credentials)."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


async def _links(
    conn: AsyncConnection, table: Table, key: Column[Any], value: Column[Any], ids: Sequence[Any]
) -> dict[Any, list[Any]]:
    """For many-to-many `table`: key → [value, …] for the given keys."""
    out: dict[Any, list[Any]] = defaultdict(list)
    if ids:
        order = [value] if "position" not in table.c else [table.c.position, value]
        rows = await conn.execute(select(key, value).where(key.in_(ids)).order_by(*order))
        for k, v in rows:
            out[k].append(v)
    return out


class ChannelRead(ApiModel):
    id: int
    name: str
    platform: str
    base_url: str | None
    has_credential: bool
    models: list[str]
    model_mapping: dict[str, str]
    group_ids: list[int]
    priority: int
    weight: int
    connect_timeout: float
    first_byte_timeout: float
    stream_idle_timeout: float
    proxy: str | None
    auto_disable: bool
    status: str
    status_reason: str | None
    status_since: Timestamp | None
    test_model: str | None
    endpoints: list[str] | None
    max_concurrency: int
    managed: bool
    created_at: Timestamp
    updated_at: Timestamp | None


@router.get("/channels", response_model=Page[ChannelRead], summary="List channels")
async def list_channels(
    deps: Deps,
    paging: Paging,
    platform: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=14)] = None,
) -> Page[ChannelRead]:
    stmt = select(channels).order_by(channels.c.id)
    for column, value in (("platform", platform), ("status", status)):
        if value is not None:
            stmt = stmt.where(channels.c[column] == value)
    async with deps.db.connect() as conn:
        page = await fetch_page(conn, stmt, paging, dict)
        ids = [r["id"] for r in page.data]
        links = await _links(
            conn, channel_groups, channel_groups.c.channel_id, channel_groups.c.group_id, ids
        )
    data = [
        ChannelRead.from_row(
            r,
            base_url=redact_url(r["base_url"]),
            proxy=redact_url(r["proxy"]),
            has_credential=r["credential_enc"] is not None,
            group_ids=links[r["id"]],
        )
        for r in page.data
    ]
    return Page[ChannelRead](data=data, page=page.page, page_size=page.page_size, total=page.total)


class Prices(BaseModel):
    """Exact decimal USD: per 1M tokens, or per unit (R10.3); null when unset (0)."""

    input: str | None
    output: str | None
    cache_read: str | None
    cache_write_5m: str | None
    cache_write_1h: str | None
    per_request: str | None
    per_image: str | None
    per_audio_minute: str | None
    per_1m_characters: str | None


class ModelRead(ApiModel):
    id: str
    display_name: str | None
    vendor: str
    modality: str
    endpoints: list[str]
    context_length: int | None
    max_output_tokens: int | None
    supports_thinking: bool
    thinking_defaults: dict[str, Any]
    prices: Prices
    unpriced: bool  # every price unset or 0: requests would be free (R10.3)
    owned_by: str | None
    created: int | None
    enabled: bool
    sort_order: int
    managed: bool

    @classmethod
    def build(cls, row: Mapping[str, Any]) -> ModelRead:
        values: dict[str, Decimal | None] = {
            name: row[f"price_{name}"] for name in Prices.model_fields
        }
        prices = Prices(**{k: None if v is None else format(v, "f") for k, v in values.items()})
        return cls.from_row(row, prices=prices, unpriced=not any(values.values()))


@router.get("/models", response_model=Page[ModelRead], summary="List models and prices")
async def list_models(
    deps: Deps,
    paging: Paging,
    modality: Annotated[str | None, Query(max_length=12)] = None,
    enabled: bool | None = None,
) -> Page[ModelRead]:
    stmt = select(models).order_by(models.c.sort_order, models.c.id)
    if modality is not None:
        stmt = stmt.where(models.c.modality == modality)
    if enabled is not None:
        stmt = stmt.where(models.c.enabled == enabled)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, ModelRead.build)


class GroupRead(ApiModel):
    id: int
    name: str
    description: str | None
    billing_type: str  # balance | subscription
    price_multiplier: str
    visibility: str
    status: str
    default_key_limits: dict[str, Any]
    models: list[str]  # the catalog, in order
    channel_ids: list[int]
    managed: bool
    created_at: Timestamp


@router.get("/groups", response_model=Page[GroupRead], summary="List groups")
async def list_groups(deps: Deps, paging: Paging) -> Page[GroupRead]:
    stmt = select(groups).order_by(groups.c.id)
    async with deps.db.connect() as conn:
        page = await fetch_page(conn, stmt, paging, dict)
        ids = [r["id"] for r in page.data]
        catalog = await _links(
            conn, group_models, group_models.c.group_id, group_models.c.model_id, ids
        )
        chans = await _links(
            conn, channel_groups, channel_groups.c.group_id, channel_groups.c.channel_id, ids
        )
    data = [
        GroupRead.from_row(
            r,
            price_multiplier=format(r["price_multiplier"], "f"),
            models=catalog[r["id"]],
            channel_ids=chans[r["id"]],
        )
        for r in page.data
    ]
    return Page[GroupRead](data=data, page=page.page, page_size=page.page_size, total=page.total)
