"""OpenAI-compatible servers (R9.1: vLLM, llama.cpp, Ollama…): OpenAI wire at the channel's
own base URL, rerank and the legacy endpoints native, Responses native on request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torouter.platforms import openai_wire
from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire
from torouter.platforms.spec import PlatformSpec

__all__ = ["PLATFORM"]

URLS = openai_wire.HostedUrls("")  # no default host: the channel names its server


def thinking(body: dict[str, Any], defaults: Mapping[str, Any], responses: bool) -> dict[str, Any]:
    """No common switch among these servers: the model's `body` defaults are merged in."""
    out = dict(body)
    for k, v in (defaults.get("body") or {"reasoning_effort": "high"}).items():
        out.setdefault(k, v)
    return out


PLATFORM = PlatformSpec(
    platform=Platform.OPENAI_COMPATIBLE,
    wire=Wire.OPENAI,
    codec=Codec.OPENAI_CHAT,
    modes={
        **openai_wire.CHAT_COLUMN,
        **openai_wire.MEDIA_COLUMN,
        Operation.RERANK: Mode.NATIVE,
        Operation.COMPLETIONS: Mode.NATIVE,
        Operation.MODERATIONS: Mode.NATIVE,
    },
    url=URLS.url,
    headers=openai_wire.request_headers,
    models_url=URLS.models_url,
    probe_operation=Operation.CHAT,
    probe_body=openai_wire.probe_body,
    thinking=thinking,
    dialect="openai-compatible",
    base_url_required=True,
    reasoning_history=True,  # these servers' reasoning models read `reasoning_content` back
    native_options={Operation.RESPONSES: "responses_native"},
    native_drop=openai_wire.OPENROUTER_ONLY,
)
