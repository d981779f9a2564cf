"""`GET /api/me/models`: the catalog of the signed-in user's groups, with prices (R15.1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from torouter.api.auth import SessionUser
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.model_catalog import ModelGroup, MyModelRead, user_models
from torouter.api.pagination import Page, Paging

__all__ = ["ModelGroup", "MyModelRead", "router"]

router = APIRouter(tags=["me"])


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
    async with deps.db.connect() as conn:
        items = await user_models(conn, principal.user_id, modality=modality, group_id=group_id)
    window = items[paging.offset : paging.offset + paging.page_size]
    return Page[MyModelRead](
        data=window, page=paging.page, page_size=paging.page_size, total=len(items)
    )
