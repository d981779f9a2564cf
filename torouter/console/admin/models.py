"""`/admin/models`: model records (R6.0) and their prices (R10.3).

An edit goes through `/api/admin/models`' handler, which updates the gateway's snapshot before
it returns: the very next request is billed at the new price. Prices are exact decimals typed
as text, so nothing is rounded; an empty price is unset (cache prices then follow `input`).
Models priced all 0 are flagged in the list; a managed model (R17.10) is read-only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import models as api
from torouter.api.admin.models import ModelCreate, ModelUpdate
from torouter.api.catalog_reads import ModelRead
from torouter.console.admin.common import (
    attempt,
    confirm_delete_page,
    deps,
    page_params,
    query_choice,
)
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError, error
from torouter.storage.repos.models import ENDPOINTS, MODALITIES, PRICE_FIELDS

__all__ = ["routes"]

NUMBERS = ("context_length", "max_output_tokens", "sort_order")
TEXTS = ("display_name", "vendor", "owned_by")
FIELDS = (
    "id",
    *TEXTS,
    "modality",
    "endpoints",
    *NUMBERS,
    "supports_thinking",
    "thinking_defaults",
    "enabled",
    *(f"prices.{p}" for p in PRICE_FIELDS),
)


def model_url(model_id: str) -> str:
    return "/admin/models/" + quote(model_id, safe="/")


def _body(form: dict[str, str], *, create: bool) -> dict[str, Any]:
    """Form text → the JSON API's body. Blank numbers and names are unset (null)."""
    out: dict[str, Any] = {
        "modality": form.get("modality", ""),
        "endpoints": [e for e in ENDPOINTS if form.get(f"endpoint_{e}") == "on"],
        "supports_thinking": form.get("supports_thinking") == "on",
        "enabled": form.get("enabled") == "on",
        "prices": {p: form.get(f"prices.{p}", "").strip() or None for p in PRICE_FIELDS},
    }
    for name in TEXTS:
        out[name] = form.get(name, "").strip() or None
    if out["vendor"] is None:
        out["vendor"] = "openai"
    for name in NUMBERS:
        out[name] = form.get(name, "").strip() or None
    if out["sort_order"] is None:
        out["sort_order"] = 0
    raw = form.get("thinking_defaults", "").strip()
    try:
        defaults = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise error("E16", "thinking_defaults: not JSON", param="thinking_defaults") from None
    if not isinstance(defaults, dict):
        raise error("E16", "thinking_defaults: not a JSON object", param="thinking_defaults")
    out["thinking_defaults"] = defaults
    if create:
        out["id"] = form.get("id", "").strip()
    return out


def _form_of(m: ModelRead) -> dict[str, str]:
    out: dict[str, str] = {
        "id": m.id,
        "display_name": m.display_name or "",
        "vendor": m.vendor,
        "owned_by": m.owned_by or "",
        "modality": m.modality,
        "context_length": "" if m.context_length is None else str(m.context_length),
        "max_output_tokens": "" if m.max_output_tokens is None else str(m.max_output_tokens),
        "sort_order": str(m.sort_order),
        "supports_thinking": "on" if m.supports_thinking else "",
        "enabled": "on" if m.enabled else "",
        "thinking_defaults": orjson.dumps(m.thinking_defaults).decode()
        if m.thinking_defaults
        else "",
    }
    for e in m.endpoints:
        out[f"endpoint_{e}"] = "on"
    for p in PRICE_FIELDS:
        out[f"prices.{p}"] = getattr(m.prices, p) or ""
    return out


def _status(errors: FormErrors) -> int:
    return 409 if errors.general and not errors.fields else 400


def _form_page(
    request: Request,
    v: Visitor,
    *,
    model: ModelRead | None,
    form: dict[str, str],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    return page(
        request,
        v,
        "admin/models/form.html",
        status=status,
        model=model,
        form=form,
        errors=errors,
        modalities=MODALITIES,
        endpoints=ENDPOINTS,
        price_fields=PRICE_FIELDS,
        model_url=model_url,
    )


async def _model(request: Request) -> ModelRead | None:
    model_id = str(request.path_params.get("model_id", ""))
    if not model_id or len(model_id) > 200:
        return None
    try:
        return await api.get_model(deps(request).api, model_id)
    except GatewayError:
        return None


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


@admin
async def list_models(request: Request, v: Visitor) -> Response:
    modality = query_choice(request, "modality", MODALITIES)
    found = await api.list_models(
        deps(request).api, page_params(request, 50), modality=modality, vendor=None, enabled=None
    )
    return page(
        request,
        v,
        "admin/models/list.html",
        models=found,
        modalities=MODALITIES,
        modality=modality or "",
        model_url=model_url,
    )


@admin
async def new_model(request: Request, v: Visitor) -> Response:
    form = {"vendor": "openai", "modality": "text", "enabled": "on", "sort_order": "0"}
    form |= {f"endpoint_{e}": "on" for e in ("chat", "responses", "messages", "generate")}
    return _form_page(request, v, model=None, form=form, errors=FormErrors(v.t))


@admin
async def create_model(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api

    async def create() -> ModelRead:
        body = ModelCreate.model_validate(_body(form, create=True))
        return await api.create_model(a, v.principal, body)

    created = await attempt(errors, FIELDS, create)
    if created is None:
        return _form_page(request, v, model=None, form=form, errors=errors, status=_status(errors))
    return redirect(model_url(created.id), notice="model_created")


@admin
async def edit_model(request: Request, v: Visitor) -> Response:
    model = await _model(request)
    if model is None:
        return _not_found(request, v)
    return _form_page(request, v, model=model, form=_form_of(model), errors=FormErrors(v.t))


@admin
async def update_model(request: Request, v: Visitor) -> Response:
    model = await _model(request)
    if model is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api

    async def save() -> ModelRead:
        body = ModelUpdate.model_validate(_body(form, create=False))
        return await api.patch_model(a, v.principal, model.id, body)

    if await attempt(errors, FIELDS, save) is None:
        return _form_page(
            request,
            v,
            model=model,
            form=form | {"id": model.id},
            errors=errors,
            status=_status(errors),
        )
    return redirect(model_url(model.id), notice="model_saved")


def _confirm(request: Request, v: Visitor, model: ModelRead, errors: FormErrors) -> Response:
    return confirm_delete_page(
        request, v, kind="model", name=model.id, url=model_url(model.id), errors=errors
    )


@admin
async def confirm_delete(request: Request, v: Visitor) -> Response:
    model = await _model(request)
    if model is None:
        return _not_found(request, v)
    return _confirm(request, v, model, FormErrors(v.t))


@admin
async def delete_model(request: Request, v: Visitor) -> Response:
    model = await _model(request)
    if model is None:
        return _not_found(request, v)
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    if await attempt(errors, (), lambda: api.delete_model(a, v.principal, model.id)) is None:
        return _confirm(request, v, model, errors)
    return redirect("/admin/models", notice="model_deleted")


# `new` and `…/delete` first: a model id may contain slashes (`{model_id:path}`).
routes = [
    Route("/admin/models", list_models, methods=["GET"]),
    Route("/admin/models", create_model, methods=["POST"]),
    Route("/admin/models/new", new_model, methods=["GET"]),
    Route("/admin/models/{model_id:path}/delete", confirm_delete, methods=["GET"]),
    Route("/admin/models/{model_id:path}/delete", delete_model, methods=["POST"]),
    Route("/admin/models/{model_id:path}", edit_model, methods=["GET"]),
    Route("/admin/models/{model_id:path}", update_model, methods=["POST"]),
]
