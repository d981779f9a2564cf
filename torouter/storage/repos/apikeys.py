"""API keys (R7.2, R13): stored as SHA-256 hex plus a display mask, never in plaintext."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access.keys import generate_key, hash_key, mask_key
from torouter.storage.repos._common import insert_row, now, select_one
from torouter.storage.tables import api_keys

__all__ = ["HASH_ONLY_MASK", "create_key", "get_key_by_hash", "insert_key"]

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


async def create_key(
    conn: AsyncConnection, *, user_id: int, group_id: int, name: str, **limits: Any
) -> tuple[int, str]:
    """A new random key; returns (id, the key), the only time the key is known."""
    key = generate_key()
    key_id = await insert_key(
        conn,
        user_id=user_id,
        group_id=group_id,
        name=name,
        key_hash=hash_key(key),
        mask=mask_key(key),
        **limits,
    )
    return key_id, key


async def get_key_by_hash(conn: AsyncConnection, *, key_hash: str) -> RowMapping | None:
    return await select_one(conn, api_keys, {"key_hash": key_hash})
