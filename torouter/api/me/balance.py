"""`GET /api/me/balance`: the user's balance, and what requests in flight hold of it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from torouter.api.auth import SessionUser
from torouter.api.deps import ApiDeps, Deps
from torouter.api.schemas import ApiModel, Usd
from torouter.billing.ledger import balance_counter
from torouter.errors import error
from torouter.storage.tables import users

__all__ = ["BalanceRead", "read_balance", "router"]

router = APIRouter(tags=["me"])


class BalanceRead(ApiModel):
    balance_nusd: int = Field(description="The sum of the ledger")
    balance_usd: Usd
    reserved_nusd: int = Field(
        description="Held for requests in flight on this node (released or charged when they end)"
    )
    reserved_usd: Usd
    available_nusd: int = Field(description="balance − reserved: what new requests can use")
    available_usd: Usd


async def read_balance(deps: ApiDeps, user_id: int) -> BalanceRead:
    """The user's balance and what requests in flight hold of it (also the console's)."""
    async with deps.db.connect() as conn:
        balance = await conn.scalar(select(users.c.balance_nusd).where(users.c.id == user_id))
    if balance is None:
        raise error("E19", "User not found")
    _, in_flight = await deps.ledger.state.used(balance_counter(user_id))
    reserved = max(int(in_flight), 0)
    # Validated from the nUSD fields alone: the model derives their `_usd` siblings.
    return BalanceRead.model_validate(
        {"balance_nusd": balance, "reserved_nusd": reserved, "available_nusd": balance - reserved}
    )


@router.get("/balance", response_model=BalanceRead, summary="My balance")
async def get_balance(deps: Deps, principal: SessionUser) -> BalanceRead:
    assert principal.user_id is not None
    return await read_balance(deps, principal.user_id)
