"""OpenAI chat completion streams ⇄ internal events (SPEC R4.2, R4.6, R5.1). Pure, push-style.

`StreamDecoder` reads an upstream's `data:` chunks (OpenAI, OpenRouter, OpenAI-compatible) and
turns the flat deltas into blocks that never interleave: reasoning, text, then each tool call.
`StreamEncoder` writes the chunks a client's OpenAI SDK expects. The stop-reason tables and the
usage block are shared with `openai_chat` (which re-exports everything here).
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import orjson

from torouter.protocols import shapes
from torouter.protocols.common import upstream_call_id
from torouter.protocols.internal import (
    BlockKind,
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
from torouter.protocols.usage import OPENAI_USAGE_SHAPE, from_openai

__all__ = [
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "usage_from",
    "usage_json",
]

STOP_REASONS_IN: dict[str, StopReason] = {
    "stop": "end",
    "length": "length",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "filtered",
}
STOP_REASONS: dict[StopReason, str] = {
    "end": "stop",
    "length": "length",
    "tool_call": "tool_calls",
    "filtered": "content_filter",
}
_DONE = b"data: [DONE]\n\n"
# `_emit(out, {"content": text}, None)` around the text's JSON string (orjson writes a dict's
# keys in order, without spaces): `% (id, created, model)`, each as JSON.
_TEXT_HEAD = (
    b'data: {"id":%b,"object":"chat.completion.chunk","created":%b,"model":%b,'
    b'"choices":[{"index":0,"delta":{"content":'
)
_TEXT_TAIL = b'},"finish_reason":null}]}\n\n'


def usage_from(u: Any) -> Usage:
    """An OpenAI-style usage block → normalised usage (R10.2); OpenRouter's cache writes too."""
    return from_openai(u) if isinstance(u, dict) else Usage()


def usage_json(u: Usage) -> dict[str, Any]:
    """Normalised usage → an OpenAI chat usage block (cache writes count as prompt tokens)."""
    prompt = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    }


def in_stream_error(message: str, type_: str, code: str) -> bytes:
    """R4.6: one error event, then `[DONE]`."""
    err = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(err) + b"\n\n" + _DONE


# What the decoder reads of an event, with the types it reads them as (R9.4: an event of other
# types ends the stream like one that is not JSON).
EVENT_SHAPE: dict[str, Shape] = {
    "choices": [
        {
            "index": JSON_SCALAR,
            "delta": {
                "reasoning_details": list,
                "tool_calls": [{"index": JSON_SCALAR, "function": dict}],
            },
            "finish_reason": JSON_SCALAR,
        }
    ],
    "usage": OPENAI_USAGE_SHAPE,
}
_check_event = shapes.checker(EVENT_SHAPE)  # compiled once: it runs per event


# The fast path's reading of an event (`StreamDecoder._events`): one choice whose delta is only
# text (or empty), and perhaps its finish reason, with the types the shape check requires;
# msgspec skips the fields the gateway does not read (id, model, fingerprints, obfuscation…)
# without building them, about half the cost of parsing the event whole. Any other event (a
# role, reasoning, tool calls, usage, an error) fails to decode and is parsed whole.
class _PlainDelta(msgspec.Struct, forbid_unknown_fields=True):
    content: str | None = None  # and nothing else


class _PlainChoice(msgspec.Struct):
    index: int
    delta: _PlainDelta
    finish_reason: str | None


class _PlainChunk(msgspec.Struct):
    choices: list[_PlainChoice]
    usage: None = None
    error: None = None


_decode_plain_chunk = msgspec.json.Decoder(_PlainChunk).decode


