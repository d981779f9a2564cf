"""Anthropic (R3.4, R5.3, R9.1): the Messages API, native for Messages and token counting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire, by_value
from torouter.platforms.spec import JSON, Channel, PlatformSpec, add_extra_headers

__all__ = ["DEFAULT_BUDGET", "PLATFORM"]

N, T = Mode.NATIVE, Mode.TRANSLATED
DEFAULT_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
DEFAULT_BUDGET = 8192  # thinking tokens when the model sets no `budget_tokens` (R6.4)
# Every operation Anthropic serves goes to Messages or its token count.
_PATHS: Mapping[str, str] = by_value(
    {
        Operation.MESSAGES: "/v1/messages",
        Operation.CHAT: "/v1/messages",
        Operation.RESPONSES: "/v1/messages",
        Operation.GENERATE: "/v1/messages",
        Operation.COUNT_TOKENS: "/v1/messages/count_tokens",
        Operation.GEMINI_COUNT_TOKENS: "/v1/messages/count_tokens",
    }
)


def _base(ch: Channel) -> str:
    return (ch.base_url or DEFAULT_BASE).removesuffix("/v1")


def url(
    ch: Channel, operation: str, model: str, *, native: bool, stream: bool, query: str = ""
) -> str:
    """The client's query string (`beta=true`…) rides along on native exchanges only."""
    out = _base(ch) + _PATHS[operation]
    return f"{out}?{query}" if native and query else out


def headers(
    ch: Channel,
    request_id: str,
    client: Mapping[bytes, bytes] | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    """The client's `anthropic-version` and `anthropic-beta` are kept (R5.3)."""
    client = client or {}
    out = {
        "Content-Type": content_type,
        "Accept-Encoding": "identity",
        "anthropic-version": (
            client.get(b"anthropic-version", b"").decode("latin-1") or DEFAULT_VERSION
        ),
        "x-request-id": request_id,
    }
    if ch.options.get("oauth"):
        out["Authorization"] = f"Bearer {ch.credential}"
    else:
        out["x-api-key"] = ch.credential
    beta = client.get(b"anthropic-beta")
    if beta:
        out["anthropic-beta"] = beta.decode("latin-1")
    return add_extra_headers(out, ch)


def models_url(ch: Channel, cursor: str | None = None) -> str:
    query = {"limit": "1000", **({"after_id": cursor} if cursor else {})}
    return f"{_base(ch)}/v1/models?{urlencode(query)}"


def probe_body(model: str) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}


def thinking(body: dict[str, Any], defaults: Mapping[str, Any], responses: bool) -> dict[str, Any]:
    """Extended thinking with a budget; `max_tokens` grows past it, as Anthropic requires."""
    out = dict(body)
    if "thinking" not in out:
        budget = int(defaults.get("budget_tokens", DEFAULT_BUDGET))
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        max_tokens = out.get("max_tokens")
        if isinstance(max_tokens, int) and max_tokens <= budget:
            out["max_tokens"] = max_tokens + budget
    return out


PLATFORM = PlatformSpec(
    platform=Platform.ANTHROPIC,
    wire=Wire.ANTHROPIC,
    codec=Codec.ANTHROPIC,
    modes={
        Operation.MESSAGES: N,
        Operation.COUNT_TOKENS: N,
        Operation.CHAT: T,
        Operation.RESPONSES: T,
        Operation.GENERATE: T,
        Operation.GEMINI_COUNT_TOKENS: T,
    },
    url=url,
    headers=headers,
    models_url=models_url,
    probe_operation=Operation.MESSAGES,
    probe_body=probe_body,
    thinking=thinking,
    dialect="anthropic",
)
