"""An API key written straight into the database, and what the gateway's admission says."""

from __future__ import annotations

from sqlalchemy import insert

from tests.accounts.conftest import Stack
from torouter.access.admission import check_key
from torouter.access.keys import generate_key, hash_key
from torouter.errors import GatewayError
from torouter.storage.tables import api_keys, groups


async def key_for(stack: Stack, user_id: int, group: str = "g") -> str:
    key = generate_key()
    now = stack.clock.now()
    async with stack.db.begin() as conn:
        result = await conn.execute(
            insert(groups).values(name=f"{group}-{user_id}", default_key_limits={}, created_at=now)
        )
        await conn.execute(
            insert(api_keys).values(
                user_id=user_id,
                group_id=result.inserted_primary_key[0],
                name="k",
                key_hash=hash_key(key),
                mask="sk-…",
                created_at=now,
            )
        )
    await stack.snapshot.reload()
    return key


def admit(stack: Stack, key: str) -> str | None:
    """The error code the gateway's key check gives now (from the snapshot), None if it passes."""
    try:
        check_key(stack.snapshot.current, hash_key(key), now=0, client_ip=None)
    except GatewayError as exc:
        return exc.code
    return None
