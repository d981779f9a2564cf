"""Admin tokens (R16.2, R18.1): `tra_` + 40 characters, stored as SHA-256 hex plus a mask.

The plaintext exists only in the return value of `create_admin_token`, shown once by the CLI
or the create endpoint. Revocation is soft (`revoked_at`) so the audit trail keeps the row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.access.keys import generate_admin_token, hash_token, mask_key
from torouter.storage.db import Database
from torouter.storage.tables import admin_tokens, users

__all__ = [
    "LAST_USED_GRANULARITY",
    "create_admin_token",
    "find_token",
    "insert_admin_token",
    "revoke_admin_token",
    "touch_token",
]

# `last_used_at` is written at most this often per token, so a busy script does not turn
# every read into a database write.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def insert_admin_token(
    conn: AsyncConnection, *, name: str, user_id: int | None
) -> tuple[int, str]:
    """In the caller's transaction; returns (id, plaintext token). LookupError: no such user."""
    if user_id is not None:
        found = await conn.scalar(select(users.c.id).where(users.c.id == user_id))
        if found is None:
            raise LookupError(f"no user {user_id}")
    token = generate_admin_token()
    result = await conn.execute(
        admin_tokens.insert().values(
            name=name,
            token_hash=hash_token(token),
            mask=mask_key(token),
            user_id=user_id,
            created_at=_now(),
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None  # a single-row INSERT always has its key
    return int(pk[0]), token


async def create_admin_token(db: Database, *, name: str, user_id: int | None) -> str:
    """Create a token (for `torouter create-admin-token`); the plaintext, returned once."""
    async with db.begin() as conn:
        _, token = await insert_admin_token(conn, name=name, user_id=user_id)
    return token


async def find_token(conn: AsyncConnection, *, token_hash: str) -> RowMapping | None:
    """The token row with this hash, revoked or not (an indexed equality lookup)."""
    row = await conn.execute(select(admin_tokens).where(admin_tokens.c.token_hash == token_hash))
    return row.mappings().first()


async def touch_token(db: Database, row: RowMapping) -> None:
    """Record use, unless it was recorded less than `LAST_USED_GRANULARITY` ago."""
    now = _now()
    last = row["last_used_at"]
    if last is not None and now - last < LAST_USED_GRANULARITY:
        return
    cutoff = now - LAST_USED_GRANULARITY
    async with db.begin() as conn:
        # Conditional, so racing requests write once.
        await conn.execute(
            update(admin_tokens)
            .where(admin_tokens.c.id == row["id"])
            .where(or_(admin_tokens.c.last_used_at.is_(None), admin_tokens.c.last_used_at < cutoff))
            .values(last_used_at=now)
        )


async def revoke_admin_token(conn: AsyncConnection, *, token_id: int) -> bool | None:
    """Revoke; None when there is no such token, False when it was already revoked."""
    row = await conn.execute(select(admin_tokens.c.revoked_at).where(admin_tokens.c.id == token_id))
    found = row.first()
    if found is None:
        return None
    if found.revoked_at is not None:
        return False
    await conn.execute(
        update(admin_tokens).where(admin_tokens.c.id == token_id).values(revoked_at=_now())
    )
    return True
