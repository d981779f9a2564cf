"""Authentication of management API calls (R16.2).

Two ways in, one result (`Principal`):

- `Authorization: Bearer tra_…` — an admin token: looked up by its SHA-256 (the digest is the
  index key, then compared in constant time), refused when revoked; no CSRF, since a browser
  never sends it by itself.
- the session cookie — resolved by `ApiDeps.session_resolver` (the accounts package), which
  also enforces CSRF on unsafe methods.

A request that presents a bearer credential is judged by it alone: a bad token is 401 even when
a session cookie is also present, so a script never silently acts as the browser's user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBearer
from sqlalchemy import select
from starlette.requests import Request

from torouter.access.keys import ADMIN_TOKEN_RE, hash_token, same_hash
from torouter.accounts import messages
from torouter.api.admin_tokens import find_token, touch_token
from torouter.api.deps import ApiDeps, Deps
from torouter.api.principal import Principal
from torouter.errors import error
from torouter.observability.api_access import NOTE_KEY
from torouter.storage.tables import users

__all__ = [
    "Admin",
    "SessionUser",
    "VerifiedUser",
    "bearer_credential",
    "current_principal",
    "optional_session",
    "require_admin",
    "require_session_user",
    "require_verified",
]

# Only declares the scheme in the OpenAPI document; the header is parsed below.
_bearer_doc = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin token: `Authorization: Bearer tra_<40 characters>`.",
)


def bearer_credential(request: Request) -> str | None:
    """The credential of an `Authorization: Bearer` header; None without one.

    A repeated `Authorization` header is E16: servers and proxies disagree on which copy
    counts (the gateway refuses it too, R2.3), so no copy is trusted.
    """
    values = request.headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise error(
            "E16", "authorization: the header is sent more than once", param="authorization"
        )
    header = values[0]
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


async def _token_principal(deps: ApiDeps, token: str) -> Principal:
    if ADMIN_TOKEN_RE.match(token) is None:
        raise error("AUTH_REQUIRED", "Invalid admin token")
    digest = hash_token(token)
    async with deps.db.connect() as conn:
        row = await find_token(conn, token_hash=digest)
        if row is None or not same_hash(row["token_hash"], digest) or row["revoked_at"]:
            raise error("AUTH_REQUIRED", "Invalid admin token")
        role = "admin"
        if row["user_id"] is not None:
            user = (
                await conn.execute(
                    select(users.c.role, users.c.state).where(users.c.id == row["user_id"])
                )
            ).first()
            if user is None or user.state == "deleted":
                raise error("AUTH_REQUIRED", "Invalid admin token")
            if user.state != "active":
                raise error("FORBIDDEN", "The token's account is not active")
            role = user.role
    await touch_token(deps.db, row)
    return Principal(user_id=row["user_id"], role=role, via="token", token_id=row["id"])


async def current_principal(
    request: Request,
    deps: Deps,
    _doc: Annotated[object, Depends(_bearer_doc)] = None,
) -> Principal:
    """The caller, or AUTH_REQUIRED (401). Also kept on `request.state.principal`."""
    token = bearer_credential(request)
    principal: Principal | None
    if token is not None:
        principal = await _token_principal(deps, token)
    elif deps.session_resolver is not None:
        principal = await deps.session_resolver(request)
    else:
        principal = None
    if principal is None:
        raise error("AUTH_REQUIRED")
    _remember(request, principal)
    return principal


def _remember(request: Request, principal: Principal) -> None:
    """On the request's state, and for its access line (who acted; never a secret)."""
    request.state.principal = principal
    note = getattr(request.state, NOTE_KEY, None)
    if note is not None:
        note.actor = principal.actor


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """An admin caller, else FORBIDDEN (403)."""
    if not principal.is_admin:
        raise error("FORBIDDEN", "Admin role required")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]


async def require_session_user(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """A signed-in user (`/api/me`): admin tokens act on no one's behalf there."""
    if principal.via != "session" or principal.user_id is None:
        raise error("FORBIDDEN", messages.NEEDS_SESSION)
    return principal


SessionUser = Annotated[Principal, Depends(require_session_user)]


async def require_verified(principal: SessionUser) -> Principal:
    """A signed-in user whose email is verified (creating keys, paying…), else 403
    EMAIL_NOT_VERIFIED: unverified users only see the verification banner (R12.2)."""
    if principal.state != "active":
        raise error("EMAIL_NOT_VERIFIED")
    return principal


VerifiedUser = Annotated[Principal, Depends(require_verified)]


async def optional_session(request: Request, deps: Deps) -> Principal | None:
    """The session's principal when the request has a live one (CSRF checked), else None."""
    if deps.session_resolver is None:
        return None
    principal = await deps.session_resolver(request)
    if principal is not None:
        _remember(request, principal)
    return principal
