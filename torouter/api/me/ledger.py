"""`GET /api/me/ledger`: the money timeline, every change of the user's balance, newest first
(R14.1, R15.4), with its reason, what it refers to (order, usage batch, admin) and the running
balance; `GET /api/me/ledger/export.csv` the same as a file."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from torouter.api.auth import SessionUser
from torouter.api.deps import Deps
from torouter.api.ledger_views import LedgerEntryRead, LedgerQueryParams, ledger_csv
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.usage_views import CSV_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["me"])


def _uid(principal: SessionUser) -> int:
    assert principal.user_id is not None  # a session always has its user
    return principal.user_id


@router.get(
    "/ledger",
    response_model=Page[LedgerEntryRead],
    summary="My money timeline, newest first",
    description="Filters: `reason` (repeatable), `start`/`end` days (deployment timezone).",
)
async def list_ledger(
    deps: Deps, principal: SessionUser, paging: Paging, q: LedgerQueryParams
) -> Page[LedgerEntryRead]:
    stmt = q.to_filter(deps, _uid(principal)).select()
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, LedgerEntryRead.build)


@router.get(
    "/ledger/export.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSES,
    summary="Export my money timeline as CSV",
    description="`ledger-<start>_<end>.csv`, oldest first, with the running balance; from the "
    "first entry to today by default.",
)
async def export_ledger(
    deps: Deps, principal: SessionUser, q: LedgerQueryParams
) -> StreamingResponse:
    return await ledger_csv(deps, _uid(principal), q)
