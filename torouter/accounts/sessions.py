"""Server-side login sessions (R12.3): cookie token stored hashed, 7 days idle, 30 absolute.

The CSRF token is derived from the session token (HMAC), so it needs no storage, differs per
session, and cannot be planted by someone who can only set cookies: a double submit of the
`torouter_csrf` cookie in `X-CSRF-Token` (or a `csrf_token` form field) is checked against
the value derived from the session itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.accounts.service import Accounts
from torouter.accounts.tokens import digest, new_token, same_digest
from torouter.storage.tables import sessions, users

__all__ = [
    "ABSOLUTE",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "IDLE",
    "SESSION_COOKIE",
    "NewSession",
    "SessionInfo",
    "active_sessions",
    "create_session",
    "csrf_for",
    "resolve_session",
    "revoke_session",
    "revoke_sessions",
]

SESSION_COOKIE = "torouter_session"
CSRF_COOKIE = "torouter_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
IDLE = dt.timedelta(days=7)
ABSOLUTE = dt.timedelta(days=30)
_TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is written at most this often
_MAX_TOKEN = 128


def csrf_for(token: str) -> str:
    mac = hmac.new(token.encode(), b"torouter-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class NewSession:
    id: int
    token: str
    csrf: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    user_id: int
    role: str
    state: str
    csrf: str


def _hash(token: str) -> str:
    return digest("session", token)


async def create_session(
    acc: Accounts,
    conn: AsyncConnection,
    *,
    user_id: int,
    ip: str | None,
    user_agent: str | None,
) -> NewSession:
    token = new_token()
    now = acc.clock.now()
    result = await conn.execute(
        sessions.insert().values(
            user_id=user_id,
            token_hash=_hash(token),
            created_at=now,
            last_seen_at=now,
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None  # a single-row INSERT always has its key
    return NewSession(int(pk[0]), token, csrf_for(token))


def _live(now: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        sessions.c.revoked_at.is_(None),
        sessions.c.last_seen_at > now - IDLE,
        sessions.c.created_at > now - ABSOLUTE,
    ]


async def resolve_session(acc: Accounts, token: str) -> SessionInfo | None:
    """The live session of a cookie value and its user, or None.

    Sessions of suspended or deleted users do not resolve (they are also revoked when that
    happens); unverified users do, to see the verification banner (R12.2).
    """
    if not token or len(token) > _MAX_TOKEN:
        return None
    hashed = _hash(token)
    now = acc.clock.now()
    stmt = (
        select(
            sessions.c.id,
            sessions.c.token_hash,
            sessions.c.last_seen_at,
            users.c.id.label("user_id"),
            users.c.role,
            users.c.state,
        )
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.token_hash == hashed, *_live(now))
    )
    async with acc.db.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None or not same_digest(row.token_hash, hashed):
        return None
    if row.state not in ("active", "unverified"):
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        async with acc.db.begin() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id == row.id).values(last_seen_at=now)
            )
    return SessionInfo(row.id, row.user_id, row.role, row.state, csrf_for(token))


def active_sessions(user_id: int, now: dt.datetime) -> Select[Any]:
    """The user's live sessions, newest first (for a paged list)."""
    return (
        select(
            sessions.c.id,
            sessions.c.created_at,
            sessions.c.last_seen_at,
            sessions.c.ip,
            sessions.c.user_agent,
        )
        .where(sessions.c.user_id == user_id, *_live(now))
        .order_by(sessions.c.id.desc())
    )


async def revoke_session(
    conn: AsyncConnection, *, session_id: int, user_id: int, now: dt.datetime
) -> bool:
    """End one session of this user; False when there is no such live session."""
    result = await conn.execute(
        update(sessions)
        .where(and_(sessions.c.id == session_id, sessions.c.user_id == user_id, *_live(now)))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


async def revoke_sessions(
    conn: AsyncConnection, *, user_id: int, now: dt.datetime, keep: int | None = None
) -> int:
    """End every session of the user except `keep`; returns how many ended."""
    stmt = update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(sessions.c.id != keep)
    result = await conn.execute(stmt.values(revoked_at=now))
    return int(result.rowcount)
