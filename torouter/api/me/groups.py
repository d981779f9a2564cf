"""`GET /api/me/groups`: the groups the signed-in user may bind keys to (R7.6, R13.1)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from torouter.api.auth import SessionUser
from torouter.api.catalog_reads import group_reads
from torouter.api.deps import Deps
from torouter.api.key_schemas import KeyLimitsRead
from torouter.api.me.catalog import visible_groups
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ApiModel
from torouter.storage.tables import groups

__all__ = ["MyGroupRead", "router"]

router = APIRouter(tags=["me"])


class MyGroupRead(ApiModel):
    id: int
    name: str
    description: str | None
    billing_type: str = Field(description="balance | subscription (needs a plan)")
    price_multiplier: str
    visibility: str
    default_key_limits: KeyLimitsRead
    models: list[str] = Field(description="The catalog, in order")


@router.get(
    "/groups",
    response_model=Page[MyGroupRead],
    summary="My groups",
    description="Enabled groups that are public or granted to me.",
)
async def list_groups(deps: Deps, principal: SessionUser, paging: Paging) -> Page[MyGroupRead]:
    assert principal.user_id is not None
    stmt = select(groups).where(visible_groups(principal.user_id)).order_by(groups.c.id)
    async with deps.db.connect() as conn:
        page = await fetch_page(conn, stmt, paging, dict)
        reads = await group_reads(conn, page.data, enabled_models_only=True)
    data = [MyGroupRead.model_validate(r.model_dump()) for r in reads]
    return Page[MyGroupRead](data=data, page=page.page, page_size=page.page_size, total=page.total)
