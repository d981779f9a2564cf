"""Rows written straight into the database, as other parts of the product would leave them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from torouter.api.admin_tokens import create_admin_token
from torouter.storage.db import Database
from torouter.storage.tables import (
    api_keys,
    channel_groups,
    channels,
    group_models,
    groups,
    models,
    usage_logs,
    users,
)
from torouter.usage import rollups

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


async def _insert(db: Database, table: Any, values: dict[str, Any]) -> int:
    async with db.begin() as conn:
        result = await conn.execute(insert(table).values(**values))
        return int(result.inserted_primary_key[0])


async def user(
    db: Database,
    *,
    email: str,
    role: str = "user",
    state: str = "active",
    balance_nusd: int = 0,
) -> int:
    return await _insert(
        db,
        users,
        {
            "email": email,
            "role": role,
            "state": state,
            "balance_nusd": balance_nusd,
            "password_hash": "$argon2id$not-a-real-hash",
            "totp_secret_enc": "v1:secret",
            "created_at": T0,
        },
    )


async def admin_token(db: Database, *, user_id: int | None, name: str = "test") -> str:
    return await create_admin_token(db, name=name, user_id=user_id)


async def group(db: Database, *, name: str = "default") -> int:
    return await _insert(
        db,
        groups,
        {
            "name": name,
            "price_multiplier": Decimal("1.5"),
            "default_key_limits": {},
            "created_at": T0,
        },
    )


async def model(db: Database, *, id: str, **prices: Decimal) -> str:
    async with db.begin() as conn:
        await conn.execute(
            insert(models).values(id=id, endpoints=["chat"], thinking_defaults={}, **prices)
        )
    return id


async def link_group_model(db: Database, *, group_id: int, model_id: str, position: int) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(group_models).values(group_id=group_id, model_id=model_id, position=position)
        )


async def channel(db: Database, *, name: str, group_id: int, **fields: Any) -> int:
    channel_id = await _insert(
        db,
        channels,
        {
            "name": name,
            "platform": "openai",
            "credential_enc": "v1:ENCRYPTED-CREDENTIAL",
            "models": ["gpt-test"],
            "model_mapping": {},
            "options": {"extra_headers": {"x-secret": "hidden"}},
            "created_at": T0,
            **fields,
        },
    )
    async with db.begin() as conn:
        await conn.execute(insert(channel_groups).values(channel_id=channel_id, group_id=group_id))
    return channel_id


async def key(db: Database, *, user_id: int, group_id: int, name: str, **fields: Any) -> int:
    return await _insert(
        db,
        api_keys,
        {
            "user_id": user_id,
            "group_id": group_id,
            "name": name,
            "key_hash": f"{name:0>64}"[:64],
            "mask": "sk-abcd…wxyz",
            "created_at": T0,
            **fields,
        },
    )


def usage_row(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "admission_id": f"adm_{n:06d}_{fields.get('user_id', 0)}",
        "created_at": T0 + dt.timedelta(minutes=n),
        "request_id": f"req_{n}",
        "upstream_request_id": f"chatcmpl-{n}",
        "user_id": 1,
        "key_id": 1,
        "key_name": "main",
        "group_id": 1,
        "model_requested": "gpt-test",
        "model_upstream": "gpt-test-2025",
        "endpoint": "chat",
        "stream": n % 2 == 0,
        "status": 200,
        "outcome": "success",
        "channel_id": 3,
        "attempts": 2,
        "attempt_chain": [{"channel_id": 2, "class": "timeout"}, {"channel_id": 3}],
        "latency_ms": 1200,
        "ttft_ms": 300,
        "input_tokens": 1000,
        "cache_read_tokens": 10,
        "cache_write_5m_tokens": 5,
        "cache_write_1h_tokens": 1,
        "output_tokens": 500,
        "reasoning_tokens": 100,
        "cost_nusd": 15_750_000,
        "estimated": False,
        "client_ip": "203.0.113.7",
        "user_agent": "openai-python/3.57.0",
        **fields,
    }


async def usage(db: Database, rows: list[dict[str, Any]], *, zone: dt.tzinfo = dt.UTC) -> None:
    """Rows and their roll-ups in one transaction, as the usage writer keeps them (R11.3)."""
    hourly_from = rollups.local_hour(dt.datetime.now(dt.UTC) - rollups.HOURLY_KEEP, zone)
    async with db.begin() as conn:
        await conn.execute(insert(usage_logs), rows)
        await rollups.apply(conn, rollups.aggregate(rows, zone, hourly_from=hourly_from))
