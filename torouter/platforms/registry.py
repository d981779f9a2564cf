"""The one registry: every platform's spec, every operation's front door (SPEC R5.2, R9.1).

Adding a platform is a new file in this package that builds a `PlatformSpec`, plus its line in
`PLATFORMS` below (and its name in `names.Platform`). Every table the gateway routes by is
derived here, once, at import: the R5.2 matrix, the native-by-option cells, the platform and
endpoint names the admin API and provisioning accept. Consumers look a spec up once per exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from torouter.platforms import (
    anthropic,
    azure_openai,
    gemini,
    openai,
    openai_compatible,
    openrouter,
)
from torouter.platforms.names import Codec, FrontDoor, Mode, Operation, by_value
from torouter.platforms.spec import PlatformSpec

__all__ = [
    "ENDPOINT_NAMES",
    "FRONT_CODEC",
    "FRONT_DOOR",
    "MATRIX",
    "MODEL_ENDPOINT",
    "NATIVE_OPTIONS",
    "PLATFORMS",
    "PLATFORM_NAMES",
    "EndpointName",
    "spec_for",
]

# Tables keyed by plain strings (`.value`): a channel's platform and a route's operation are
# plain strings, and a dict of exact `str` keys is the fastest to look up on the hot path.
PLATFORMS: Mapping[str, PlatformSpec] = {
    spec.platform.value: spec
    for spec in (
        openai.PLATFORM,
        anthropic.PLATFORM,
        gemini.PLATFORM,
        openrouter.PLATFORM,
        openai_compatible.PLATFORM,
        azure_openai.PLATFORM,
    )
}
PLATFORM_NAMES: tuple[str, ...] = tuple(s.platform.value for s in PLATFORMS.values())

# The front door each operation arrives at (its wire protocol for errors and codecs).
FRONT_DOOR: Mapping[str, FrontDoor] = by_value(
    {
        Operation.CHAT: FrontDoor.OPENAI,
        Operation.MESSAGES: FrontDoor.ANTHROPIC,
        Operation.COUNT_TOKENS: FrontDoor.ANTHROPIC,
        Operation.GENERATE: FrontDoor.GEMINI,
        Operation.GEMINI_COUNT_TOKENS: FrontDoor.GEMINI,
        Operation.RESPONSES: FrontDoor.RESPONSES,
        Operation.EMBEDDINGS: FrontDoor.OPENAI,
        Operation.IMAGES: FrontDoor.OPENAI,
        Operation.IMAGE_EDITS: FrontDoor.OPENAI,
        Operation.AUDIO_TRANSCRIPTION: FrontDoor.OPENAI,
        Operation.AUDIO_SPEECH: FrontDoor.OPENAI,
        Operation.RERANK: FrontDoor.OPENAI,
        Operation.COMPLETIONS: FrontDoor.OPENAI,
        Operation.MODERATIONS: FrontDoor.OPENAI,
        Operation.EMBED_CONTENT: FrontDoor.GEMINI,
        Operation.BATCH_EMBED_CONTENTS: FrontDoor.GEMINI,
    }
)
# The codec that parses a front door's requests and renders its answers.
FRONT_CODEC: Mapping[FrontDoor, Codec] = {
    FrontDoor.OPENAI: Codec.OPENAI_CHAT,
    FrontDoor.RESPONSES: Codec.OPENAI_RESPONSES,
    FrontDoor.ANTHROPIC: Codec.ANTHROPIC,
    FrontDoor.GEMINI: Codec.GEMINI,
}
# The operation's name in a model's or channel's `endpoints` (R6.3), where it differs.
MODEL_ENDPOINT: Mapping[str, str] = by_value(
    {
        Operation.CHAT: "chat",
        Operation.MESSAGES: "messages",
        Operation.COUNT_TOKENS: "messages",
        Operation.GENERATE: "generate",
        Operation.GEMINI_COUNT_TOKENS: "generate",
        Operation.IMAGE_EDITS: "images",
        Operation.EMBED_CONTENT: "embeddings",
        Operation.BATCH_EMBED_CONTENTS: "embeddings",
    }
)
# The names a model's or channel's `endpoints` list may hold (R6.3): one per operation family.
ENDPOINT_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(MODEL_ENDPOINT.get(op.value, op.value) for op in Operation)
)
# As a `Literal`, for the pydantic models of the admin API and provisioning (type checkers
# see `str`: a `Literal` must be spelled out for them).
if TYPE_CHECKING:
    EndpointName = str
else:
    EndpointName = Literal[ENDPOINT_NAMES]

# R5.2 as operation → platform → mode: the platforms' columns turned into rows. An operation
# no platform serves has no row.
MATRIX: Mapping[str, Mapping[str, Mode]] = {
    op.value: row
    for op in Operation
    if (row := {p: s.modes[op] for p, s in PLATFORMS.items() if op in s.modes})
}
# (operation, platform) → the channel option that turns a translated cell native.
NATIVE_OPTIONS: Mapping[tuple[str, str], str] = {
    (op.value, p): option for p, s in PLATFORMS.items() for op, option in s.native_options.items()
}


def spec_for(platform: str) -> PlatformSpec:
    """The spec of a channel's platform. Channels are validated against `Platform` when
    written (admin API, provisioning), so a miss is a programmer error."""
    return PLATFORMS[platform]
