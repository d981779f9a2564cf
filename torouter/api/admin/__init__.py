"""`/api/admin/*`: every route here needs an admin (admin token, or session + CSRF)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from torouter.api.admin import (
    audit,
    catalog,
    channels,
    groups,
    keys,
    ledger,
    models,
    orders,
    payments,
    plans,
    settings,
    subscriptions,
    tokens,
    usage,
    user_account,
    user_actions,
    users,
)
from torouter.api.auth import require_admin
from torouter.api.schemas import ErrorEnvelope

__all__ = ["router"]

router = APIRouter(
    prefix="/api/admin",
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorEnvelope}, 403: {"model": ErrorEnvelope}},
)
for _module in (
    usage,
    users,
    ledger,
    user_actions,
    user_account,
    keys,
    catalog,
    channels,
    groups,
    models,
    plans,
    subscriptions,
    tokens,
    settings,
    orders,
    payments,
    audit,
):
    router.include_router(_module.router)
