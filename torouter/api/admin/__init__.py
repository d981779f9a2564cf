"""`/api/admin/*`: every route here needs an admin (token or, later, session)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from torouter.api.admin import audit, catalog, keys, tokens, usage, users
from torouter.api.auth import require_admin
from torouter.api.schemas import ErrorEnvelope

__all__ = ["router"]

router = APIRouter(
    prefix="/api/admin",
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorEnvelope}, 403: {"model": ErrorEnvelope}},
)
for _module in (usage, users, keys, catalog, tokens, audit):
    router.include_router(_module.router)
