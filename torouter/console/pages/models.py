"""`/models`: the catalog of the user's groups with prices, a modality filter, and one
model's detail: limits, prices per group, endpoints, `-thinking` and vendor ids (R15.1).
`/pricing`: the same for the public groups, readable without an account (R15.4), unless
an admin switched it off."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.model_catalog import MyModelRead, public_catalog, user_models
from torouter.console.deps import ConsoleDeps
from torouter.console.guards import public, signed_in
from torouter.console.render import page
from torouter.console.visitor import Visitor

__all__ = ["MODALITIES", "group_price", "routes"]

# SPEC R6.0, in the order the filter shows them.
MODALITIES = ("text", "multimodal", "image", "video", "audio", "embedding", "rerank")
TOKEN_PRICES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
UNIT_PRICES = ("per_request", "per_image", "per_audio_minute", "per_1m_characters")


def group_price(price: str | None, multiplier: str) -> str | None:
    """What a group charges: the model's price × the group's multiplier (R10.4)."""
    if price is None:
        return None
    return format((Decimal(price) * Decimal(multiplier)).normalize(), "f")


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


@signed_in
async def list_models(request: Request, v: Visitor) -> Response:
    modality = request.query_params.get("modality") or None
    if modality not in MODALITIES:
        modality = None
    async with _deps(request).api.db.connect() as conn:
        items = await user_models(conn, v.user_id)
    shown = [m for m in items if modality is None or m.modality == modality]
    return page(
        request,
        v,
        "models/list.html",
        models=shown,
        total=len(items),
        modality=modality,
        modalities=MODALITIES,
    )


@signed_in
async def model_detail(request: Request, v: Visitor) -> Response:
    model_id = request.path_params["model_id"]
    async with _deps(request).api.db.connect() as conn:
        items = await user_models(conn, v.user_id)
    model = next((m for m in items if m.id == model_id), None)
    if model is None:
        return page(request, v, "errors/not_found.html", status=404)
    return page(
        request,
        v,
        "models/detail.html",
        model=model,
        aliases=aliases(model),
        token_prices=TOKEN_PRICES,
        unit_prices=UNIT_PRICES,
        group_price=group_price,
    )


def aliases(model: MyModelRead) -> list[str]:
    """Other ids that reach this model (R6.1): `-thinking`, and `vendor/…` for both."""
    ids = [model.id]
    if model.supports_thinking:
        ids.append(f"{model.id}-thinking")
    return [*ids[1:], *(f"{model.vendor}/{i}" for i in ids)]


@public
async def pricing(request: Request, v: Visitor) -> Response:
    if not v.display.public_pricing:
        return page(request, v, "errors/not_found.html", status=404)
    async with _deps(request).api.db.connect() as conn:
        items = await public_catalog(conn)
    by_group: dict[str, tuple[str, list[MyModelRead]]] = {}
    for m in items:
        for g in m.groups:
            by_group.setdefault(g.name, (g.price_multiplier, []))[1].append(m)
    return page(
        request,
        v,
        "pricing.html",
        groups=by_group,
        group_price=group_price,
    )


routes = [
    Route("/models", list_models, methods=["GET"]),
    Route("/models/{model_id:path}", model_detail, methods=["GET"]),
    Route("/pricing", pricing, methods=["GET"]),
]
