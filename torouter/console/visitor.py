"""Who is looking at a console page: the session (R12.3), the user row, the language.

Resolved once per request from the `torouter_session` cookie through the same
`accounts.sessions.resolve_session` as the JSON API, and kept on `request.state`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request

from torouter.accounts.display_settings import DisplaySettings, load_display
from torouter.accounts.sessions import CSRF_COOKIE, SESSION_COOKIE, SessionInfo, resolve_session
from torouter.api.client import client_ip
from torouter.api.principal import Principal
from torouter.console.deps import ConsoleDeps
from torouter.console.formatting import Formatter
from torouter.console.i18n import LANG_COOKIE, Translator, choose_language
from torouter.storage.tables import users

__all__ = ["Visitor", "visitor"]

_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.username,
    users.c.role,
    users.c.state,
    users.c.balance_nusd,
    users.c.language,
    users.c.display_currency,
    users.c.totp_enabled,
    users.c.created_at,
)


@dataclass(slots=True)
class Visitor:
    session: SessionInfo | None
    user: dict[str, Any] | None
    lang: str
    t: Translator
    fmt: Formatter
    display: DisplaySettings
    # The CSRF value forms carry: the session's (R12.3), or before sign-in a random value
    # also set as the `torouter_csrf` cookie (double submit, against login CSRF).
    csrf: str
    new_csrf_cookie: bool
    ip: str | None
    now: dt.datetime

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def verified(self) -> bool:
        return self.user is not None and self.user["state"] == "active"

    @property
    def user_id(self) -> int:
        assert self.user is not None
        return int(self.user["id"])

    @property
    def principal(self) -> Principal:
        """The caller as the JSON API's services know it."""
        assert self.user is not None and self.session is not None
        return Principal(
            user_id=self.user_id,
            role=str(self.user["role"]),
            via="session",
            session_id=self.session.id,
            state=str(self.user["state"]),
        )


async def visitor(request: Request) -> Visitor:
    cached = getattr(request.state, "visitor", None)
    if isinstance(cached, Visitor):  # set below, once per request
        return cached
    deps: ConsoleDeps = request.app.state.deps
    token = request.cookies.get(SESSION_COOKIE)
    session = await resolve_session(deps.accounts, token) if token else None
    user = None
    async with deps.api.db.connect() as conn:
        if session is not None:
            row = (
                (await conn.execute(select(*_USER_COLUMNS).where(users.c.id == session.user_id)))
                .mappings()
                .first()
            )
            user = dict(row) if row is not None else None
            if user is None:
                session = None
        display = await load_display(conn)
    lang = choose_language(
        user_setting=user["language"] if user else None,
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
        default=deps.api.settings.default_language,
    )
    cookie_csrf = request.cookies.get(CSRF_COOKIE, "")
    if session is not None:
        csrf, fresh = session.csrf, False
    elif 20 <= len(cookie_csrf) <= 100:
        csrf, fresh = cookie_csrf, False
    else:
        csrf, fresh = secrets.token_urlsafe(32), True
    currency = user["display_currency"] if user else None
    v = Visitor(
        session=session,
        user=user,
        lang=lang,
        t=Translator(lang),
        fmt=Formatter(lang, deps.tz, currency=currency, cny_rate=display.cny_rate),
        display=display,
        csrf=csrf,
        new_csrf_cookie=fresh,
        ip=client_ip(request),
        now=deps.accounts.clock.now(),
    )
    request.state.visitor = v
    return v
