"""The one internal shape the core speaks (SPEC R5.1, R10.2).

Wire formats are converted to and from these at the edges (`protocols/*`); same-protocol routes
skip the conversion and only extract what metering needs into `Usage`.

    Request ── system: [TextPart]  messages: [Message(role, parts)]  tools, tool_choice, …
    Response ── parts (TextPart | ThinkingPart | ToolCallPart), stop_reason, usage
    Event ──── Start, BlockStart, TextDelta, ThinkingDelta, SignatureDelta, ToolCallStart,
               ToolArgsDelta, BlockStop, UsageEvent, Finish, ErrorEvent

Stream invariants every decoder keeps, so encoders stay simple state machines: one `Start`
first; content blocks never interleave (a block is stopped before the next one starts);
`UsageEvent`s carry cumulative figures (the last one wins); `Finish` is the last event of a
complete stream (after the final usage); an `ErrorEvent` ends a stream instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

__all__ = [
    "STOP_REASONS",
    "TOOL_MODES",
    "BlockKind",
    "BlockStart",
    "BlockStop",
    "ErrorEvent",
    "Event",
    "Finish",
    "ImagePart",
    "Message",
    "Part",
    "Reasoning",
    "Request",
    "Response",
    "ResponseFormat",
    "SignatureDelta",
    "Start",
    "StopReason",
    "TextDelta",
    "TextPart",
    "ThinkingDelta",
    "ThinkingPart",
    "Tool",
    "ToolArgsDelta",
    "ToolCallPart",
    "ToolCallStart",
    "ToolChoice",
    "ToolMode",
    "ToolResultPart",
    "Usage",
    "UsageEvent",
]

StopReason = Literal["end", "length", "tool_call", "filtered"]
STOP_REASONS: tuple[StopReason, ...] = ("end", "length", "tool_call", "filtered")
Role = Literal["user", "assistant", "tool"]
ToolMode = Literal["auto", "none", "required", "tool"]
BlockKind = Literal["text", "thinking", "redacted_thinking"]
# The string forms of a tool choice every front door accepts (Anthropic's `any` is mapped).
TOOL_MODES: dict[str, ToolMode] = {"auto": "auto", "none": "none", "required": "required"}


@dataclass(slots=True)
class Usage:
    """Normalised usage (R10.2): `input` excludes cached tokens; `output` includes reasoning."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0
    reasoning: int = 0  # informational subset of output
    images: int = 0
    audio_seconds: float = 0.0
    characters: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h + self.output
        )


# ── content parts ───────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class TextPart:
    text: str
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ImagePart:
    """An image by URL (http(s), gs://, a Gemini file URI) or by standard base64 `data`."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI `image_url.detail`
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ThinkingPart:
    """Reasoning text with its provider signature (R5.6).

    A Gemini `thoughtSignature` is carried here too (empty `text` when it came on a function
    call or an empty text part); `redacted` blocks keep their opaque data in `signature`.
    """

    text: str = ""
    signature: str | None = None
    redacted: bool = False


@dataclass(slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: str = "{}"  # a JSON object as text, verbatim from the provider


@dataclass(slots=True)
class ToolResultPart:
    tool_call_id: str
    name: str = ""  # the function's name, looked up from the call when the wire lacks it
    content: list[TextPart | ImagePart] = field(default_factory=list)
    is_error: bool = False
    cache_control: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


Part = TextPart | ImagePart | ThinkingPart | ToolCallPart | ToolResultPart


@dataclass(slots=True)
class Message:
    """A turn: `user` (text, images), `assistant` (text, thinking, tool calls) or `tool`
    (tool results answering the assistant turn before it)."""

    role: Role
    parts: list[Part] = field(default_factory=list)


# ── request ─────────────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # JSON schema of the arguments
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: ToolMode = "auto"
    name: str | None = None  # for mode "tool"


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Reasoning:
    enabled: bool = True
    budget_tokens: int | None = None
    effort: str | None = None  # "minimal" | "low" | "medium" | "high" …


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    reasoning: Reasoning | None = None
    stream: bool = False
    include_usage: bool = False
    user: str | None = None  # OpenAI `user`, Anthropic `metadata.user_id`
    prompt_cache_key: str | None = None
    dropped: list[str] = field(default_factory=list)  # named in `x-torouter-dropped` (R5.7)

    @property
    def session(self) -> str | None:
        """The client's session signal, if any (user, metadata.user_id, prompt_cache_key)."""
        return self.user or self.prompt_cache_key

    def drop(self, name: str) -> None:
        if name not in self.dropped:
            self.dropped.append(name)


# ── response ────────────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[Part] = field(default_factory=list)  # TextPart, ThinkingPart, ToolCallPart
    stop_reason: StopReason = "end"
    stop_raw: str | None = None  # the provider's own value (`stop_sequence`, `SAFETY`…)
    stop_sequence: str | None = None  # the matched stop sequence when the provider says
    usage: Usage = field(default_factory=Usage)
    created: int = 0  # unix seconds; the gateway sets it when the upstream gives none


# ── stream events ───────────────────────────────────────────────────────────────────────────
# Built per upstream event, so msgspec records: their constructor is C (~50 ns, where a slotted
# dataclass's generated `__init__` is a Python call, ~180 ns, and a frozen one's sets each field
# through `object.__setattr__`, ~0.5 µs). They hold strings, numbers and a `Usage`, never a cycle,
# so they stay out of the cycle collector (`gc=False`). Nothing mutates them; the text, thinking
# and argument deltas are left unfrozen only because nothing hashes them either.


class Start(msgspec.Struct, frozen=True, gc=False):
    id: str
    model: str
    created: int = 0


class BlockStart(msgspec.Struct, frozen=True, gc=False):
    index: int
    kind: BlockKind
    data: str = ""  # redacted thinking's opaque data


class TextDelta(msgspec.Struct, gc=False):
    index: int
    text: str


class ThinkingDelta(msgspec.Struct, gc=False):
    index: int
    text: str


class SignatureDelta(msgspec.Struct, frozen=True, gc=False):
    index: int
    signature: str


class ToolCallStart(msgspec.Struct, frozen=True, gc=False):
    index: int
    id: str
    name: str


class ToolArgsDelta(msgspec.Struct, gc=False):
    index: int
    json: str  # a fragment of the arguments' JSON text


class BlockStop(msgspec.Struct, frozen=True, gc=False):
    index: int


class UsageEvent(msgspec.Struct, frozen=True, gc=False):
    usage: Usage  # cumulative


class Finish(msgspec.Struct, frozen=True, gc=False):
    """A stream's end: every decoder emits it last, once its upstream's own end marker (or the
    end of the bytes) has come, so nothing (usage included) follows it."""

    stop_reason: StopReason
    raw: str | None = None
    stop_sequence: str | None = None


class ErrorEvent(msgspec.Struct, frozen=True, gc=False):
    message: str
    type: str
    code: str


Event = (
    Start
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolCallStart
    | ToolArgsDelta
    | BlockStop
    | UsageEvent
    | Finish
    | ErrorEvent
)
