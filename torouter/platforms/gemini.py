"""Gemini (R3.5, R9.1): `models/{model}:{action}` on the Generative Language API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire, by_value
from torouter.platforms.spec import JSON, Channel, PlatformSpec, add_extra_headers

__all__ = ["PLATFORM", "action_url"]

N, T = Mode.NATIVE, Mode.TRANSLATED
DEFAULT_BASE = "https://generativelanguage.googleapis.com"
# The action of each operation; the generating ones pick theirs by `stream`.
_ACTIONS: Mapping[str, str] = by_value(
    {
        Operation.EMBED_CONTENT: "embedContent",
        Operation.BATCH_EMBED_CONTENTS: "batchEmbedContents",
        Operation.EMBEDDINGS: "batchEmbedContents",
        Operation.COUNT_TOKENS: "countTokens",
        Operation.GEMINI_COUNT_TOKENS: "countTokens",
    }
)
_GENERATING = frozenset(
    op.value for op in (Operation.GENERATE, Operation.CHAT, Operation.MESSAGES, Operation.RESPONSES)
)


def _base(ch: Channel) -> str:
    base = ch.base_url or DEFAULT_BASE
    if not base.rstrip("/").endswith(("/v1beta", "/v1")):
        base = base.rstrip("/") + "/v1beta"
    return base


def action_url(ch: Channel, model: str, action: str, *, sse: bool = False) -> str:
    out = f"{_base(ch)}/models/{quote(model, safe='/-._')}:{action}"
    return out + "?alt=sse" if sse else out


def url(
    ch: Channel, operation: str, model: str, *, native: bool, stream: bool, query: str = ""
) -> str:
    action = _ACTIONS.get(operation)
    if action is None:
        if operation not in _GENERATING:
            raise ValueError(f"no Gemini action for operation '{operation}'")
        action = "streamGenerateContent" if stream else "generateContent"
    return action_url(ch, model, action, sse=stream)


def headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    out = {"Content-Type": content_type, "Accept-Encoding": "identity", "x-request-id": request_id}
    if ch.options.get("oauth"):
        out["Authorization"] = f"Bearer {ch.credential}"
    else:
        out["x-goog-api-key"] = ch.credential
    return add_extra_headers(out, ch)


def models_url(ch: Channel, cursor: str | None = None) -> str:
    query = {"pageSize": "1000", **({"pageToken": cursor} if cursor else {})}
    return f"{_base(ch).rstrip('/')}/models?{urlencode(query)}"


def probe_body(model: str) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
        "generationConfig": {"maxOutputTokens": 1},
    }


def thinking(body: dict[str, Any], defaults: Mapping[str, Any], responses: bool) -> dict[str, Any]:
    """`thinkingConfig` with thoughts included: the model's level, else a budget (-1: dynamic)."""
    out = dict(body)
    gen = dict(out.get("generationConfig") or {})
    if "thinkingConfig" not in gen:
        level = defaults.get("thinking_level")
        cfg: dict[str, Any] = {"includeThoughts": True}
        if level:
            cfg["thinkingLevel"] = level
        else:
            cfg["thinkingBudget"] = int(defaults.get("budget_tokens", -1))
        gen["thinkingConfig"] = cfg
    out["generationConfig"] = gen
    return out


PLATFORM = PlatformSpec(
    platform=Platform.GEMINI,
    wire=Wire.GEMINI,
    codec=Codec.GEMINI,
    modes={
        Operation.GENERATE: N,
        Operation.GEMINI_COUNT_TOKENS: N,
        Operation.EMBED_CONTENT: N,
        Operation.BATCH_EMBED_CONTENTS: N,
        Operation.CHAT: T,
        Operation.MESSAGES: T,
        Operation.RESPONSES: T,
        Operation.COUNT_TOKENS: T,
        Operation.EMBEDDINGS: T,
    },
    url=url,
    headers=headers,
    models_url=models_url,
    probe_operation=Operation.GENERATE,
    probe_body=probe_body,
    thinking=thinking,
    dialect="gemini",
)
