"""Token counting answered by the gateway (SPEC R10.7): free, flagged as an estimate."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from torouter.gateway.context import RequestContext

__all__ = ["answer", "estimate_tokens"]

Send = Callable[[dict[str, Any]], Awaitable[None]]

_IMAGE_TOKENS = 1600


def _walk(node: Any) -> tuple[int, int]:
    """(text bytes, image parts) of a request body; base64 image data is not counted (R7.9)."""
    text, images = 0, 0
    if isinstance(node, str):
        return len(node.encode()), 0
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("image", "image_url", "input_image") or "inlineData" in node:
            return 0, 1
        for k, v in node.items():
            if k in ("model", "type", "role", "cache_control"):
                continue
            t, i = _walk(v)
            text, images = text + t, images + i
    elif isinstance(node, list):
        for v in node:
            t, i = _walk(v)
            text, images = text + t, images + i
    return text, images


def estimate_tokens(payload: dict[str, Any]) -> int:
    text, images = _walk(payload)
    return math.ceil(text / 4) + images * _IMAGE_TOKENS


async def answer(ctx: RequestContext, send: Send) -> None:
    assert ctx.payload is not None
    n = estimate_tokens(ctx.payload)
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
