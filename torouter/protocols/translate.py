"""Which wire-format module speaks for a front door or an upstream platform (SPEC R5.2).

Each module exposes the same functions and classes: `parse_request`, `render_request`,
`parse_response`, `render_response`, `StreamDecoder`, `StreamEncoder`; the tables are typed
with the `codec.Codec` protocol, so mypy checks every module against that shape. The registry
names the codec of each front door and platform; `CODECS` is the one place a name becomes a
module.
"""

from __future__ import annotations

from typing import Any

from torouter.platforms.names import Codec as CodecName
from torouter.platforms.registry import FRONT_CODEC, PLATFORMS
from torouter.protocols import anthropic, gemini, openai_chat, openai_responses
from torouter.protocols.codec import Codec

__all__ = ["CODECS", "FRONT", "UPSTREAM", "untranslatable"]

CODECS: dict[CodecName, Codec] = {
    CodecName.OPENAI_CHAT: openai_chat,
    CodecName.OPENAI_RESPONSES: openai_responses,
    CodecName.ANTHROPIC: anthropic,
    CodecName.GEMINI: gemini,
}
# Front door → codec, platform → codec (every OpenAI-wire platform shares one: only the URL
# and auth header differ, R9.1).
FRONT: dict[str, Codec] = {door.value: CODECS[codec] for door, codec in FRONT_CODEC.items()}
UPSTREAM: dict[str, Codec] = {name: CODECS[s.codec] for name, s in PLATFORMS.items()}


def untranslatable(operation: str, body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) when `body` asks for something only a native exchange can honour
    (R5.7: several choices or candidates, audio output): such a request is routed to native
    channels only, and is E16 where there are none. None when any route will do."""
    if operation == "chat":
        return openai_chat.untranslatable(body)
    if operation == "generate":
        return gemini.untranslatable(body)
    return None