def _utf8(data: bytes) -> bool:
    """The event is UTF-8 throughout, as a whole parse requires (msgspec does not check the
    strings it skips); ASCII, the usual event, is told by one C scan."""
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class StreamDecoder:
    """Upstream chat completion SSE bytes → internal events; `Finish` at `[DONE]` (or at
    `flush()` when the upstream ends without it but gave a finish reason)."""

    fast = True  # the plain-chunk fast path (off only in the tests that compare both paths)

    def __init__(
        self, *, max_event_bytes: int = MAX_EVENT_BYTES, rng: random.Random | None = None
    ) -> None:
        self._sse = SSEParser(max_event_bytes)
        self._rng = rng
        self._started = False
        self._ended = False
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._block = -1
        self._tools: dict[int, int] = {}  # upstream tool index → block index
        self._finish: str | None = None
        self._any_tool = False

    def decode(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        if self._ended:
            return out
        try:
            datas = self._sse.data_lines(chunk)
            if datas is None:
                datas = [ev.data for ev in self._sse.feed(chunk)]
        except EventTooLarge as exc:
            self._ended = True
            out.append(ErrorEvent(str(exc), "upstream_unavailable", "upstream_unavailable"))
            return out
        self._events(datas, out)
        return out

    def _events(self, datas: list[bytes], out: list[Event]) -> None:
        """Each event's data in turn. Inline, with the state in locals: the fast path, nearly
        every event of a stream once it has started, is one choice with more text and perhaps
        its finish reason, and no usage or error. What it reads has the types the shape check
        requires, so the check and the general walk (`_event`, `_choice`) would do exactly
        what it does; anything else, or anything missing, goes that way."""
        decode_plain = _decode_plain_chunk
        append = out.append
        fast = self.fast and self._started
        block = self._block
        text_open = self._open == "text"
        for data in datas:
            if fast:
                try:
                    chunk = decode_plain(data)
                except msgspec.DecodeError:  # not a plain chunk (or not JSON)
                    pass
                else:
                    choices = chunk.choices
                    if len(choices) == 1 and choices[0].index == 0 and _utf8(data):
                        choice = choices[0]
                        text = choice.delta.content
                        if text:
                            if not text_open:
                                self._open_block("text", out)
                                block, text_open = self._block, True
                            append(TextDelta(block, text))
                        if choice.finish_reason:
                            self._finish = choice.finish_reason
                            self._close(out)
                            text_open = False
                        continue
            self._event(data, out)
            if self._ended:
                return
            fast = self.fast and self._started
            block = self._block
            text_open = self._open == "text"

    def flush(self) -> list[Event]:
        if self._ended:
            return []
        out: list[Event] = []
        self._events([ev.data for ev in self._sse.flush()], out)
        if not self._ended and self._finish is not None:
            self._end(out)
        return out

    def _fail(self, message: str) -> list[Event]:
        self._ended = True
        return [ErrorEvent(message, "upstream_unavailable", "upstream_unavailable")]

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._block))
            self._open = None

    def _open_block(self, kind: BlockKind, out: list[Event]) -> None:
        if self._open != kind:
            self._close(out)
            self._block += 1
            self._open = kind
            out.append(BlockStart(self._block, kind))

    def _end(self, out: list[Event]) -> None:
        self._close(out)
        stop = STOP_REASONS_IN.get(self._finish or "stop", "end")
        if stop == "end" and self._any_tool:
            stop = "tool_call"
        out.append(Finish(stop, self._finish))
        self._ended = True

    def _event(self, data: bytes, out: list[Event]) -> None:
        """One event by the general walk: parsed whole, its shape checked."""
        if data == b"[DONE]":  # the stream's last event: not JSON, no exception raised for it
            self._end(out)
            return
        try:
            obj = orjson.loads(data)
        except ValueError:  # not JSON (orjson's error is a ValueError): `[DONE]`, or malformed
            if data.strip() == b"[DONE]":
                self._end(out)
            else:
                out.extend(self._fail("malformed upstream event"))
            return
        try:
            _check_event(obj)
        except ValueError:  # of the wrong types (R9.4)
            out.extend(self._fail("malformed upstream event"))
            return
        if not isinstance(obj, dict):
            return
        if not self._started:
            self._started = True
            out.append(
                Start(
                    str(obj.get("id") or ""), str(obj.get("model") or ""), _int(obj.get("created"))
                )
            )
        usage = obj.get("usage")
        err = obj.get("error")
        if isinstance(err, dict):
            if isinstance(usage, dict):
                out.append(UsageEvent(usage_from(usage)))
            code = err.get("code")
            type_ = str(err.get("type") or "upstream_error")
            code_ = str(code) if code is not None else type_
            out.append(ErrorEvent(str(err.get("message") or ""), type_, code_))
            self._ended = True
            return
        for choice in obj.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)
        if isinstance(usage, dict):
            out.append(UsageEvent(usage_from(usage)))

    def _choice(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta") or {}
        thinking = delta.get("reasoning_content")
        if thinking is None:
            thinking = delta.get("reasoning")
        if isinstance(thinking, str) and thinking:
            self._open_block("thinking", out)
            out.append(ThinkingDelta(self._block, thinking))
        for detail in delta.get("reasoning_details") or ():
            if isinstance(detail, dict) and detail.get("signature"):
                self._open_block("thinking", out)
                out.append(SignatureDelta(self._block, str(detail["signature"])))
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._open_block("text", out)
                out.append(TextDelta(self._block, text))
        for pos, call in enumerate(delta.get("tool_calls") or ()):
            if isinstance(call, dict):
                self._tool(pos, call, out)
        if choice.get("finish_reason"):
            self._finish = str(choice["finish_reason"])
            self._close(out)

    def _tool(self, pos: int, call: dict[str, Any], out: list[Event]) -> None:
        index = call.get("index", pos)
        fn = call.get("function") or {}
        args = fn.get("arguments")
        if index not in self._tools:
            self._close(out)
            self._block += 1
            self._tools[index] = self._block
            self._open = "tool"
            self._any_tool = True
            call_id = upstream_call_id(call.get("id"), self._rng)
            out.append(ToolCallStart(self._block, call_id, str(fn.get("name") or "")))
        elif self._tools[index] != self._block or self._open != "tool":
            return  # a fragment for a call already closed: blocks never interleave
        if isinstance(args, str) and args:
            out.append(ToolArgsDelta(self._block, args))


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


class StreamEncoder:
    """Internal events → a client's chat completion chunks (R4.2)."""

    fast = True  # text deltas from a byte template (off only in the tests comparing both)

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        input_estimate: int = 0,
        created: int = 0,
    ) -> None:
        self.model = model
        self.include_usage = include_usage
        self._id = ""
        self._created = created  # used when the upstream gives no timestamp
        self._started = False
        self._done = False
        self._tools: dict[int, int] = {}  # block index → tool_calls index
        self._usage = Usage(input=input_estimate)
        self._text_head = b""  # a content chunk up to its text, once id and time are known

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for ev in events:
            if self._done:
                break
            if isinstance(ev, TextDelta):  # first: nearly every event (the classes are disjoint)
                if self._text_head:
                    # The bytes `_chunk` would write; only the text is encoded.
                    out.append(self._text_head + orjson.dumps(ev.text) + _TEXT_TAIL)
                else:
                    self._chunk(out, {"content": ev.text})
                    if self.fast:
                        self._text_head = _TEXT_HEAD % (
                            orjson.dumps(self._id),
                            orjson.dumps(self._created),
                            orjson.dumps(self.model),
                        )
            elif isinstance(ev, Start):
                self._id, self._created = ev.id, ev.created or self._created
                self._text_head = b""
                self._begin(out)
            elif isinstance(ev, ThinkingDelta):
                self._chunk(out, {"reasoning_content": ev.text})
            elif isinstance(ev, ToolCallStart):
                n = self._tools[ev.index] = len(self._tools)
                call = {
                    "index": n,
                    "id": ev.id,
                    "type": "function",
                    "function": {"name": ev.name, "arguments": ""},
                }
                self._chunk(out, {"tool_calls": [call]})
            elif isinstance(ev, ToolArgsDelta):
                n = self._tools.get(ev.index, 0)
                self._chunk(out, {"tool_calls": [{"index": n, "function": {"arguments": ev.json}}]})
            elif isinstance(ev, UsageEvent):
                self._usage = ev.usage
            elif isinstance(ev, Finish):
                self._finish(ev, out)
            elif isinstance(ev, ErrorEvent):
                out.append(self.error(ev.message, ev.type, ev.code))
                self._done = True
        return b"".join(out)

    def error(self, message: str, type_: str, code: str) -> bytes:
        return in_stream_error(message, type_, code)

    def _begin(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            self._emit(out, {"role": "assistant", "content": ""}, None)

    def _chunk(self, out: list[bytes], delta: dict[str, Any]) -> None:
        self._begin(out)
        self._emit(out, delta, None)

    def _emit(self, out: list[bytes], delta: dict[str, Any], finish: str | None) -> None:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")

    def _finish(self, ev: Finish, out: list[bytes]) -> None:
        self._begin(out)
        self._emit(out, {}, STOP_REASONS[ev.stop_reason])
        if self.include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(self._usage),
            }
            out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        out.append(_DONE)
        self._done = True
