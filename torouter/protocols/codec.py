"""The shape every wire-format codec module has (SPEC R5.2), as a `Protocol` mypy checks.

`openai_chat`, `openai_responses`, `anthropic` and `gemini` are modules, not classes; mypy
accepts a module where a Protocol is expected when its functions and classes match the members.
The translation table (`translate.py`) is typed with `Codec`, so a codec that drifts from the
shape (a renamed function, a required argument the gateway does not pass) fails the type check
instead of a translated request. Members are what the gateway calls through the table; a codec
may take more optional arguments, and the gateway calls those directly on the module.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from torouter.protocols.internal import Event, Request, Response

__all__ = ["Codec", "Decoder", "Encoder"]


class Decoder(Protocol):
    """Upstream stream bytes → internal events, push-style: any chunking gives the same events."""

    def decode(self, chunk: bytes) -> list[Event]: ...

    def flush(self) -> list[Event]: ...


class Encoder(Protocol):
    """Internal events → a client's stream bytes; `error` writes the one in-stream error event."""

    def encode(self, events: list[Event]) -> bytes: ...

    def error(self, message: str, type_: str, code: str) -> bytes: ...


class Codec(Protocol):
    """One wire format: whole bodies both ways, and a stream decoder and encoder."""

    def parse_request(self, body: dict[str, Any]) -> Request: ...

    def render_request(self, req: Request, *, upstream_model: str) -> dict[str, Any]: ...

    def parse_response(
        self, body: dict[str, Any], *, rng: random.Random | None = None
    ) -> Response: ...

    def render_response(self, resp: Response, *, model: str) -> dict[str, Any]: ...

    # The classes, seen as their constructors.
    def StreamDecoder(self) -> Decoder: ...

    def StreamEncoder(
        self, model: str, *, include_usage: bool = False, input_estimate: int = 0
    ) -> Encoder: ...
