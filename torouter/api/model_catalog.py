"""The model catalog as users see it, read once for the JSON API and the console (R15.1, R15.4).

`user_models`: every enabled model in the catalogs of the groups a user may use, in catalog
order, each with its prices and the groups that offer it. `public_catalog`: the same for the
public groups only, for the `/pricing` page readable without an account.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.catalog_reads import Prices, effective_prices, price_text
from torouter.api.me.catalog import visible_groups
from torouter.api.schemas import ApiModel
from torouter.storage.repos.models import PRICE_FIELDS
from torouter.storage.tables import group_models, groups, models

__all__ = ["ModelGroup", "MyModelRead", "public_catalog", "user_models"]


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


async def _catalog(
    conn: AsyncConnection, where: ColumnElement[bool], *, modality: str | None, group_id: int | None
) -> list[MyModelRead]:
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
        .where(where, models.c.enabled)
        .order_by(groups.c.id, group_models.c.position, models.c.id)
    )
    if modality is not None:
        stmt = stmt.where(models.c.modality == modality)
    if group_id is not None:
        stmt = stmt.where(groups.c.id == group_id)
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
    return [MyModelRead.model_validate(i) for i in merged.values()]


async def user_models(
    conn: AsyncConnection,
    user_id: int,
    *,
    modality: str | None = None,
    group_id: int | None = None,
) -> list[MyModelRead]:
    return await _catalog(conn, visible_groups(user_id), modality=modality, group_id=group_id)


async def public_catalog(conn: AsyncConnection) -> list[MyModelRead]:
    """Models of enabled public groups (what anyone can sign up and use)."""
    where = (groups.c.status == "enabled") & (groups.c.visibility == "public")
    return await _catalog(conn, where, modality=None, group_id=None)
