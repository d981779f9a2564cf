"""The names the gateway routes by: platforms, operations, front doors, codecs, modes (R5.2, R9.1).

`StrEnum`s, so a member is the very string stored in a channel row or written in a route
table (`Platform.OPENAI == "openai"`, and both hash alike): dictionaries keyed by members
answer plain-string lookups, and nothing has to convert at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeVar

__all__ = [
    "Codec",
    "FrontDoor",
    "Mode",
    "Operation",
    "Platform",
    "PlatformName",
    "Wire",
    "by_value",
]

V = TypeVar("V")


class Platform(StrEnum):
    """A channel's upstream platform (R9.1). The order is the order lists show them in."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    OPENROUTER = "openrouter"
    OPENAI_COMPATIBLE = "openai-compatible"
    AZURE_OPENAI = "azure-openai"


class Operation(StrEnum):
    """A front-door operation relayed to a channel (R3.3–R3.5). The gateway's own answers
    (model lists, key info, billing views) are routes without a platform and not listed. The
    order is the order of the endpoint names derived from them (`registry.ENDPOINT_NAMES`)."""

    CHAT = "chat"
    RESPONSES = "responses"
    MESSAGES = "messages"
    COUNT_TOKENS = "count_tokens"
    GENERATE = "generate"
    GEMINI_COUNT_TOKENS = "gemini_count_tokens"
    EMBEDDINGS = "embeddings"
    EMBED_CONTENT = "embed_content"
    BATCH_EMBED_CONTENTS = "batch_embed_contents"
    IMAGES = "images"
    IMAGE_EDITS = "image_edits"
    AUDIO_TRANSCRIPTION = "audio_transcription"
    AUDIO_SPEECH = "audio_speech"
    RERANK = "rerank"
    COMPLETIONS = "completions"
    MODERATIONS = "moderations"


class FrontDoor(StrEnum):
    """The wire protocol a client speaks to the gateway (R2.1): OpenAI chat-style, the OpenAI
    Responses API, Anthropic Messages or Gemini."""

    OPENAI = "openai"
    RESPONSES = "responses"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class Wire(StrEnum):
    """The wire family a platform speaks upstream: which front door is native to it."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class Codec(StrEnum):
    """A translation codec: the name of its module in `torouter/protocols/`."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class Mode(StrEnum):
    """How a platform serves an operation (R5.2): native pass-through, translated, or answered
    by the gateway itself (token counting, R10.7)."""

    NATIVE = "N"
    TRANSLATED = "T"
    LOCAL = "L"


# The platform names as a `Literal`, for pydantic models that validate and document them (the
# admin API, provisioning files): derived from the enum so that the lists cannot drift. Type
# checkers see `str` (a `Literal` must be spelled out for them).
if TYPE_CHECKING:
    PlatformName = str
else:
    PlatformName = Literal[tuple(p.value for p in Platform)]


def by_value(table: Mapping[Operation, V]) -> dict[str, V]:
    """A table keyed by plain strings: a route's operation is one, and a dict of exact `str`
    keys is the fastest to look up on the hot path."""
    return {op.value: v for op, v in table.items()}
