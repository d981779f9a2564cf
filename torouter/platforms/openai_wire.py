"""The OpenAI wire, shared by openai, openrouter, openai-compatible and azure-openai (R3.3,
R5.2, R9.1): endpoint paths, auth headers, the probe body and the common matrix column. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torouter.platforms.names import Mode, Operation, by_value
from torouter.platforms.spec import JSON, Channel

__all__ = [
    "CHAT_COLUMN",
    "MEDIA_COLUMN",
    "OPENROUTER_ONLY",
    "OPERATION_PATHS",
    "HostedUrls",
    "build_headers",
    "path_for",
    "probe_body",
    "request_headers",
    "thinking_effort",
]

N, T, L = Mode.NATIVE, Mode.TRANSLATED, Mode.LOCAL
Op = Operation

# What every OpenAI-wire platform serves (R5.2): chat and embeddings natively, the other
# protocols' generation and embedding calls through chat completions and /embeddings, and
# token counting answered locally (R10.7).
CHAT_COLUMN: Mapping[Operation, Mode] = {
    Op.CHAT: N,
    Op.EMBEDDINGS: N,
    Op.RESPONSES: T,
    Op.MESSAGES: T,
    Op.GENERATE: T,
    Op.EMBED_CONTENT: T,
    Op.BATCH_EMBED_CONTENTS: T,
    Op.COUNT_TOKENS: L,
    Op.GEMINI_COUNT_TOKENS: L,
}
# Images and audio (R5.2): native where the platform has the endpoints.
MEDIA_COLUMN: Mapping[Operation, Mode] = {
    Op.IMAGES: N,
    Op.IMAGE_EDITS: N,
    Op.AUDIO_TRANSCRIPTION: N,
    Op.AUDIO_SPEECH: N,
}

# The upstream path of each operation served natively on OpenAI wire (R3.3, R5.2). Keyed by
# plain strings, like every table read per request (exact-`str` dicts are the fastest).
OPERATION_PATHS: Mapping[str, str] = by_value(
    {
        Op.CHAT: "/chat/completions",
        Op.RESPONSES: "/responses",
        Op.EMBEDDINGS: "/embeddings",
        Op.IMAGES: "/images/generations",
        Op.IMAGE_EDITS: "/images/edits",
        Op.AUDIO_TRANSCRIPTION: "/audio/transcriptions",
        Op.AUDIO_SPEECH: "/audio/speech",
        Op.RERANK: "/rerank",
        Op.COMPLETIONS: "/completions",
        Op.MODERATIONS: "/moderations",
    }
)
# Translations go through chat completions, except Gemini embeds, which become /embeddings.
_TRANSLATED_PATHS: Mapping[str, str] = by_value(
    {
        Op.EMBED_CONTENT: "/embeddings",
        Op.BATCH_EMBED_CONTENTS: "/embeddings",
    }
)
CHAT_PATH = "/chat/completions"

# OpenRouter's routing fields: removed from native bodies sent anywhere else.
OPENROUTER_ONLY = ("models", "provider", "transforms", "route")


def path_for(operation: str, native: bool) -> str:
    """The path of an exchange. A native operation without a path is a registry error (the
    table test walks every cell), not a silent chat call."""
    if native:
        return OPERATION_PATHS[operation]
    return _TRANSLATED_PATHS.get(operation, CHAT_PATH)


@dataclass(frozen=True, slots=True)
class HostedUrls:
    """The URL builders of an OpenAI-wire platform served at `default_base` unless the channel
    names its own base URL (openai-compatible has no default: its channels must)."""

    default_base: str

    def url(
        self,
        ch: Channel,
        operation: str,
        model: str,
        *,
        native: bool,
        stream: bool,
        query: str = "",
    ) -> str:
        return (ch.base_url or self.default_base) + path_for(operation, native)

    def models_url(self, ch: Channel, cursor: str | None = None) -> str:
        return (ch.base_url or self.default_base) + "/models"


def build_headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None,
    content_type: str,
    auth_header: str,
    auth_value: str,
) -> dict[str, str]:
    """`openai-beta` is forwarded on native exchanges (R5.3). Built inline, with no helper
    calls: this runs once per attempt on the hot path."""
    headers = {
        "Content-Type": content_type,
        "Accept-Encoding": "identity",
        "x-request-id": request_id,
    }
    beta = client.get(b"openai-beta") if client else None
    if beta:
        headers["OpenAI-Beta"] = beta.decode("latin-1")
    headers[auth_header] = auth_value
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):  # as `spec.add_extra_headers`: the admin's word is last
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers


def request_headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    """Bearer auth: openai, openrouter, openai-compatible."""
    return build_headers(
        ch, request_id, client, content_type, "Authorization", f"Bearer {ch.credential}"
    )


def probe_body(model: str) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}


def thinking_effort(
    body: dict[str, Any], defaults: Mapping[str, Any], responses: bool
) -> dict[str, Any]:
    """OpenAI's reasoning switch: `reasoning_effort`, or `reasoning.effort` on Responses."""
    out = dict(body)
    effort = defaults.get("effort", "high")
    if responses:
        reasoning = dict(out.get("reasoning") or {})
        reasoning.setdefault("effort", effort)
        out["reasoning"] = reasoning
    else:
        out.setdefault("reasoning_effort", effort)
    return out
