"""Which platforms serve which front-door operation, and how (SPEC R5.2, R9.2). Pure.

N native pass-through, T translated, L answered locally. The table itself is the platforms'
columns, gathered by `torouter/platforms/registry.py`; this module answers questions about it.
"""

from __future__ import annotations

from collections.abc import Iterable

from torouter.platforms import registry
from torouter.platforms.names import Mode
from torouter.records import ChannelRec, ModelRec

__all__ = [
    "FRONT_PROTOCOL",
    "MODEL_ENDPOINT",
    "NATIVE",
    "channel_mode",
    "eligible",
    "mode",
    "serves_previous_response",
    "wants_local",
]

NATIVE, TRANSLATED, LOCAL = Mode.NATIVE, Mode.TRANSLATED, Mode.LOCAL
MATRIX = registry.MATRIX
# The front door's own wire protocol, and the name of the operation in a model's `endpoints`.
FRONT_PROTOCOL = registry.FRONT_DOOR
MODEL_ENDPOINT = registry.MODEL_ENDPOINT
_EMPTY: dict[str, Mode] = {}


def mode(operation: str, platform: str) -> Mode | None:
    return MATRIX.get(operation, _EMPTY).get(platform)


def is_native(operation: str, platform: str) -> bool:
    return mode(operation, platform) == NATIVE


def channel_mode(operation: str, ch: ChannelRec) -> Mode | None:
    """`mode` for one channel: an option may make a translated cell native, as
    `responses_native` does for openai-compatible servers that speak Responses (R9.1)."""
    m = mode(operation, ch.platform)
    if m == TRANSLATED:
        option = registry.NATIVE_OPTIONS.get((operation, ch.platform))
        if option is not None and ch.options.get(option):
            return NATIVE
    return m


def serves_previous_response(ch: ChannelRec) -> bool:
    """`previous_response_id` needs the upstream's stored responses: openai channels (R3.3)."""
    spec = registry.PLATFORMS.get(ch.platform)
    return spec is not None and spec.stores_responses


def eligible(channels: Iterable[ChannelRec], operation: str, model: ModelRec) -> list[ChannelRec]:
    """Channels able to serve the operation (N or T): R5.2 ∩ model and channel endpoints."""
    endpoint = MODEL_ENDPOINT.get(operation, operation)
    if model.endpoints and endpoint not in model.endpoints:
        return []
    out = []
    for ch in channels:
        if mode(operation, ch.platform) not in (NATIVE, TRANSLATED):
            continue
        if ch.endpoints is not None and endpoint not in ch.endpoints:
            continue
        out.append(ch)
    return out


def wants_local(channels: Iterable[ChannelRec], operation: str) -> bool:
    """Token counting answered by the gateway (R10.7) when only `L` platforms serve the model."""
    return any(mode(operation, ch.platform) == LOCAL for ch in channels)
