"""`GET /api/admin/users/{id}/ledger` (+ `/export.csv`): one user's money timeline (R14.1,
R15.4), with the same filters and fields as the user's own."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import StreamingResponse

from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.ledger_views import LedgerEntryRead, LedgerQueryParams, ledger_csv
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope, Responses
from torouter.api.usage_views import CSV_RESPONSES
from torouter.errors import error
from torouter.storage.tables import users

__all__ = ["router"]

router = APIRouter(tags=["users"])
_NOT_FOUND: Responses = {404: {"model": ErrorEnvelope}}


async def _exists(deps: Deps, user_id: int) -> None:
    async with deps.db.connect() as conn:
        if await conn.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
            raise error("E19", "User not found")


@router.get(
    "/users/{user_id}/ledger",
    response_model=Page[LedgerEntryRead],
    responses=_NOT_FOUND,
    summary="List a user's ledger entries, newest first",
    description="Filters: `reason` (repeatable), `start`/`end` days (deployment timezone).",
)
async def list_user_ledger(
    deps: Deps, user_id: Id, paging: Paging, q: LedgerQueryParams
) -> Page[LedgerEntryRead]:
    await _exists(deps, user_id)
    async with deps.db.connect() as conn:
        return await fetch_page(
            conn, q.to_filter(deps, user_id).select(), paging, LedgerEntryRead.build
        )


@router.get(
    "/users/{user_id}/ledger/export.csv",
    response_class=StreamingResponse,
    responses={**CSV_RESPONSES, **_NOT_FOUND},
    summary="Export a user's ledger as CSV",
)
async def export_user_ledger(deps: Deps, user_id: Id, q: LedgerQueryParams) -> StreamingResponse:
    await _exists(deps, user_id)
    return await ledger_csv(deps, user_id, q)
