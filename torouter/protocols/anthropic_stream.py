"""Anthropic Messages streams ⇄ internal events (SPEC R4.4, R4.6, R5.1). Pure, push-style.

`StreamDecoder` parses named events (padded JSON, `ping`, a repeated `message_start`) into
internal events, renumbering blocks so that skipped server-tool blocks leave no gaps; the forced
`json_response` tool streams out as text. `StreamEncoder` writes what the anthropic SDK
accumulates: `message_start` (estimate), blocks with contiguous indices and one `ping` after the
first block start, `message_delta` (stop reason, real usage), `message_stop`.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from torouter.protocols import shapes
from torouter.protocols.common import JSON_TOOL, dumps, upstream_call_id
from torouter.protocols.internal import (
    BlockStart,
    BlockStop,
    ErrorEvent,
    Event,
    Finish,
    SignatureDelta,
    Start,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from torouter.protocols.shapes import JSON_SCALAR, Shape
from torouter.protocols.sse import MAX_EVENT_BYTES, EventTooLarge, SSEParser
from torouter.protocols.usage import from_anthropic, merge_anthropic

__all__ = [
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "stop_reason_of",
    "usage_from",
    "usage_json",
]

STOP_REASONS_IN: dict[str, StopReason] = {
    "end_turn": "end",
    "stop_sequence": "end",
    "pause_turn": "end",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "filtered",
}
STOP_REASONS: dict[StopReason, str] = {
    "end": "end_turn",
    "length": "max_tokens",
    "tool_call": "tool_use",
    "filtered": "refusal",
}


def stop_reason_of(raw: Any, any_tool_call: bool) -> StopReason:
    stop = STOP_REASONS_IN.get(raw if isinstance(raw, str) else "end_turn", "end")
    if stop == "tool_call" and not any_tool_call:
        return "end"  # only the json_response tool was used
    return stop


def usage_from(u: Any) -> Usage:
    return from_anthropic(u) if isinstance(u, dict) else Usage()


def usage_json(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write_5m + u.cache_write_1h,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_5m,
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        },
        "output_tokens": u.output,
    }


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# Events the same in every stream, written once (`_event`'s bytes; the block stop `% index`).
_PING = _event("ping", {"type": "ping"})
_MESSAGE_STOP = _event("message_stop", {"type": "message_stop"})
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
# `_event("content_block_delta", {…, "delta": {"type": "text_delta", "text": …}})` up to the
# text's JSON string (orjson writes a dict's keys in order, without spaces): `% index`.
_TEXT_HEAD = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":'
)


def in_stream_error(message: str, type_: str, code: str) -> bytes:
    """R4.6: one `error` event (the code is not part of Anthropic's envelope)."""
    return _event("error", {"type": "error", "error": {"type": type_, "message": message}})


# What the decoder reads of an event, with the types it reads them as (R9.4: an event of other
# types ends the stream like one that is not JSON).
EVENT_SHAPE: dict[str, Shape] = {
    "index": JSON_SCALAR,
    "message": {"usage": {"cache_creation": dict}},
    "content_block": dict,
    "delta": dict,
    "usage": {"cache_creation": dict},
    "error": dict,
}
_check_event = shapes.checker(EVENT_SHAPE)  # compiled once: it runs per event


class StreamDecoder:
    """Upstream Messages SSE bytes → internal events; `Finish` at `message_stop` (or at
    `flush()` after a `message_delta`)."""

    fast = True  # the block-delta fast path (off only in the tests comparing both paths)

    def __init__(
        self, *, max_event_bytes: int = MAX_EVENT_BYTES, rng: random.Random | None = None
    ) -> None:
        self._sse = SSEParser(max_event_bytes)
        self._rng = rng
        self._started = False
        self._ended = False
        self._usage: Usage | None = None
        self._blocks: dict[int, tuple[int, str]] = {}  # upstream index → (ours, kind)
        self._next = 0
        self._open: int | None = None
        self._stop: Any = None
        self._stop_sequence: str | None = None
        self._tool_calls = False
        self._stopped = False

    def decode(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        if self._ended:
            return out
        try:
            for ev in self._sse.feed(chunk):
                self._handle(ev.data, out)
                if self._ended:
                    break
        except EventTooLarge as exc:
            self._ended = True
            out.append(ErrorEvent(str(exc), "upstream_unavailable", "upstream_unavailable"))
        return out

    def flush(self) -> list[Event]:
        if self._ended:
            return []
        out: list[Event] = []
        for ev in self._sse.flush():
            self._handle(ev.data, out)
        if not self._ended and self._stopped:
            self._finish(out)
        return out

    def _finish(self, out: list[Event]) -> None:
        self._close(out)
        stop = stop_reason_of(self._stop, self._tool_calls)
        raw = self._stop if isinstance(self._stop, str) else None
        out.append(Finish(stop, raw, self._stop_sequence))
        self._ended = True

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._open))
            self._open = None

    def _handle(self, data: bytes, out: list[Event]) -> None:
        try:
            obj = orjson.loads(data)
            # Fast path, nearly every event: a block delta with nothing else. Its index and
            # delta have the types the shape check requires, and it has none of the other
            # fields the check reads, so the check is skipped.
            if (
                self.fast
                and type(obj) is dict
                and len(obj) == 3
                and obj.get("type") == "content_block_delta"
                and type(obj.get("index")) is int
                and type(obj.get("delta")) is dict
            ):
                self._delta(obj, out)
                return
            _check_event(obj)
        except ValueError:  # not JSON (orjson's error is a ValueError), or of the wrong types
            self._ended = True
            out.append(
                ErrorEvent(
                    "malformed upstream event", "upstream_unavailable", "upstream_unavailable"
                )
            )
            return
        if not isinstance(obj, dict):
            return
        kind = obj.get("type")
        if kind == "content_block_delta":
            self._delta(obj, out)
        elif kind == "content_block_start":
            self._start_block(obj, out)
        elif kind == "content_block_stop":
            known = self._blocks.get(obj.get("index", -1))
            if known is not None and known[0] == self._open:
                self._close(out)
        elif kind == "message_start":
            if not self._started:  # a repeated message_start starts nothing
                self._started = True
                msg = obj.get("message") or {}
                out.append(Start(str(msg.get("id") or ""), str(msg.get("model") or "")))
                self._add_usage(msg.get("usage"), out)
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            self._stop = delta.get("stop_reason")
            self._stop_sequence = delta.get("stop_sequence")
            self._stopped = True
            self._add_usage(obj.get("usage"), out)
        elif kind == "message_stop":
            self._finish(out)
        elif kind == "error":
            err = obj.get("error") or {}
            type_ = str(err.get("type") or "api_error")
            out.append(ErrorEvent(str(err.get("message") or ""), type_, type_))
            self._ended = True

    def _add_usage(self, usage: Any, out: list[Event]) -> None:
        if isinstance(usage, dict):
            self._usage = merge_anthropic(self._usage, usage)
            out.append(UsageEvent(self._usage))

    def _start_block(self, obj: dict[str, Any], out: list[Event]) -> None:
        block = obj.get("content_block") or {}
        kind = block.get("type")
        self._close(out)
        i = self._next
        if kind == "text":
            out.append(BlockStart(i, "text"))
            if block.get("text"):
                out.append(TextDelta(i, str(block["text"])))
        elif kind == "thinking":
            out.append(BlockStart(i, "thinking"))
            if block.get("thinking"):
                out.append(ThinkingDelta(i, str(block["thinking"])))
            if block.get("signature"):
                out.append(SignatureDelta(i, str(block["signature"])))
        elif kind == "redacted_thinking":
            out.append(BlockStart(i, "redacted_thinking", str(block.get("data") or "")))
        elif kind == "tool_use" and block.get("name") == JSON_TOOL:
            kind = "json"
            out.append(BlockStart(i, "text"))
        elif kind == "tool_use":
            self._tool_calls = True
            call_id = upstream_call_id(block.get("id"), self._rng)
            out.append(ToolCallStart(i, call_id, str(block.get("name") or "")))
            if block.get("input"):
                out.append(ToolArgsDelta(i, dumps(block["input"])))
        else:
            return  # server tools and their results have no counterpart
        self._blocks[obj.get("index", -1)] = (i, str(kind))
        self._open = i
        self._next += 1

    def _delta(self, obj: dict[str, Any], out: list[Event]) -> None:
        known = self._blocks.get(obj.get("index", -1))
        if known is None or known[0] != self._open:
            return
        i, kind = known
        delta = obj.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta" and delta.get("text"):
            out.append(TextDelta(i, str(delta["text"])))
        elif dtype == "thinking_delta" and delta.get("thinking"):
            out.append(ThinkingDelta(i, str(delta["thinking"])))
        elif dtype == "signature_delta" and delta.get("signature"):
            out.append(SignatureDelta(i, str(delta["signature"])))
        elif dtype == "input_json_delta" and delta.get("partial_json"):
            fragment = str(delta["partial_json"])
            out.append(TextDelta(i, fragment) if kind == "json" else ToolArgsDelta(i, fragment))


