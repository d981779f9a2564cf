"""API keys (R7.2, R13): stored as SHA-256 hex plus a display mask, never in plaintext.

The caller generates, hashes and masks the key (`access.keys.new_key`); storage never sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import api_keys

__all__ = [
    "EDITABLE_FIELDS",
    "HASH_ONLY_MASK",
    "count_live_keys",
    "get_key",
    "get_key_by_hash",
    "insert_key",
    "soft_delete_key",
    "update_key",
]

# The mask of a key declared only by its hash (R17.10): its characters are unknown.
HASH_ONLY_MASK = "sk-…"

_LIMIT_FIELDS = frozenset(
    {
        "status",
        "quota_nusd",
        "expires_at",
        "requests_5h",
        "requests_1d",
        "requests_7d",
        "rpm",
        "tpm",
        "max_concurrency",
        "budget_daily_nusd",
        "budget_weekly_nusd",
        "budget_monthly_nusd",
        "ip_whitelist",
        "ip_blacklist",
        "model_whitelist",
        "managed",
    }
)


async def insert_key(
    conn: AsyncConnection,
    *,
    user_id: int,
    group_id: int,
    name: str,
    key_hash: str,
    mask: str,
    **limits: Any,
) -> int:
    """`limits`: status, quota_nusd, expires_at, windows, rpm, tpm, budgets, IP/model lists."""
    unknown = set(limits) - _LIMIT_FIELDS
    if unknown:
        raise TypeError(f"unknown key fields {sorted(unknown)}")
    key_id: int = await insert_row(
        conn,
        api_keys,
        {
            **limits,
            "user_id": user_id,
            "group_id": group_id,
            "name": name,
            "key_hash": key_hash,
            "mask": mask,
            "created_at": now(),
        },
    )
    return key_id


async def get_key_by_hash(conn: AsyncConnection, *, key_hash: str) -> RowMapping | None:
    return await select_one(conn, api_keys, {"key_hash": key_hash})


# What an edit may change (R13.3): the name, the group and every limit; never the hash.
EDITABLE_FIELDS = (_LIMIT_FIELDS - {"managed"}) | {"name", "group_id"}


async def get_key(conn: AsyncConnection, *, key_id: int) -> RowMapping | None:
    """A key that is not deleted, else None."""
    row = await select_one(conn, api_keys, {"id": key_id})
    return None if row is None or row["deleted_at"] is not None else row


async def count_live_keys(conn: AsyncConnection, *, user_id: int) -> int:
    """The user's keys that are not deleted (the `keys.max_per_user` count)."""
    stmt = select(func.count()).where(
        api_keys.c.user_id == user_id, api_keys.c.deleted_at.is_(None)
    )
    return int(await conn.scalar(stmt) or 0)


async def update_key(conn: AsyncConnection, *, key_id: int, values: Mapping[str, Any]) -> bool:
    """Write the given editable columns of a live key; False when there is none."""
    unknown = set(values) - EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"not editable key fields {sorted(unknown)}")
    if not values:
        return await get_key(conn, key_id=key_id) is not None
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.deleted_at.is_(None))
        .values(**values)
    )
    return bool(result.rowcount)


async def soft_delete_key(conn: AsyncConnection, *, key_id: int) -> bool:
    """Mark a key deleted (its row stays for usage history); False if none or already."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.deleted_at.is_(None))
        .values(deleted_at=now())
    )
    return bool(result.rowcount)
