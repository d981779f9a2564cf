"""Which platforms serve which front-door operation, and how (SPEC R5.2, R9.2). Pure.

N native pass-through, T translated, L answered locally.
"""

from __future__ import annotations

from collections.abc import Iterable

from torouter.snapshot import ChannelRec, ModelRec

__all__ = ["FRONT_PROTOCOL", "MODEL_ENDPOINT", "NATIVE", "eligible", "mode", "wants_local"]

NATIVE, TRANSLATED, LOCAL = "N", "T", "L"
_OAI = ("openai", "openrouter", "openai-compatible")

MATRIX: dict[str, dict[str, str]] = {
    "chat": {
        "openai": "N",
        "openrouter": "N",
        "openai-compatible": "N",
        "anthropic": "T",
        "gemini": "T",
        "azure-openai": "N",
    },
    "messages": {
        "anthropic": "N",
        "openai": "T",
        "openrouter": "T",
        "openai-compatible": "T",
        "gemini": "T",
        "azure-openai": "T",
    },
    "count_tokens": {
        "anthropic": "N",
        "gemini": "T",
        "openai": "L",
        "openrouter": "L",
        "openai-compatible": "L",
        "azure-openai": "L",
    },
    "generate": {
        "gemini": "N",
        "anthropic": "T",
        "openai": "T",
        "openrouter": "T",
        "openai-compatible": "T",
        "azure-openai": "T",
    },
    "gemini_count_tokens": {
        "gemini": "N",
        "anthropic": "T",
        "openai": "L",
        "openrouter": "L",
        "openai-compatible": "L",
        "azure-openai": "L",
    },
}

# The front door's own wire protocol, and the name of the operation in a model's `endpoints`.
FRONT_PROTOCOL = {
    "chat": "openai",
    "messages": "anthropic",
    "count_tokens": "anthropic",
    "generate": "gemini",
    "gemini_count_tokens": "gemini",
}
MODEL_ENDPOINT = {
    "chat": "chat",
    "messages": "messages",
    "count_tokens": "messages",
    "generate": "generate",
    "gemini_count_tokens": "generate",
}
# The platform whose wire format each protocol is natively.
_NATIVE_WIRE = {
    "openai": frozenset(_OAI) | {"azure-openai"},
    "anthropic": frozenset({"anthropic"}),
    "gemini": frozenset({"gemini"}),
}


def mode(operation: str, platform: str) -> str | None:
    return MATRIX.get(operation, {}).get(platform)


def is_native(operation: str, platform: str) -> bool:
    return mode(operation, platform) == NATIVE


def eligible(channels: Iterable[ChannelRec], operation: str, model: ModelRec) -> list[ChannelRec]:
    """Channels able to serve the operation (N or T): R5.2 ∩ model and channel endpoints."""
    endpoint = MODEL_ENDPOINT.get(operation, operation)
    if model.endpoints and endpoint not in model.endpoints:
        return []
    out = []
    for ch in channels:
        if mode(operation, ch.platform) not in (NATIVE, TRANSLATED):
            continue
        if ch.endpoints is not None and endpoint not in ch.endpoints:
            continue
        out.append(ch)
    return out


def wants_local(channels: Iterable[ChannelRec], operation: str) -> bool:
    """Token counting answered by the gateway (R10.7) when only `L` platforms serve the model."""
    return any(mode(operation, ch.platform) == LOCAL for ch in channels)
