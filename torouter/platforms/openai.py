"""OpenAI (R9.1): every OpenAI endpoint native, stored Responses for `previous_response_id`."""

from __future__ import annotations

from torouter.platforms import openai_wire
from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire
from torouter.platforms.spec import PlatformSpec

__all__ = ["PLATFORM"]

URLS = openai_wire.HostedUrls("https://api.openai.com/v1")


PLATFORM = PlatformSpec(
    platform=Platform.OPENAI,
    wire=Wire.OPENAI,
    codec=Codec.OPENAI_CHAT,
    modes={
        **openai_wire.CHAT_COLUMN,
        **openai_wire.MEDIA_COLUMN,
        Operation.RESPONSES: Mode.NATIVE,
        Operation.COMPLETIONS: Mode.NATIVE,
        Operation.MODERATIONS: Mode.NATIVE,
    },
    url=URLS.url,
    headers=openai_wire.request_headers,
    models_url=URLS.models_url,
    probe_operation=Operation.CHAT,
    probe_body=openai_wire.probe_body,
    thinking=openai_wire.thinking_effort,
    dialect="openai",
    native_drop=openai_wire.OPENROUTER_ONLY,
    stores_responses=True,
)
