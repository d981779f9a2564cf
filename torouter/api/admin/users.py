"""Users, their ledgers and admin balance changes (R12, R14.1, R14.7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.ledger_views import LedgerEntryRead
from torouter.api.money import usd_to_nusd
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import (
    ApiModel,
    ErrorEnvelope,
    InputModel,
    Responses,
    Timestamp,
    Usd,
    UsdAmount,
)
from torouter.errors import error
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.tables import ledger, users

__all__ = ["BalanceChange", "LedgerEntryRead", "UserRead", "router"]

router = APIRouter(tags=["users"])
_NOT_FOUND: Responses = {404: {"model": ErrorEnvelope}}


class UserRead(ApiModel):
    id: int
    email: str
    username: str | None
    role: str
    state: str
    email_verified_at: Timestamp | None
    balance_nusd: int
    balance_usd: Usd
    language: str | None
    display_currency: str | None
    totp_enabled: bool
    managed: bool
    created_at: Timestamp
    updated_at: Timestamp | None


def _nonzero_nusd(amount: Decimal) -> Decimal:
    if usd_to_nusd(amount) == 0:  # also refuses more than 9 decimals
        raise ValueError("must not be zero")
    return amount


class BalanceChange(InputModel):
    """Positive `amount_usd` credits (`admin_credit`), negative debits (`admin_debit`)."""

    amount_usd: Annotated[UsdAmount, AfterValidator(_nonzero_nusd)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


async def _user_or_404(conn: AsyncConnection, user_id: int) -> UserRead:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    if row is None:
        raise error("E19", "User not found")
    return UserRead.from_row(row)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@router.get("/users", response_model=Page[UserRead], summary="List users")
async def list_users(
    deps: Deps,
    paging: Paging,
    q: Annotated[
        str | None, Query(max_length=320, description="Part of the email (case-insensitive)")
    ] = None,
    role: Literal["user", "admin"] | None = None,
    state: Literal["unverified", "active", "suspended", "deleted"] | None = None,
) -> Page[UserRead]:
    stmt = select(users).order_by(users.c.id)
    if q:
        stmt = stmt.where(users.c.email.like(_like(q.strip().lower()), escape="\\"))
    if role is not None:
        stmt = stmt.where(users.c.role == role)
    if state is not None:
        stmt = stmt.where(users.c.state == state)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, UserRead.from_row)


@router.get("/users/{user_id}", response_model=UserRead, responses=_NOT_FOUND, summary="Get a user")
async def get_user(deps: Deps, user_id: Id) -> UserRead:
    async with deps.db.connect() as conn:
        return await _user_or_404(conn, user_id)


@router.post(
    "/users/{user_id}/balance",
    status_code=201,
    response_model=LedgerEntryRead,
    responses=_NOT_FOUND,
    summary="Credit or debit a balance",
    description="Writes an `admin_credit` or `admin_debit` ledger entry; the created entry is "
    "returned, its `balance_after_nusd` being the new balance. The balance may go negative.",
)
async def change_balance(
    deps: Deps, principal: Admin, user_id: Id, body: BalanceChange
) -> LedgerEntryRead:
    amount = usd_to_nusd(body.amount_usd)
    reason = "admin_credit" if amount > 0 else "admin_debit"
    async with deps.db.begin() as conn:
        try:
            entry = await add_ledger_entry(
                conn,
                user_id=user_id,
                amount_nusd=amount,
                reason=reason,
                reference=f"admin:{ULID()}",
                actor=principal.actor,
                note=body.reason,
            )
        except LookupError:
            raise error("E19", "User not found") from None
        await record_audit(
            conn,
            actor=principal.actor,
            action=f"user.{reason}",
            target=f"user:{user_id}",
            detail={"amount_nusd": amount, "ledger_id": entry.id, "note": body.reason},
        )
        row = (await conn.execute(select(ledger).where(ledger.c.id == entry.id))).mappings().one()
    # After the commit, so the gateway's counters never show money the database lacks.
    await deps.ledger.credit(user_id, amount)
    return LedgerEntryRead.build(row)
