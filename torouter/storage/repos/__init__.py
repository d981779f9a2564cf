"""Repositories: small keyword-only async functions over `tables`, one module per resource.

Each takes an open `AsyncConnection` (the caller owns the transaction: `async with
db.begin() as conn`) and returns ids or `RowMapping`s. Money is integer nano-USD.
The two functions here are whole transactions for the CLI (`create-admin`, `set-password`).
Repositories store secrets only as the caller hashed them: hashing belongs to `accounts/` and
`access/`, which sit above storage (DESIGN §2).
"""

from __future__ import annotations

from torouter.storage.db import Database
from torouter.storage.repos import users

__all__ = ["create_admin", "set_password"]


async def create_admin(db: Database, *, email: str, password_hash: str) -> tuple[int, bool]:
    """Create, or promote and re-password, a verified active admin: (user id, created)."""
    async with db.begin() as conn:
        return await users.ensure_admin(conn, email=email, password_hash=password_hash)


async def set_password(db: Database, *, email: str, password_hash: str) -> bool:
    """Set an account's password hash; False when there is no such account."""
    async with db.begin() as conn:
        row = await users.get_user_by_email(conn, email=email)
        if row is None:
            return False
        await users.set_password(conn, user_id=row["id"], password_hash=password_hash)
        return True
