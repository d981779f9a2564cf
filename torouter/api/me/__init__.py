"""`/api/me/*`: the signed-in user's own account (session cookie + CSRF), and `/api/me/key`,
which answers to an API key instead (R11.6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from torouter.api.auth import require_session_user
from torouter.api.me import (
    balance,
    dashboard,
    groups,
    key_info,
    keys,
    ledger,
    models,
    orders,
    playground,
    profile,
    sessions,
    subscriptions,
    twofactor,
    usage,
)
from torouter.api.schemas import ErrorEnvelope

__all__ = ["router"]

_signed_in = APIRouter(
    dependencies=[Depends(require_session_user)],
    responses={401: {"model": ErrorEnvelope}, 403: {"model": ErrorEnvelope}},
)
for _module in (
    profile,
    sessions,
    twofactor,
    keys,
    groups,
    models,
    balance,
    ledger,
    subscriptions,
    playground,
    orders,
    usage,
    dashboard,
):
    _signed_in.include_router(_module.router)

router = APIRouter(prefix="/api/me")
router.include_router(key_info.router)  # an API key, not a session
router.include_router(_signed_in)
