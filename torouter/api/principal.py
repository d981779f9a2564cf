"""Who is calling the management API: one value whichever way they authenticated (R16.2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

__all__ = ["Principal", "SessionResolver"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    `user_id` is None only for an admin token bound to no account (made by the CLI before any
    admin exists); such a token acts as an admin. `token_id` is set when `via == "token"`,
    `session_id` (and the account `state`) when `via == "session"`.
    """

    user_id: int | None
    role: str  # user | admin
    via: Literal["token", "session"]
    token_id: int | None = None
    session_id: int | None = None
    state: str | None = None  # unverified | active (a session of any other state is refused)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How ledger entries and audit rows name this caller: `user:5`, `token:3`, both."""
        parts = []
        if self.user_id is not None:
            parts.append(f"user:{self.user_id}")
        if self.token_id is not None:
            parts.append(f"token:{self.token_id}")
        return "/".join(parts) or "unknown"


# The session-cookie login (accounts) plugs in here: it reads the cookie, checks CSRF on unsafe
# methods (raising CSRF_FAILED itself) and returns the session's principal, or None when the
# request carries no session, so that `current_principal` answers AUTH_REQUIRED.
SessionResolver = Callable[[Request], Awaitable[Principal | None]]
