"""`/api/admin/models`: model records (R6.0) and their prices (R10.3).

Prices are exact decimals (USD per 1M tokens for input, output and the cache prices; per
unit for the rest), sent as strings (preferred) or numbers and stored as text, so nothing
is rounded. An unset price is 0, except the cache prices, derived from `input`; the list
flags models whose prices are all 0. Records declared in the config file are read-only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.catalog_reads import ModelRead
from torouter.api.changes import publish
from torouter.api.deps import Deps
from torouter.api.fields import DecimalIn, JsonObject, blank_to_none, sent_values
from torouter.api.pagination import Page, Paging, fetch_page
from torouter.api.schemas import ErrorEnvelope, InputModel, Responses
from torouter.errors import error
from torouter.provisioning.entries import DEFAULT_ENDPOINTS, Endpoint, Modality
from torouter.storage.repos import models as repo
from torouter.storage.tables import models

__all__ = ["ModelCreate", "ModelUpdate", "PricesIn", "router"]

router = APIRouter(tags=["models"])
_ONE: Responses = {404: {"model": ErrorEnvelope}, 409: {"model": ErrorEnvelope}}

ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s,]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Vendor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Price = Annotated[DecimalIn | None, BeforeValidator(blank_to_none)]
Positive = Annotated[int, Field(gt=0, le=2**31 - 1)]
SortOrder = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]  # an INTEGER column
UnixSeconds = Annotated[int, Field(ge=0, le=2**53)]  # a BIGINT column, exact in JSON


class PricesIn(InputModel):
    """Exact decimals ≥ 0; null (or "") unsets a price."""

    input: Price = None
    output: Price = None
    cache_read: Price = Field(None, description="Default: input")
    cache_write_5m: Price = Field(None, description="Default: 1.25 × input")
    cache_write_1h: Price = Field(None, description="Default: 2 × input")
    per_request: Price = None
    per_image: Price = None
    per_audio_minute: Price = None
    per_1m_characters: Price = None


class ModelCreate(InputModel):
    id: ModelId = Field(description="The public id clients send in `model`")
    display_name: Text | None = None
    vendor: Vendor = "openai"
    modality: Modality = "text"
    endpoints: list[Endpoint] | None = Field(
        None, description="The operations it serves; null: what its modality usually serves"
    )
    context_length: Positive | None = None
    max_output_tokens: Positive | None = None
    supports_thinking: bool = False
    thinking_defaults: JsonObject = Field(default_factory=dict)
    prices: PricesIn = Field(default_factory=PricesIn)
    owned_by: Text | None = None
    created: UnixSeconds | None = Field(None, description="Unix seconds")
    enabled: bool = True
    sort_order: SortOrder = 0


class ModelUpdate(InputModel):
    """Only the fields sent change; in `prices`, only the prices sent (null unsets one)."""

    display_name: Text | None = None
    vendor: Vendor | None = None
    modality: Modality | None = None
    endpoints: list[Endpoint] | None = None
    context_length: Positive | None = None
    max_output_tokens: Positive | None = None
    supports_thinking: bool | None = None
    thinking_defaults: JsonObject | None = None
    prices: PricesIn | None = None
    owned_by: Text | None = None
    created: UnixSeconds | None = None
    enabled: bool | None = None
    sort_order: SortOrder | None = None


_NULLABLE = frozenset({"display_name", "context_length", "max_output_tokens", "owned_by"})


def _prices_sent(prices: PricesIn) -> dict[str, Decimal | None]:
    return {f"price_{name}": getattr(prices, name) for name in prices.model_fields_set}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in values.items()}


async def _model_or_404(conn: AsyncConnection, model_id: str) -> RowMapping:
    row = await repo.get_model(conn, model_id=model_id)
    if row is None:
        raise error("E19", "Model not found")
    return row


def _writable(row: RowMapping) -> None:
    if row["managed"]:
        raise error("CONFLICT", "This model is declared in the config file and is read-only")


@router.get("/models", response_model=Page[ModelRead], summary="List models and prices")
async def list_models(
    deps: Deps,
    paging: Paging,
    modality: Annotated[str | None, Query(max_length=12)] = None,
    vendor: Annotated[str | None, Query(max_length=50)] = None,
    enabled: bool | None = None,
) -> Page[ModelRead]:
    stmt = select(models).order_by(models.c.sort_order, models.c.id)
    for column, value in (("modality", modality), ("vendor", vendor), ("enabled", enabled)):
        if value is not None:
            stmt = stmt.where(models.c[column] == value)
    async with deps.db.connect() as conn:
        return await fetch_page(conn, stmt, paging, ModelRead.build)


@router.post(
    "/models",
    status_code=201,
    response_model=ModelRead,
    responses={409: {"model": ErrorEnvelope}},
    summary="Create a model record",
)
async def create_model(deps: Deps, principal: Admin, body: ModelCreate) -> ModelRead:
    endpoints = body.endpoints if body.endpoints is not None else DEFAULT_ENDPOINTS[body.modality]
    async with deps.db.begin() as conn:
        if await repo.get_model(conn, model_id=body.id) is not None:
            raise error("CONFLICT", f"A model {body.id!r} already exists")
        await repo.create_model(
            conn,
            model_id=body.id,
            vendor=body.vendor,
            display_name=body.display_name,
            modality=body.modality,
            endpoints=endpoints,
            context_length=body.context_length,
            max_output_tokens=body.max_output_tokens,
            supports_thinking=body.supports_thinking,
            thinking_defaults=body.thinking_defaults,
            prices={name: getattr(body.prices, name) for name in repo.PRICE_FIELDS},
            owned_by=body.owned_by,
            enabled=body.enabled,
            sort_order=body.sort_order,
        )
        if body.created is not None:
            await repo.update_model(conn, model_id=body.id, values={"created": body.created})
        await record_audit(
            conn, actor=principal.actor, action="model.create", target=f"model:{body.id}"
        )
        row = await _model_or_404(conn, body.id)
    await publish(deps)
    return ModelRead.build(row)


@router.get(
    "/models/{model_id:path}",
    response_model=ModelRead,
    responses={404: {"model": ErrorEnvelope}},
    summary="Get a model record",
)
async def get_model(deps: Deps, model_id: str) -> ModelRead:
    async with deps.db.connect() as conn:
        return ModelRead.build(await _model_or_404(conn, model_id))


@router.patch(
    "/models/{model_id:path}",
    response_model=ModelRead,
    responses=_ONE,
    summary="Edit a model record or its prices",
)
async def patch_model(deps: Deps, principal: Admin, model_id: str, body: ModelUpdate) -> ModelRead:
    values = sent_values(body, nullable=_NULLABLE)
    prices = values.pop("prices", None)
    if prices is not None:
        values.update(_prices_sent(prices))
    async with deps.db.begin() as conn:
        _writable(await _model_or_404(conn, model_id))
        await repo.update_model(conn, model_id=model_id, values=values)
        await record_audit(
            conn,
            actor=principal.actor,
            action="model.update",
            target=f"model:{model_id}",
            detail=_jsonable(values),
        )
        row = await _model_or_404(conn, model_id)
    await publish(deps)
    return ModelRead.build(row)


@router.delete(
    "/models/{model_id:path}",
    status_code=204,
    response_class=Response,
    responses=_ONE,
    summary="Delete a model record",
    description="It also leaves every group catalog that listed it.",
)
async def delete_model(deps: Deps, principal: Admin, model_id: str) -> Response:
    async with deps.db.begin() as conn:
        _writable(await _model_or_404(conn, model_id))
        group_ids = await repo.model_groups(conn, model_id=model_id)
        await repo.delete_model(conn, model_id=model_id)
        await record_audit(
            conn,
            actor=principal.actor,
            action="model.delete",
            target=f"model:{model_id}",
            detail={"removed_from_groups": group_ids},
        )
    await publish(deps)
    return Response(status_code=204)
