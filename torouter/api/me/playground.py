"""`POST /api/me/playground/chat`: a chat billed to one of my keys (R15.1, R16.1).

The signed-in user picks one of their keys by id; the chat goes through the gateway's own
path as that key (`api/gateway_call.py`), so admission, limits, billing and the usage log are
the gateway's. The answer is the gateway's too: an OpenAI chat completion, streamed as SSE
when `stream` is true, or its error envelope (a disabled key is 401 `API_KEY_DISABLED`…).
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter
from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from torouter.api import key_service as keys
from torouter.api.auth import VerifiedUser
from torouter.api.deps import Deps
from torouter.api.fields import Id
from torouter.api.gateway_call import GatewayRelay, chat_scope
from torouter.api.schemas import ErrorEnvelope, InputModel
from torouter.errors import error

__all__ = ["PlaygroundChat", "chat_body", "router"]

router = APIRouter(tags=["me"])

Text = Annotated[str, StringConstraints(max_length=200_000)]


class ChatMessage(InputModel):
    role: Literal["system", "user", "assistant"]
    content: Text


class PlaygroundTurn(InputModel):
    """One chat turn, whoever pays for it (the console's pasted-key form validates only this)."""

    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    system: Text | None = Field(None, description="A system prompt, sent first")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    stream: bool = True


class PlaygroundChat(PlaygroundTurn):
    key_id: Id = Field(description="One of my keys: the chat is billed to it")


def chat_body(
    *,
    model: str,
    messages: list[dict[str, str]],
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    stream: bool,
) -> bytes:
    """The OpenAI chat completions body of a playground turn."""
    sent = ([{"role": "system", "content": system}] if system else []) + messages
    body: dict[str, object] = {"model": model, "messages": sent, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return orjson.dumps(body)


@router.post(
    "/playground/chat",
    responses={
        200: {
            "description": "The gateway's chat completion (JSON, or SSE with `stream`)",
            "content": {"text/event-stream": {}},
        },
        404: {"model": ErrorEnvelope},
    },
    summary="Chat with one of my keys (the playground)",
    description="Goes through the gateway as the chosen key: admitted, limited and billed "
    "like any request, and answered in the OpenAI chat completions format.",
)
async def playground_chat(
    request: Request, deps: Deps, principal: VerifiedUser, body: PlaygroundChat
) -> Response:
    if deps.gateway is None:
        raise error("E19", "The playground is not available on this server")
    async with deps.db.connect() as conn:
        row = await keys.owned_key(conn, body.key_id, principal)
    payload = chat_body(
        model=body.model,
        messages=[m.model_dump() for m in body.messages],
        system=body.system,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        stream=body.stream,
    )
    scope = chat_scope(
        request.scope,
        body=payload,
        request_id=request.state.request_id,
        key_hash=row["key_hash"],
    )
    return GatewayRelay(deps.gateway, scope, payload)
