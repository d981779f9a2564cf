"""Upstream usage blocks → normalised `Usage` (SPEC R10.2). Pure functions."""

from __future__ import annotations

from typing import Any

from torouter.protocols.internal import Usage

__all__ = ["from_anthropic", "from_gemini", "from_openai"]


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def from_openai(u: dict[str, Any], *, openrouter: bool = False) -> Usage:
    """OpenAI chat / Responses, OpenRouter, DeepSeek- and xAI-style blocks."""
    prompt = _int(u.get("prompt_tokens", u.get("input_tokens")))
    completion = _int(u.get("completion_tokens", u.get("output_tokens")))
    pdetails = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    cdetails = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    if "cached_tokens" in pdetails and pdetails["cached_tokens"] is not None:
        cached = _int(pdetails.get("cached_tokens"))
    else:
        cached = _int(u.get("prompt_cache_hit_tokens"))  # DeepSeek
    cache_write = _int(pdetails.get("cache_write_tokens")) if openrouter else 0
    total = u.get("total_tokens")
    if isinstance(total, int) and total:
        # Some providers (xAI, OpenRouter) report reasoning outside completion_tokens.
        completion = max(completion, total - prompt)
    return Usage(
        input=max(prompt - cached - cache_write, 0),
        cache_read=cached,
        cache_write_5m=cache_write,
        output=completion,
        reasoning=_int(cdetails.get("reasoning_tokens")),
    )


def from_anthropic(u: dict[str, Any]) -> Usage:
    creation = u.get("cache_creation") or {}
    w5 = _int(creation.get("ephemeral_5m_input_tokens"))
    w1 = _int(creation.get("ephemeral_1h_input_tokens"))
    if not creation:
        w5 = _int(u.get("cache_creation_input_tokens"))
    return Usage(
        input=_int(u.get("input_tokens")),
        cache_read=_int(u.get("cache_read_input_tokens")),
        cache_write_5m=w5,
        cache_write_1h=w1,
        output=_int(u.get("output_tokens")),
    )


def from_gemini(u: dict[str, Any]) -> Usage:
    cached = _int(u.get("cachedContentTokenCount"))
    thoughts = _int(u.get("thoughtsTokenCount"))
    return Usage(
        input=max(
            _int(u.get("promptTokenCount")) - cached + _int(u.get("toolUsePromptTokenCount")), 0
        ),
        cache_read=cached,
        output=_int(u.get("candidatesTokenCount")) + thoughts,
        reasoning=thoughts,
    )
