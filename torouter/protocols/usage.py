"""Upstream usage blocks → normalised `Usage` (SPEC R10.2). Pure functions.

Counts of the wrong type read as 0, as they always did; a detail block that is not an object
raises `UpstreamShapeError` (a `ValueError`): the upstream is broken, and the relay fails it over
rather than guess what it meant (R9.4)."""

from __future__ import annotations

from typing import Any

from torouter.protocols.internal import Usage
from torouter.protocols.shapes import Shape, UpstreamShapeError

__all__ = ["OPENAI_USAGE_SHAPE", "from_anthropic", "from_gemini", "from_openai", "merge_anthropic"]

# The blocks `from_openai` reads as objects (R9.4: any other type is a broken upstream).
OPENAI_USAGE_SHAPE: dict[str, Shape] = {
    key: dict
    for key in (
        "prompt_tokens_details",
        "input_tokens_details",
        "completion_tokens_details",
        "output_tokens_details",
    )
}


def _int(v: Any) -> int:
    if type(v) is int:  # what JSON gives nearly always: no isinstance pair
        return v
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def from_openai(u: dict[str, Any]) -> Usage:
    """OpenAI chat / Responses, OpenRouter, DeepSeek- and xAI-style blocks.

    Cache writes (OpenRouter's `cache_write_tokens`) count wherever an upstream reports them, so
    the native relay and the translating decoder charge the same bytes alike on every channel.
    """
    # Subscripts after `in` and integers taken as they are: this runs on every metered answer.
    prompt = u["prompt_tokens"] if "prompt_tokens" in u else u.get("input_tokens")
    if type(prompt) is not int:
        prompt = _int(prompt)
    completion = u["completion_tokens"] if "completion_tokens" in u else u.get("output_tokens")
    if type(completion) is not int:
        completion = _int(completion)
    pdetails = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    cdetails = u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    if type(pdetails) is not dict or type(cdetails) is not dict:
        if not isinstance(pdetails, dict) or not isinstance(cdetails, dict):
            raise UpstreamShapeError("$.usage", "token details as objects", [pdetails, cdetails])
    cached = pdetails.get("cached_tokens")
    if cached is None:
        cached = u.get("prompt_cache_hit_tokens")  # DeepSeek
    cached = cached if type(cached) is int else _int(cached)
    cache_write = pdetails.get("cache_write_tokens")
    cache_write = cache_write if type(cache_write) is int else _int(cache_write)
    reasoning = cdetails.get("reasoning_tokens")
    total = u.get("total_tokens")
    if isinstance(total, int) and total:
        # Some providers (xAI, OpenRouter) report reasoning outside completion_tokens.
        completion = max(completion, total - prompt)
    return Usage(
        input=max(prompt - cached - cache_write, 0),
        cache_read=cached,
        cache_write_5m=cache_write,
        output=completion,
        reasoning=reasoning if type(reasoning) is int else _int(reasoning),
    )


def from_anthropic(u: dict[str, Any]) -> Usage:
    creation = u.get("cache_creation") or {}
    if not isinstance(creation, dict):
        raise UpstreamShapeError("$.usage.cache_creation", "an object", creation)
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


def merge_anthropic(base: Usage | None, u: dict[str, Any]) -> Usage:
    """An Anthropic stream's usage after one more usage block (R10.2): each count the later
    block reports wins over the earlier one, so `message_delta` settles what `message_start`
    announced. Null or missing fields keep the earlier value.

    `message_delta` reports cache writes as a total (`cache_creation_input_tokens`) without the
    5m/1h breakdown that `message_start` had. A total equal to the breakdown's keeps it; a new
    total keeps the earlier 1h part up to the total and counts the rest as 5m, the TTL of writes
    reported without a breakdown. Both the native relay and the translating decoder meter with
    this one function, so the same upstream bytes are charged the same on every route.
    """
    b = base or Usage()

    def count(key: str, earlier: int) -> int:
        v = u.get(key)
        return _int(v) if v is not None else earlier

    creation = u.get("cache_creation")
    if isinstance(creation, dict) and any(v is not None for v in creation.values()):
        w5 = _int(creation.get("ephemeral_5m_input_tokens"))
        w1 = _int(creation.get("ephemeral_1h_input_tokens"))
    elif u.get("cache_creation_input_tokens") is not None:
        total = _int(u["cache_creation_input_tokens"])
        if b.cache_write_5m + b.cache_write_1h == total:
            w5, w1 = b.cache_write_5m, b.cache_write_1h
        else:
            w1 = min(b.cache_write_1h, total)
            w5 = total - w1
    else:
        w5, w1 = b.cache_write_5m, b.cache_write_1h
    return Usage(
        input=count("input_tokens", b.input),
        cache_read=count("cache_read_input_tokens", b.cache_read),
        cache_write_5m=w5,
        cache_write_1h=w1,
        output=count("output_tokens", b.output),
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
