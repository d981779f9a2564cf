"""OpenAI (R9.1): every OpenAI endpoint native, stored Responses for `previous_response_id`."""

from __future__ import annotations

from torouter.platforms import openai_wire
from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire
from torouter.platforms.spec import Channel, PlatformSpec

__all__ = ["PLATFORM"]

DEFAULT_BASE = "https://api.openai.com/v1"


def url(
    ch: Channel, operation: str, model: str, *, native: bool, stream: bool, query: str = ""
) -> str:
    return (ch.base_url or DEFAULT_BASE) + openai_wire.path_for(operation, native)


def models_url(ch: Channel, cursor: str | None = None) -> str:
    return (ch.base_url or DEFAULT_BASE) + "/models"


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
    url=url,
    headers=openai_wire.request_headers,
    models_url=models_url,
    probe_operation=Operation.CHAT,
    probe_body=openai_wire.probe_body,
    thinking=openai_wire.thinking_effort,
    dialect="openai",
    native_drop=openai_wire.OPENROUTER_ONLY,
    stores_responses=True,
)
