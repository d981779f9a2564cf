"""Token counting answered by the gateway (SPEC R10.7): free, flagged as an estimate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from torouter.gateway.context import RequestContext
from torouter.protocols import count_tokens

__all__ = ["answer"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


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
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                (b"x-request-id", ctx.request_id.encode()),
                (b"x-torouter-estimated", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
