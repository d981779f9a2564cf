"""Groups (R7.6): billing type, multiplier, ordered catalog, visibility, grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import group_grants, group_models, groups

__all__ = [
    "create_group",
    "get_group",
    "get_group_by_name",
    "grant_group",
    "group_model_ids",
    "set_group_models",
]


async def create_group(
    conn: AsyncConnection,
    *,
    name: str,
    billing_type: str = "balance",
    price_multiplier: Decimal = Decimal(1),
    visibility: str = "public",
    status: str = "enabled",
    description: str | None = None,
    default_key_limits: Mapping[str, Any] | None = None,
    managed: bool = False,
) -> int:
    group_id: int = await insert_row(
        conn,
        groups,
        {
            "name": name,
            "billing_type": billing_type,
            "price_multiplier": price_multiplier,
            "visibility": visibility,
            "status": status,
            "description": description,
            "default_key_limits": dict(default_key_limits or {}),
            "managed": managed,
            "created_at": now(),
        },
    )
    return group_id


async def get_group(conn: AsyncConnection, *, group_id: int) -> RowMapping | None:
    return await select_one(conn, groups, {"id": group_id})


async def get_group_by_name(conn: AsyncConnection, *, name: str) -> RowMapping | None:
    return await select_one(conn, groups, {"name": name})


async def group_model_ids(conn: AsyncConnection, *, group_id: int) -> list[str]:
    """The catalog in its order."""
    rows = await conn.execute(
        select(group_models.c.model_id)
        .where(group_models.c.group_id == group_id)
        .order_by(group_models.c.position, group_models.c.model_id)
    )
    return list(rows.scalars())


async def set_group_models(
    conn: AsyncConnection, *, group_id: int, model_ids: Sequence[str]
) -> bool:
    """Replace the catalog with `model_ids` in that order; False when it already was."""
    if await group_model_ids(conn, group_id=group_id) == list(model_ids):
        return False
    await conn.execute(delete(group_models).where(group_models.c.group_id == group_id))
    if model_ids:
        await conn.execute(
            insert(group_models),
            [{"group_id": group_id, "model_id": m, "position": i} for i, m in enumerate(model_ids)],
        )
    return True


async def grant_group(conn: AsyncConnection, *, group_id: int, user_id: int) -> bool:
    """Let a user use a private group; False when already granted."""
    if await select_one(conn, group_grants, {"group_id": group_id, "user_id": user_id}):
        return False
    await conn.execute(insert(group_grants).values(group_id=group_id, user_id=user_id))
    return True
