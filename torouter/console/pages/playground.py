"""`/playground`: chat with a model (R15.1): model, system prompt, temperature, max tokens;
billed to one of the user's keys (the session plus the key's id) or to a pasted key.

With JavaScript the reply streams in (`static/console.js` posts to
`/api/me/playground/chat`, or to `/v1/chat/completions` with a pasted key). Without it, this
form posts here and the page comes back with the whole reply. Both take the gateway's own
path in-process (`api/gateway_call.py`), so the chat is admitted, metered and billed as any
request is.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api import key_service
from torouter.api.gateway_call import call_gateway, chat_scope
from torouter.api.me.playground import PlaygroundChat, PlaygroundTurn, chat_body
from torouter.api.middleware import new_request_id
from torouter.api.model_catalog import user_models
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import verified
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import api_keys

__all__ = ["routes"]

FIELDS = ("key_id", "model", "system", "message", "temperature", "max_tokens")


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


async def _choices(deps: ConsoleDeps, v: Visitor) -> tuple[list[Any], list[Any]]:
    c = api_keys.c
    stmt = key_service.key_select().where(
        c.user_id == v.user_id, c.deleted_at.is_(None), c.status == "active"
    )
    async with deps.api.db.connect() as conn:
        keys = list((await conn.execute(stmt.order_by(c.id))).mappings())
        models = [m for m in await user_models(conn, v.user_id) if "chat" in m.endpoints]
    return keys, models


async def _render(
    request: Request,
    v: Visitor,
    *,
    form: dict[str, str],
    status: int = 200,
    errors: FormErrors | None = None,
    reply: str | None = None,
    usage: dict[str, Any] | None = None,
) -> Response:
    keys, models = await _choices(_deps(request), v)
    return page(
        request,
        v,
        "playground.html",
        status=status,
        keys=keys,
        models=models,
        form=form,
        errors=errors or FormErrors(v.t),
        reply=reply,
        usage=usage,
    )


@verified
async def playground(request: Request, v: Visitor) -> Response:
    return await _render(request, v, form={"temperature": "1", "max_tokens": "1024"})


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@verified
async def send(request: Request, v: Visitor) -> Response:
    """The no-JavaScript turn: one message, the whole reply on the page that comes back."""
    deps = _deps(request)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    pasted = _blank(form.get("api_key"))
    key_id = _blank(form.get("key_id"))
    if pasted is None and key_id is None:
        errors.add("key_id", v.t("playground.need_key"))
    if not form.get("message", "").strip():
        errors.add("message", v.t("errors.field.missing"))
    key_hash = None
    try:
        turn = {
            "model": form.get("model", ""),
            "messages": [{"role": "user", "content": form.get("message", "")}],
            "system": _blank(form.get("system")),
            "temperature": _blank(form.get("temperature")),
            "max_tokens": _blank(form.get("max_tokens")),
            "stream": False,
        }
        # A pasted key pays for itself: only the turn is validated; else the chosen key too.
        body: PlaygroundTurn = (
            PlaygroundTurn.model_validate(turn)
            if pasted is not None or key_id is None
            else PlaygroundChat.model_validate({**turn, "key_id": key_id})
        )
        if isinstance(body, PlaygroundChat) and not errors:
            async with deps.api.db.connect() as conn:
                row = await key_service.owned_key(conn, body.key_id, v.principal)
            key_hash = row["key_hash"]
    except ValidationError as exc:
        errors.from_validation(exc, FIELDS)
    except GatewayError as exc:
        errors.from_error(exc, FIELDS)
    if errors:
        return await _render(request, v, form=form, status=400, errors=errors)
    payload = chat_body(
        model=body.model,
        messages=[m.model_dump() for m in body.messages],
        system=body.system,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        stream=False,
    )
    scope = chat_scope(
        request.scope,
        body=payload,
        request_id=new_request_id(),
        key_hash=key_hash,
        api_key=pasted,
    )
    gateway = deps.api.gateway
    if gateway is None:  # a server built without the gateway (the API's playground: E19)
        errors.add(None, v.t("playground.unavailable"))
        return await _render(request, v, form=form, status=503, errors=errors)
    answer = await call_gateway(gateway, scope, payload)
    doc = _json(bytes(answer.body))
    if answer.status != 200:
        err = doc.get("error")
        message = err.get("message") if isinstance(err, dict) else None
        errors.add(None, str(message or v.t("playground.failed")))
        return await _render(request, v, form=form, status=answer.status, errors=errors)
    choices = doc.get("choices") or [{}]
    reply = str((choices[0].get("message") or {}).get("content") or "")
    return await _render(request, v, form=form, reply=reply, usage=doc.get("usage"))


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


routes = [
    Route("/playground", playground, methods=["GET"]),
    Route("/playground", send, methods=["POST"]),
]
