"""Token counting across protocols (SPEC R5.2, R10.7). Pure functions.

Anthropic `count_tokens` is translated to Gemini `countTokens` and back, and Gemini
`countTokens` to Anthropic `count_tokens`; elsewhere the gateway answers with the local
estimate (ceil(text bytes / 4) + 1,600 per image, R7.9) and `x-torouter-estimated: true`.
"""

from __future__ import annotations

from typing import Any

from torouter.protocols import anthropic, gemini, shapes
from torouter.protocols.common import estimate_request_tokens
from torouter.protocols.internal import Request
from torouter.protocols.shapes import JSON_NUMBER

__all__ = [
    "anthropic_response_from_gemini",
    "anthropic_to_gemini",
    "estimate",
    "gemini_response_from_anthropic",
    "gemini_to_anthropic",
    "parse_anthropic",
    "parse_gemini",
]

_ANTHROPIC_COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")


def parse_anthropic(body: dict[str, Any]) -> Request:
    """An Anthropic count_tokens body (no `max_tokens`) → the internal request."""
    return anthropic.parse_request({"max_tokens": 1, **body})


def parse_gemini(body: dict[str, Any], *, model: str = "") -> Request:
    """A Gemini countTokens body (`contents`, or a whole `generateContentRequest`)."""
    inner = body.get("generateContentRequest") or body.get("generate_content_request")
    if isinstance(inner, dict):
        name = str(inner.get("model") or "").removeprefix("models/")
        return gemini.parse_request(inner, model=model or name)
    return gemini.parse_request(body, model=model)


def anthropic_to_gemini(body: dict[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """Anthropic count_tokens body → Gemini countTokens body (system and tools included)."""
    req = parse_anthropic(body)
    req.max_tokens = None
    inner = gemini.render_request(req, upstream_model=upstream_model)
    inner.pop("generationConfig", None)
    return {"generateContentRequest": {"model": f"models/{upstream_model}", **inner}}


def gemini_to_anthropic(
    body: dict[str, Any], *, upstream_model: str, model: str = ""
) -> dict[str, Any]:
    """Gemini countTokens body → Anthropic count_tokens body."""
    req = parse_gemini(body, model=model)
    full = anthropic.render_request(req, upstream_model=upstream_model)
    return {k: full[k] for k in _ANTHROPIC_COUNT_FIELDS if k in full}


def anthropic_response_from_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """Gemini `{"totalTokens": N}` → Anthropic `{"input_tokens": N}`."""
    shapes.answer(body, {"totalTokens": JSON_NUMBER})  # else a broken upstream (R9.4)
    return {"input_tokens": int(body.get("totalTokens") or 0)}


def gemini_response_from_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic `{"input_tokens": N}` → Gemini `{"totalTokens": N}`."""
    shapes.answer(body, {"input_tokens": JSON_NUMBER})  # else a broken upstream (R9.4)
    return {"totalTokens": int(body.get("input_tokens") or 0)}


def estimate(req: Request) -> int:
    """The local count: ceil(text bytes / 4) + 1,600 tokens per image."""
    return estimate_request_tokens(req)
