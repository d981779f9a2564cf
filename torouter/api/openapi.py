"""The published OpenAPI document (R16.5: it is the contract for bodies).

FastAPI's generator describes validation failures as 422 with its own body; this API answers
them as 400 in the error envelope (R16.3), so the document is rewritten to say that: every
operation lists 400 (when it takes input), 404 (when its path names a resource), 413 (when it
takes a body) and its other error statuses with `ErrorEnvelope`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from torouter.api.schemas import ErrorEnvelope

__all__ = ["build_openapi", "install_openapi"]

_ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
_DESCRIPTIONS = {
    "400": "Invalid request (`INVALID_REQUEST`, `param` names the field)",
    "401": "Authentication required (`AUTH_REQUIRED`)",
    "403": "Forbidden (`FORBIDDEN`)",
    "404": "Not found (`NOT_FOUND`)",
    "409": "Conflict (`CONFLICT`)",
    "413": "Body over 1 MiB (`REQUEST_TOO_LARGE`)",
    "429": "Too many requests (`Retry-After` says when to try again)",
}
_DEFAULT_DESCRIPTIONS = frozenset({"Additional Response", "Validation Error"})


def _error_response(status: str, declared: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope, or the model a route declared for this status (kept with its own
    description, e.g. login's 401 carrying a `login_ticket`)."""
    declared = declared or {}
    description = declared.get("description")
    if not description or description in _DEFAULT_DESCRIPTIONS:
        description = _DESCRIPTIONS.get(status, "Error")
    schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if not schema or schema.get("$ref", "").endswith("/HTTPValidationError"):
        schema = _ENVELOPE_REF
    elif schema != _ENVELOPE_REF:
        # A richer body for one case of the status (login's `TOTP_REQUIRED` with its ticket):
        # the other cases of that status still answer the plain envelope.
        schema = {"anyOf": [schema, _ENVELOPE_REF]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for sub_name, sub in schemas["ErrorEnvelope"].pop("$defs", {}).items():
        schemas.setdefault(sub_name, sub)
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = _error_response("400")
            params = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in params):
                # A path id that names nothing, whatever its value, is 404 (errors.py).
                responses.setdefault("404", _error_response("404"))
            if "requestBody" in operation:
                responses.setdefault("413", _error_response("413"))
            for status in list(responses):
                if status[0] in "45":
                    responses[status] = _error_response(status, responses[status])
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi` (computed once) as `app.openapi()`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
