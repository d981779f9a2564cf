"""Session-cookie authentication of the management API (R12.3, R16.2).

`session_resolver(accounts)` is the `ApiDeps.session_resolver` hook: it resolves the
`torouter_session` cookie to a `Principal` and, on unsafe methods, requires the CSRF double
submit — the `torouter_csrf` cookie echoed in `X-CSRF-Token` (or a `csrf_token` field of an
urlencoded form) — both equal to the value derived from the session (403 CSRF_FAILED).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from torouter.accounts.service import Accounts
from torouter.accounts.sessions import (
    ABSOLUTE,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    NewSession,
    resolve_session,
)
from torouter.accounts.tokens import same_digest
from torouter.api.principal import Principal, SessionResolver
from torouter.errors import error

__all__ = ["clear_session_cookies", "session_resolver", "set_session_cookies"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _secure(accounts: Accounts, request: Request) -> bool:
    return accounts.secure_cookies or request.url.scheme == "https"


def set_session_cookies(
    response: Response, accounts: Accounts, request: Request, session: NewSession
) -> None:
    secure = _secure(accounts, request)
    max_age = int(ABSOLUTE.total_seconds())  # the idle limit is kept by the server
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the console's script, which echoes it in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )


def clear_session_cookies(response: Response, accounts: Accounts, request: Request) -> None:
    secure = _secure(accounts, request)
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=httponly, samesite="lax")


async def _submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header.strip()
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = parse_qs((await request.body()).decode("latin-1"))
        values = form.get(CSRF_FIELD)
        if values:
            return values[0].strip()
    return ""


def session_resolver(accounts: Accounts) -> SessionResolver:
    async def resolve(request: Request) -> Principal | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        info = await resolve_session(accounts, token)
        if info is None:
            return None
        if request.method not in SAFE_METHODS:
            submitted = await _submitted_csrf(request)
            cookie = request.cookies.get(CSRF_COOKIE, "")
            # Both compared, each in constant time, against the session's own value.
            header_ok = same_digest(submitted, info.csrf)
            cookie_ok = same_digest(cookie, info.csrf)
            if not (submitted and header_ok and cookie_ok):
                raise error("CSRF_FAILED")
        return Principal(
            user_id=info.user_id,
            role=info.role,
            via="session",
            session_id=info.id,
            state=info.state,
        )

    return resolve