class StreamEncoder:
    """Internal events → a client's Messages stream (R4.4)."""

    fast = True  # text deltas from a byte template (off only in the tests comparing both)

    def __init__(self, model: str, *, include_usage: bool = False, input_estimate: int = 0) -> None:
        self.model = model
        self.include_usage = include_usage  # Anthropic streams always carry usage
        self.input_estimate = input_estimate
        self._id = ""
        self._started = False
        self._done = False
        self._pinged = False
        self._index = -1
        self._open: str | None = None  # "text" | "thinking" | "redacted_thinking" | "tool_use"
        self._usage = Usage(input=input_estimate)
        self._text_head = b""  # a text delta event up to its text, for the open block's index

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        dumps = orjson.dumps
        # While a text block is open, a text delta is the bytes `_delta` would write, from a
        # template: only the text is encoded (`head` is empty when that does not apply). The
        # event classes have no subclasses: an exact type test is the dispatch.
        head = self._fast_head()
        for ev in events:
            if head and type(ev) is TextDelta:  # first: nearly every event
                out.append(head + dumps(ev.text) + b"}}\n\n")
                continue
            if self._done:
                break
            self._general(ev, out)
            head = self._fast_head()
        return b"".join(out)

    def _fast_head(self) -> bytes:
        return self._text_head if self._open == "text" and self.fast and not self._done else b""

    def _general(self, ev: Event, out: list[bytes]) -> None:
        if isinstance(ev, TextDelta):
            if self._open != "text":
                self._block(out, "text", {"type": "text", "text": ""})
            if self.fast:  # the bytes `_delta` writes, from a template: the text encoded
                out.append(self._text_head + orjson.dumps(ev.text) + b"}}\n\n")
            else:
                self._delta(out, {"type": "text_delta", "text": ev.text})
        elif isinstance(ev, Start):
            self._id = ev.id
            self._begin(out)
        elif isinstance(ev, BlockStart):
            if ev.kind == "text":
                self._block(out, "text", {"type": "text", "text": ""})
            elif ev.kind == "thinking":
                self._block(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            else:
                self._block(out, ev.kind, {"type": "redacted_thinking", "data": ev.data})
        elif isinstance(ev, ThinkingDelta):
            self._ensure(out, "thinking")
            self._delta(out, {"type": "thinking_delta", "thinking": ev.text})
        elif isinstance(ev, SignatureDelta):
            self._ensure(out, "thinking")
            self._delta(out, {"type": "signature_delta", "signature": ev.signature})
        elif isinstance(ev, ToolCallStart):
            block = {"type": "tool_use", "id": ev.id, "name": ev.name, "input": {}}
            self._block(out, "tool_use", block)
        elif isinstance(ev, ToolArgsDelta):
            if self._open == "tool_use":
                self._delta(out, {"type": "input_json_delta", "partial_json": ev.json})
        elif isinstance(ev, BlockStop):
            self._stop(out)
        elif isinstance(ev, UsageEvent):
            self._usage = ev.usage
        elif isinstance(ev, Finish):
            self._finish(ev, out)
        elif isinstance(ev, ErrorEvent):
            out.append(self.error(ev.message, ev.type, ev.code))
            self._done = True

    def error(self, message: str, type_: str, code: str) -> bytes:
        return in_stream_error(message, type_, code)

    def _begin(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        }
        out.append(_event("message_start", {"type": "message_start", "message": message}))

    def _block(self, out: list[bytes], kind: str, block: dict[str, Any]) -> None:
        self._begin(out)
        self._stop(out)
        self._index += 1
        self._open = kind
        self._text_head = _TEXT_HEAD % self._index
        payload = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(_event("content_block_start", payload))
        if not self._pinged:
            self._pinged = True
            out.append(_PING)

    def _ensure(self, out: list[bytes], kind: str) -> None:
        if self._open != kind:
            if kind == "text":
                self._block(out, kind, {"type": "text", "text": ""})
            else:
                self._block(out, kind, {"type": "thinking", "thinking": "", "signature": ""})

    def _delta(self, out: list[bytes], delta: dict[str, Any]) -> None:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        out.append(_event("content_block_delta", payload))

    def _stop(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_BLOCK_STOP % self._index)
            self._open = None

    def _finish(self, ev: Finish, out: list[bytes]) -> None:
        self._begin(out)
        self._stop(out)
        stop = "stop_sequence" if ev.stop_sequence else STOP_REASONS[ev.stop_reason]
        u = self._usage
        usage = {
            "input_tokens": u.input,
            "cache_creation_input_tokens": u.cache_write_5m + u.cache_write_1h,
            "cache_read_input_tokens": u.cache_read,
            "output_tokens": u.output,
        }
        payload = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": ev.stop_sequence},
            "usage": usage,
        }
        out.append(_event("message_delta", payload))
        out.append(_MESSAGE_STOP)
        self._done = True
