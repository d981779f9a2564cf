"""Groups (R7.6): billing type, multiplier, ordered catalog, visibility, grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import (
    api_keys,
    group_grants,
    group_models,
    groups,
    plans,
    subscriptions,
)

__all__ = [
    "create_group",
    "delete_group",
    "get_group",
    "get_group_by_name",
    "grant_group",
    "group_model_ids",
    "group_references",
    "has_grant",
    "revoke_grant",
    "set_group_models",
    "update_group",
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


_GROUP_COLUMNS = frozenset(
    {
        "name",
        "description",
        "billing_type",
        "price_multiplier",
        "visibility",
        "status",
        "default_key_limits",
    }
)


async def update_group(conn: AsyncConnection, *, group_id: int, values: Mapping[str, Any]) -> None:
    unknown = set(values) - _GROUP_COLUMNS
    if unknown:
        raise TypeError(f"not editable group fields {sorted(unknown)}")
    if values:
        await conn.execute(update(groups).where(groups.c.id == group_id).values(**values))


async def group_references(conn: AsyncConnection, *, group_id: int) -> dict[str, int]:
    """Rows that point at the group and keep it from being deleted (deleted keys included:
    their usage history names the group)."""
    out: dict[str, int] = {}
    for name, column in (
        ("keys", api_keys.c.group_id),
        ("plans", plans.c.group_id),
        ("subscriptions", subscriptions.c.group_id),
    ):
        count = await conn.scalar(select(func.count()).where(column == group_id))
        out[name] = int(count or 0)
    return out


async def delete_group(conn: AsyncConnection, *, group_id: int) -> bool:
    """Delete a group with its catalog, grants and channel links; False when none."""
    result = await conn.execute(delete(groups).where(groups.c.id == group_id))
    return bool(result.rowcount)


async def has_grant(conn: AsyncConnection, *, group_id: int, user_id: int) -> bool:
    return (
        await select_one(conn, group_grants, {"group_id": group_id, "user_id": user_id}) is not None
    )


async def revoke_grant(conn: AsyncConnection, *, group_id: int, user_id: int) -> bool:
    """Take a private group away from a user; False when there was no grant."""
    result = await conn.execute(
        delete(group_grants).where(
            group_grants.c.group_id == group_id, group_grants.c.user_id == user_id
        )
    )
    return bool(result.rowcount)
