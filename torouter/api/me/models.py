"""`GET /api/me/models`: the catalog of the signed-in user's groups, with prices (R15.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from torouter.api.auth import SessionUser
from torouter.api.catalog_reads import Prices, effective_prices, price_text
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.me.catalog import visible_groups
from torouter.api.pagination import Page, Paging
from torouter.api.schemas import ApiModel
from torouter.storage.repos.models import PRICE_FIELDS
from torouter.storage.tables import group_models, groups, models

__all__ = ["MyModelRead", "router"]

router = APIRouter(tags=["me"])


class ModelGroup(BaseModel):
    id: int
    name: str
    billing_type: str
    price_multiplier: str = Field(description="Prices are multiplied by this in the group")


class MyModelRead(ApiModel):
    id: str
    display_name: str
    vendor: str
    modality: str
    endpoints: list[str]
    context_length: int | None
    max_output_tokens: int | None
    supports_thinking: bool = Field(description="Also callable as `<id>-thinking`")
    prices: Prices = Field(
        description="USD per 1M tokens (input, output, cache_*) or per unit, before the "
        "group's multiplier; unset prices shown as charged (cache prices derived from input)"
    )
    groups: list[ModelGroup]


@router.get(
    "/models",
    response_model=Page[MyModelRead],
    summary="Models I can use, with prices",
    description="Every enabled model in the catalogs of my groups, in catalog order.",
)
async def list_models(
    deps: Deps,
    principal: SessionUser,
    paging: Paging,
    modality: Annotated[str | None, Query(max_length=12)] = None,
    group_id: Id | None = None,
) -> Page[MyModelRead]:
    assert principal.user_id is not None
    stmt = (
        select(
            models,
            groups.c.id.label("group_id"),
            groups.c.name.label("group_name"),
            groups.c.billing_type.label("group_billing_type"),
            groups.c.price_multiplier.label("group_multiplier"),
        )
        .join(group_models, group_models.c.model_id == models.c.id)
        .join(groups, groups.c.id == group_models.c.group_id)
        .where(visible_groups(principal.user_id), models.c.enabled)
        .order_by(groups.c.id, group_models.c.position, models.c.id)
    )
    if modality is not None:
        stmt = stmt.where(models.c.modality == modality)
    if group_id is not None:
        stmt = stmt.where(groups.c.id == group_id)
    async with deps.db.connect() as conn:
        rows = list((await conn.execute(stmt)).mappings())
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        item = merged.get(r["id"])
        if item is None:
            effective = effective_prices(r)
            item = merged[r["id"]] = {
                **r,
                "display_name": r["display_name"] or r["id"],
                "prices": {f: price_text(getattr(effective, f)) for f in PRICE_FIELDS},
                "groups": [],
            }
        item["groups"].append(
            ModelGroup(
                id=r["group_id"],
                name=r["group_name"],
                billing_type=r["group_billing_type"],
                price_multiplier=format(r["group_multiplier"], "f"),
            )
        )
    items = list(merged.values())
    window = items[paging.offset : paging.offset + paging.page_size]
    return Page[MyModelRead](
        data=[MyModelRead.model_validate(i) for i in window],
        page=paging.page,
        page_size=paging.page_size,
        total=len(items),
    )
