"""`/api/me/sessions`: the user's signed-in sessions, and ending one (R16.1)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from torouter.accounts import messages as m
from torouter.accounts.sessions import active_sessions, revoke_session
from torouter.api.auth import SessionUser
from torouter.api.deps import AccountsDep
from torouter.api.fields import Id
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, ErrorEnvelope, Timestamp
from torouter.api.session_auth import clear_session_cookies
from torouter.errors import error

__all__ = ["router"]

router = APIRouter(tags=["me"])


class SessionRead(ApiModel):
    id: int
    created_at: Timestamp
    last_seen_at: Timestamp
    ip: str | None
    user_agent: str | None
    current: bool


@router.get("/sessions", response_model=Page[SessionRead], summary="My sessions, newest first")
async def list_sessions(
    accounts: AccountsDep, principal: SessionUser, paging: Paging
) -> Page[SessionRead]:
    assert principal.user_id is not None
    stmt = active_sessions(principal.user_id, accounts.clock.now())
    async with accounts.db.connect() as conn:
        return await fetch_page(
            conn,
            stmt,
            paging,
            lambda row: SessionRead.from_row(row, current=row["id"] == principal.session_id),
        )


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    responses={404: {"model": ErrorEnvelope}},
    summary="End one of my sessions",
    description="Ending the current session also clears its cookies (like logout).",
)
async def delete_session(
    request: Request, accounts: AccountsDep, principal: SessionUser, session_id: Id
) -> Response:
    assert principal.user_id is not None
    async with accounts.db.begin() as conn:
        ended = await revoke_session(
            conn, session_id=session_id, user_id=principal.user_id, now=accounts.clock.now()
        )
    if not ended:
        raise error("E19", m.SESSION_NOT_FOUND)
    out = Response(status_code=204)
    if session_id == principal.session_id:
        clear_session_cookies(out, accounts, request)
    return out
