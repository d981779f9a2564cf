"""Which wire-format module speaks for a front door or an upstream platform (SPEC R5.2).

Each module exposes the same functions and classes: `parse_request`, `render_request`,
`parse_response`, `render_response`, `StreamDecoder`, `StreamEncoder`; the tables are typed
with the `codec.Codec` protocol, so mypy checks every module against that shape.
"""

from __future__ import annotations

from typing import Any

from torouter.protocols import anthropic, gemini, openai_chat, openai_responses
from torouter.protocols.codec import Codec

__all__ = ["FRONT", "UPSTREAM", "untranslatable"]

FRONT: dict[str, Codec] = {
    "openai": openai_chat,
    "responses": openai_responses,
    "anthropic": anthropic,
    "gemini": gemini,
}
UPSTREAM: dict[str, Codec] = {
    "openai": openai_chat,
    "openrouter": openai_chat,
    "openai-compatible": openai_chat,
    "azure-openai": openai_chat,  # OpenAI wire; only the URL and auth header differ (R9.1)
    "anthropic": anthropic,
    "gemini": gemini,
}


def untranslatable(operation: str, body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) when `body` asks for something only a native exchange can honour
    (R5.7: several choices or candidates, audio output): such a request is routed to native
    channels only, and is E16 where there are none. None when any route will do."""
    if operation == "chat":
        return openai_chat.untranslatable(body)
    if operation == "generate":
        return gemini.untranslatable(body)
    return None
