"""Which platforms serve which front-door operation, and how (SPEC R5.2, R9.2). Pure.

N native pass-through, T translated, L answered locally.
"""

from __future__ import annotations

from collections.abc import Iterable

from torouter.records import ChannelRec, ModelRec

__all__ = [
    "FRONT_PROTOCOL",
    "MODEL_ENDPOINT",
    "NATIVE",
    "channel_mode",
    "eligible",
    "mode",
    "serves_previous_response",
    "wants_local",
]

NATIVE, TRANSLATED, LOCAL = "N", "T", "L"
_OAI = ("openai", "openrouter", "openai-compatible")
# Images and audio (R5.2): native on openai and openai-compatible (and Azure deployments).
_MEDIA = {"openai": "N", "openai-compatible": "N", "azure-openai": "N"}

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
    # Responses: native on openai, translated through chat completions elsewhere; an
    # openai-compatible channel with the `responses_native` option is native too.
    "responses": {
        "openai": "N",
        "anthropic": "T",
        "gemini": "T",
        "openrouter": "T",
        "openai-compatible": "T",
        "azure-openai": "T",
    },
    "embeddings": {
        "openai": "N",
        "openrouter": "N",
        "openai-compatible": "N",
        "azure-openai": "N",
        "gemini": "T",
    },
    "images": _MEDIA,
    "image_edits": _MEDIA,
    "audio_transcription": _MEDIA,
    "audio_speech": _MEDIA,
    "rerank": {"openai-compatible": "N"},
    # Legacy completions and moderations: native only (ToRouter extension).
    "completions": {"openai": "N", "openai-compatible": "N"},
    "moderations": {"openai": "N", "openai-compatible": "N"},
    # Gemini embedContent / batchEmbedContents: translated to /v1/embeddings on OpenAI wire.
    "embed_content": {
        "gemini": "N",
        "openai": "T",
        "openrouter": "T",
        "openai-compatible": "T",
        "azure-openai": "T",
    },
}
MATRIX["batch_embed_contents"] = MATRIX["embed_content"]

# The front door's own wire protocol, and the name of the operation in a model's `endpoints`.
FRONT_PROTOCOL = {
    "chat": "openai",
    "messages": "anthropic",
    "count_tokens": "anthropic",
    "generate": "gemini",
    "gemini_count_tokens": "gemini",
    "responses": "responses",
    "embeddings": "openai",
    "images": "openai",
    "image_edits": "openai",
    "audio_transcription": "openai",
    "audio_speech": "openai",
    "rerank": "openai",
    "completions": "openai",
    "moderations": "openai",
    "embed_content": "gemini",
    "batch_embed_contents": "gemini",
}
MODEL_ENDPOINT = {
    "chat": "chat",
    "messages": "messages",
    "count_tokens": "messages",
    "generate": "generate",
    "gemini_count_tokens": "generate",
    "image_edits": "images",
    "embed_content": "embeddings",
    "batch_embed_contents": "embeddings",
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


def channel_mode(operation: str, ch: ChannelRec) -> str | None:
    """`mode` for one channel: the `responses_native` option makes Responses native on
    openai-compatible channels that speak it (ToRouter extension, R9.1)."""
    m = mode(operation, ch.platform)
    if (
        m == TRANSLATED
        and operation == "responses"
        and ch.platform == "openai-compatible"
        and ch.options.get("responses_native")
    ):
        return NATIVE
    return m


def serves_previous_response(ch: ChannelRec) -> bool:
    """`previous_response_id` needs the upstream's stored responses: openai channels (R3.3)."""
    return ch.platform == "openai"


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
