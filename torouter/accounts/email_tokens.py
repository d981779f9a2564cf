"""Single-use secrets in the `email_tokens` table, stored as SHA-256 digests (R12.2–R12.6).

| kind          | what                           | lifetime | tries |
|---------------|--------------------------------|----------|-------|
| `verify`      | email verification link        | 24 h     | —     |
| `reset`       | password reset link            | 1 h      | —     |
| `totp_enable` | 6-digit code mailed to enable  | 10 min   | 5     |
| `login`       | ticket between password & TOTP | 5 min    | 5     |

Consuming is one conditional UPDATE (`used_at IS NULL`), so two concurrent uses of one
link cannot both succeed, on either database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.accounts import messages as m
from torouter.accounts.tokens import digest, new_code, new_token, same_digest
from torouter.errors import GatewayError, error
from torouter.storage.tables import email_tokens

__all__ = [
    "LOGIN",
    "MAX_TRIES",
    "RESET",
    "TOTP_ENABLE",
    "TTL",
    "VERIFY",
    "Ticket",
    "check_code",
    "consume_link",
    "issue_code",
    "issue_token",
    "latest_issued",
    "retire",
    "ticket",
    "use_ticket",
    "wrong_try",
]

VERIFY = "verify"
RESET = "reset"
TOTP_ENABLE = "totp_enable"
LOGIN = "login"
TTL = {
    VERIFY: dt.timedelta(hours=24),
    RESET: dt.timedelta(hours=1),
    TOTP_ENABLE: dt.timedelta(minutes=10),
    LOGIN: dt.timedelta(minutes=5),
}
MAX_TRIES = 5


async def _insert(
    conn: AsyncConnection, kind: str, user_id: int, hashed: str, now: dt.datetime
) -> None:
    # Rows of this user and kind that can no longer be used are dropped as new ones come.
    await conn.execute(
        delete(email_tokens).where(
            email_tokens.c.user_id == user_id,
            email_tokens.c.kind == kind,
            email_tokens.c.expires_at < now,
        )
    )
    await conn.execute(
        email_tokens.insert().values(
            user_id=user_id,
            kind=kind,
            token_hash=hashed,
            tries=0,
            created_at=now,
            expires_at=now + TTL[kind],
        )
    )


async def issue_token(conn: AsyncConnection, *, kind: str, user_id: int, now: dt.datetime) -> str:
    """A new link token or login ticket; returns the plaintext (the only time it exists)."""
    token = new_token()
    await _insert(conn, kind, user_id, digest(kind, token), now)
    return token


async def issue_code(conn: AsyncConnection, *, user_id: int, now: dt.datetime) -> str:
    """A 6-digit TOTP-enable code; it replaces any earlier one of the user."""
    code = new_code()
    await conn.execute(
        delete(email_tokens).where(
            email_tokens.c.user_id == user_id, email_tokens.c.kind == TOTP_ENABLE
        )
    )
    # The user id in the digest keeps equal codes of two users distinct (the column is unique).
    await _insert(conn, TOTP_ENABLE, user_id, digest(TOTP_ENABLE, str(user_id), code), now)
    return code


async def latest_issued(conn: AsyncConnection, *, kind: str, user_id: int) -> dt.datetime | None:
    stmt = (
        select(email_tokens.c.created_at)
        .where(email_tokens.c.user_id == user_id, email_tokens.c.kind == kind)
        .order_by(email_tokens.c.created_at.desc())
        .limit(1)
    )
    value: dt.datetime | None = await conn.scalar(stmt)
    return value


async def _mark_used(conn: AsyncConnection, row_id: int, now: dt.datetime) -> bool:
    result = await conn.execute(
        update(email_tokens)
        .where(email_tokens.c.id == row_id, email_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


async def retire(conn: AsyncConnection, *, kind: str, user_id: int, now: dt.datetime) -> None:
    """Use up every open token of this kind for the user (after a reset, a verification…)."""
    await conn.execute(
        update(email_tokens)
        .where(
            email_tokens.c.user_id == user_id,
            email_tokens.c.kind == kind,
            email_tokens.c.used_at.is_(None),
        )
        .values(used_at=now)
    )


async def _find(conn: AsyncConnection, kind: str, hashed: str) -> RowMapping | None:
    stmt = select(email_tokens).where(
        email_tokens.c.token_hash == hashed, email_tokens.c.kind == kind
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or not same_digest(row["token_hash"], hashed):
        return None
    return row


async def consume_link(conn: AsyncConnection, *, kind: str, token: str, now: dt.datetime) -> int:
    """Use a verification or reset link once; returns its user id or raises E16 (`token`)."""
    row = await _find(conn, kind, digest(kind, token.strip()))
    if row is None:
        raise error("E16", m.LINK_INVALID, param="token")
    if row["used_at"] is not None:
        raise error("E16", m.LINK_USED, param="token")
    if row["expires_at"] <= now:
        raise error("E16", m.LINK_EXPIRED, param="token")
    if not await _mark_used(conn, row["id"], now):
        raise error("E16", m.LINK_USED, param="token")
    return int(row["user_id"])


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    user_id: int
    tries: int


async def ticket(conn: AsyncConnection, *, token: str, now: dt.datetime) -> Ticket:
    """A live login ticket, or AUTH_REQUIRED: the login starts over."""
    row = await _find(conn, LOGIN, digest(LOGIN, token.strip()))
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        raise error("AUTH_REQUIRED", m.TICKET_DEAD, param="login_ticket")
    return Ticket(int(row["id"]), int(row["user_id"]), int(row["tries"]))


async def use_ticket(conn: AsyncConnection, t: Ticket, now: dt.datetime) -> None:
    if not await _mark_used(conn, t.id, now):
        raise error("AUTH_REQUIRED", m.TICKET_DEAD, param="login_ticket")


async def wrong_try(conn: AsyncConnection, *, row_id: int, now: dt.datetime) -> int:
    """Count one wrong code; at MAX_TRIES the row is used up. Returns the tries left."""
    await conn.execute(
        update(email_tokens)
        .where(email_tokens.c.id == row_id)
        .values(tries=email_tokens.c.tries + 1)
    )
    found = await conn.execute(select(email_tokens.c.tries).where(email_tokens.c.id == row_id))
    tries = int(found.scalar_one())  # the row just counted
    if tries >= MAX_TRIES:
        await _mark_used(conn, row_id, now)
    return max(MAX_TRIES - tries, 0)


async def check_code(
    conn: AsyncConnection, *, user_id: int, code: str, now: dt.datetime
) -> GatewayError | None:
    """Check the mailed TOTP-enable code and use it up; None when right, else the error.

    The error is returned, not raised, so that the caller can commit the counted try.
    """
    stmt = select(email_tokens).where(
        email_tokens.c.user_id == user_id,
        email_tokens.c.kind == TOTP_ENABLE,
        email_tokens.c.used_at.is_(None),
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row is None or row["expires_at"] <= now:
        return error("E16", m.CODE_EXPIRED, param="email_code")
    if not same_digest(row["token_hash"], digest(TOTP_ENABLE, str(user_id), code.strip())):
        left = await wrong_try(conn, row_id=row["id"], now=now)
        return error("E16", m.CODE_WRONG if left else m.CODE_EXPIRED, param="email_code")
    if not await _mark_used(conn, row["id"], now):
        return error("E16", m.CODE_EXPIRED, param="email_code")
    return None
