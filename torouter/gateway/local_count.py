"""Token counting answered by the gateway (SPEC R10.7): free, flagged as an estimate."""

from __future__ import annotations

import orjson

from torouter.asgi import Send, respond
from torouter.gateway.context import RequestContext
from torouter.protocols import count_tokens

__all__ = ["answer"]

_ESTIMATED = ((b"x-torouter-estimated", b"true"),)  # counted here, not upstream


async def answer(ctx: RequestContext, send: Send) -> None:
    assert ctx.payload is not None
    if ctx.surface == "gemini":
        req = count_tokens.parse_gemini(ctx.payload, model=ctx.model_id)
    else:
        req = count_tokens.parse_anthropic(ctx.payload)
    n = count_tokens.estimate(req)
    body = {"totalTokens": n} if ctx.surface == "gemini" else {"input_tokens": n}
    raw = orjson.dumps(body)
    ctx.status = 200
    ctx.outcome = "success"
    ctx.response_started = True
    await respond(send, 200, raw, ctx.request_id, _ESTIMATED)
