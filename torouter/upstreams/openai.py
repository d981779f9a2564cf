"""OpenAI-wire upstreams: openai, openrouter, openai-compatible (URL, auth, usage). Pure."""

from __future__ import annotations

from torouter.snapshot import ChannelRec

__all__ = ["OPENAI_WIRE", "chat_url", "request_headers"]

OPENAI_WIRE = frozenset({"openai", "openrouter", "openai-compatible"})
DEFAULT_BASE = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}
OPENROUTER_ONLY = ("models", "provider", "transforms", "route")


def base_url(ch: ChannelRec) -> str:
    return ch.base_url or DEFAULT_BASE.get(ch.platform, "")


def chat_url(ch: ChannelRec) -> str:
    return base_url(ch) + "/chat/completions"


def request_headers(ch: ChannelRec, request_id: str) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {ch.credential}",
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "x-request-id": request_id,
    }
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
