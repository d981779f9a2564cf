"""`/api/me/*`: the signed-in user's own account (session cookie + CSRF)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from torouter.api.auth import require_session_user
from torouter.api.me import (
    balance,
    dashboard,
    groups,
    keys,
    ledger,
    models,
    profile,
    sessions,
    subscriptions,
    twofactor,
    usage,
)
from torouter.api.schemas import ErrorEnvelope

__all__ = ["router"]

router = APIRouter(
    prefix="/api/me",
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
    usage,
    dashboard,
):
    router.include_router(_module.router)
