"""OpenRouter (R9.1): OpenAI wire, its own reasoning switch and routing fields; no media."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torouter.platforms import openai_wire
from torouter.platforms.names import Codec, Operation, Platform, Wire
from torouter.platforms.spec import PlatformSpec

__all__ = ["PLATFORM"]

URLS = openai_wire.HostedUrls("https://openrouter.ai/api/v1")


def thinking(body: dict[str, Any], defaults: Mapping[str, Any], responses: bool) -> dict[str, Any]:
    """OpenRouter's unified `reasoning` object (R6.4)."""
    out = dict(body)
    out.setdefault("reasoning", {"effort": defaults.get("effort", "high")})
    return out


PLATFORM = PlatformSpec(
    platform=Platform.OPENROUTER,
    wire=Wire.OPENAI,
    codec=Codec.OPENAI_CHAT,
    modes=openai_wire.CHAT_COLUMN,
    url=URLS.url,
    headers=openai_wire.request_headers,
    models_url=URLS.models_url,
    probe_operation=Operation.CHAT,
    probe_body=openai_wire.probe_body,
    thinking=thinking,
    dialect="openrouter",
)
