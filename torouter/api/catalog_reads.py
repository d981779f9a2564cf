"""Read models of the catalog shared by admin and user routes: groups (R7.6) and model
records with their prices (R6.0, R10.3)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.key_schemas import KeyLimitsRead
from torouter.api.schemas import ApiModel, Timestamp
from torouter.billing.pricing import Prices as EffectivePrices
from torouter.records import Row
from torouter.storage.repos.models import PRICE_FIELDS
from torouter.storage.tables import channel_groups, group_models, models

__all__ = [
    "GroupRead",
    "ModelRead",
    "Prices",
    "effective_prices",
    "group_reads",
    "links",
    "price_text",
]


async def links(
    conn: AsyncConnection, table: Table, key: Column[Any], value: Column[Any], ids: Sequence[Any]
) -> dict[Any, list[Any]]:
    """For many-to-many `table`: key → [value, …] for the given keys (catalog order kept)."""
    out: dict[Any, list[Any]] = defaultdict(list)
    if ids:
        order = [value] if "position" not in table.c else [table.c.position, value]
        rows = await conn.execute(select(key, value).where(key.in_(ids)).order_by(*order))
        for k, v in rows:
            out[k].append(v)
    return out


def price_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class Prices(BaseModel):
    """Exact decimal USD strings: per 1M tokens (input, output, cache_*), or per unit."""

    input: str | None
    output: str | None
    cache_read: str | None
    cache_write_5m: str | None
    cache_write_1h: str | None
    per_request: str | None
    per_image: str | None
    per_audio_minute: str | None
    per_1m_characters: str | None


def effective_prices(row: Row) -> EffectivePrices:
    return EffectivePrices.with_defaults(**{f: row[f"price_{f}"] for f in PRICE_FIELDS})


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
    prices: Prices = Field(description="As set; null = unset")
    effective_prices: Prices = Field(
        description="What is charged: unset prices are 0, except cache_read (= input), "
        "cache_write_5m (1.25 × input) and cache_write_1h (2 × input)"
    )
    unpriced: bool = Field(description="Every price is 0: requests would be free")
    owned_by: str | None
    created: int | None
    enabled: bool
    sort_order: int
    managed: bool

    @classmethod
    def build(cls, row: Row) -> ModelRead:
        values = {name: row[f"price_{name}"] for name in PRICE_FIELDS}
        effective = effective_prices(row)
        return cls.from_row(
            row,
            prices=Prices(**{k: price_text(v) for k, v in values.items()}),
            effective_prices=Prices(**{k: price_text(getattr(effective, k)) for k in PRICE_FIELDS}),
            unpriced=not any(values.values()),
        )


class GroupRead(ApiModel):
    id: int
    name: str
    description: str | None
    billing_type: str  # balance | subscription
    price_multiplier: str
    visibility: str
    status: str
    default_key_limits: KeyLimitsRead
    models: list[str] = Field(description="The catalog, in order")
    channel_ids: list[int]
    managed: bool
    created_at: Timestamp


async def group_reads(
    conn: AsyncConnection, rows: Sequence[Row], *, enabled_models_only: bool = False
) -> list[GroupRead]:
    ids = [r["id"] for r in rows]
    catalog = await links(conn, group_models, group_models.c.group_id, group_models.c.model_id, ids)
    if enabled_models_only:
        off = set((await conn.execute(select(models.c.id).where(~models.c.enabled))).scalars())
        catalog = defaultdict(list, {k: [m for m in v if m not in off] for k, v in catalog.items()})
    chans = await links(
        conn, channel_groups, channel_groups.c.group_id, channel_groups.c.channel_id, ids
    )
    return [
        GroupRead.from_row(
            r,
            price_multiplier=format(r["price_multiplier"], "f"),
            default_key_limits=KeyLimitsRead.model_validate(r["default_key_limits"] or {}),
            models=catalog[r["id"]],
            channel_ids=chans[r["id"]],
        )
        for r in rows
    ]
