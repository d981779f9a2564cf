"""Model records (R6.0) and their prices (R10.3, exact decimals in USD)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.platforms.registry import ENDPOINT_NAMES
from torouter.storage.repos._common import insert_row, select_one
from torouter.storage.tables import group_models, models

__all__ = [
    "ENDPOINTS",
    "MODALITIES",
    "PRICE_FIELDS",
    "create_model",
    "delete_model",
    "get_model",
    "model_groups",
    "price_columns",
    "update_model",
]

MODALITIES = ("text", "multimodal", "image", "video", "audio", "embedding", "rerank")
ENDPOINTS = ENDPOINT_NAMES  # the registry's operation families (R6.3)
# Per 1M tokens: input, output, cache_*; per unit: the rest. Unset means the R10.3 default.
PRICE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "per_request",
    "per_image",
    "per_audio_minute",
    "per_1m_characters",
)


def price_columns(prices: Mapping[str, Decimal | None]) -> dict[str, Decimal | None]:
    """`{"input": …}` → `{"price_input": …}` for every price field (missing ones None)."""
    unknown = set(prices) - set(PRICE_FIELDS)
    if unknown:
        raise ValueError(f"unknown price fields {sorted(unknown)}")
    return {f"price_{f}": prices.get(f) for f in PRICE_FIELDS}


async def create_model(
    conn: AsyncConnection,
    *,
    model_id: str,
    vendor: str = "openai",
    display_name: str | None = None,
    modality: str = "text",
    endpoints: Sequence[str] = (),
    context_length: int | None = None,
    max_output_tokens: int | None = None,
    supports_thinking: bool = False,
    thinking_defaults: Mapping[str, Any] | None = None,
    prices: Mapping[str, Decimal | None] | None = None,
    owned_by: str | None = None,
    enabled: bool = True,
    sort_order: int = 0,
    managed: bool = False,
) -> str:
    await insert_row(
        conn,
        models,
        {
            "id": model_id,
            "vendor": vendor,
            "display_name": display_name,
            "modality": modality,
            "endpoints": list(endpoints),
            "context_length": context_length,
            "max_output_tokens": max_output_tokens,
            "supports_thinking": supports_thinking,
            "thinking_defaults": dict(thinking_defaults or {}),
            **price_columns(prices or {}),
            "owned_by": owned_by or vendor,
            "created": int(time.time()),
            "enabled": enabled,
            "sort_order": sort_order,
            "managed": managed,
        },
    )
    return model_id


async def get_model(conn: AsyncConnection, *, model_id: str) -> RowMapping | None:
    return await select_one(conn, models, {"id": model_id})


async def update_model(conn: AsyncConnection, *, model_id: str, values: Mapping[str, Any]) -> None:
    """Write columns of a model record (`price_*` for prices); the id never changes."""
    unknown = set(values) - (set(models.c.keys()) - {"id", "managed"})
    if unknown:
        raise TypeError(f"not editable model fields {sorted(unknown)}")
    if values:
        await conn.execute(update(models).where(models.c.id == model_id).values(**values))


async def model_groups(conn: AsyncConnection, *, model_id: str) -> list[int]:
    """The groups whose catalog lists the model."""
    rows = await conn.execute(
        select(group_models.c.group_id)
        .where(group_models.c.model_id == model_id)
        .order_by(group_models.c.group_id)
    )
    return list(rows.scalars())


async def delete_model(conn: AsyncConnection, *, model_id: str) -> bool:
    """Delete a model record and its places in group catalogs; False when none."""
    await conn.execute(delete(group_models).where(group_models.c.model_id == model_id))
    result = await conn.execute(delete(models).where(models.c.id == model_id))
    return bool(result.rowcount)
