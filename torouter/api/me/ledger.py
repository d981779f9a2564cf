"""`GET /api/me/ledger`: every change of the user's balance, newest first (R14.1)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from torouter.api.auth import SessionUser
from torouter.api.deps import Deps
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel, Timestamp, Usd
from torouter.storage.tables import ledger

__all__ = ["MyLedgerEntryRead", "router"]

router = APIRouter(tags=["me"])


class MyLedgerEntryRead(ApiModel):
    id: int
    amount_nusd: int = Field(description="Signed: credits are positive")
    amount_usd: Usd
    reason: str = Field(
        description="topup | admin_credit | admin_debit | usage | subscription_purchase | "
        "refund | refund_reversal"
    )
    reference: str | None
    note: str | None
    balance_after_nusd: int
    balance_after_usd: Usd
    created_at: Timestamp


@router.get(
    "/ledger", response_model=Page[MyLedgerEntryRead], summary="My ledger entries, newest first"
)
async def list_ledger(
    deps: Deps, principal: SessionUser, paging: Paging
) -> Page[MyLedgerEntryRead]:
    stmt = select(ledger).where(ledger.c.user_id == principal.user_id).order_by(ledger.c.id.desc())
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, MyLedgerEntryRead.from_row)
