"""Errors of the management API, in the OpenAI envelope (R16.3, R8.3, R8.4).

Every failure becomes a `GatewayError` of `torouter.errors` and is rendered here: raised ones
as they are, validation errors as E16 naming the field (`param`) — or 404 for a path id
that cannot exist —, framework HTTP errors by status, and anything unexpected as E20 without
its text (R8.5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from torouter.accounts.messages import translate
from torouter.errors import GatewayError, error
from torouter.platforms.names import FrontDoor
from torouter.protocols.envelopes import pick_language, render_error

__all__ = ["error_response", "field_path", "install_error_handlers", "render"]

# Framework statuses → this API's codes; 405 is "unknown path or method" (E19) like the gateway.
_BY_STATUS = {
    400: "E16",
    401: "AUTH_REQUIRED",
    403: "FORBIDDEN",
    404: "E19",
    405: "E19",
    409: "CONFLICT",
    413: "E17",
    422: "E16",
}


def render(
    err: GatewayError, accept_language: str | None, default_language: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    lang = pick_language(accept_language, default_language)
    if err.message is not None and lang.startswith("zh"):
        err = dataclasses.replace(err, message=_translated(err.message, lang))
    return render_error(err, FrontDoor.OPENAI, lang=lang)


def _translated(message: str, lang: str) -> str:
    """A known message in `lang`, also behind a `param: ` prefix (validation errors)."""
    direct = translate(message, lang)
    if direct != message:
        return direct
    head, sep, tail = message.partition(": ")
    return f"{head}{sep}{translate(tail, lang)}" if sep else message


def error_response(request: Request, err: GatewayError) -> Response:
    default = request.app.state.deps.settings.default_language
    status, headers, body = render(err, request.headers.get("accept-language"), default)
    response = Response(body, status_code=status, media_type="application/json")
    response.raw_headers.extend(headers)
    return response


def field_path(loc: Sequence[int | str]) -> str | None:
    """`("body", "limits", "ips", 0)` → `limits.ips[0]`; None for the body as a whole."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _validation_error(exc: RequestValidationError) -> GatewayError:
    errors: Sequence[Any] = exc.errors()
    if not errors:
        return error("E16")
    first = errors[0]
    loc = first.get("loc", ())
    if loc and loc[0] == "path":
        # An id that cannot exist (not a number, out of range) names nothing: 404, the very
        # answer of an id that does not exist.
        return error("E19")
    if first.get("type") == "json_invalid":
        return error("E16", "Malformed JSON body")
    param = field_path(loc)
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "missing" and param is None:
        msg = "A JSON body is required"
    return error("E16", f"{param}: {msg}" if param else msg, param=param)


async def _on_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(request, exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, _validation_error(exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    key = _BY_STATUS.get(exc.status_code, "E20" if exc.status_code >= 500 else "E16")
    return error_response(request, error(key))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
