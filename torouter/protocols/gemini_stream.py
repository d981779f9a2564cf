"""Gemini `streamGenerateContent` ⇄ internal events (SPEC R4.5, R4.6, R5.1, R5.6). Pure.

Every upstream event is a whole `GenerateContentResponse`; `StreamDecoder` turns its parts into
blocks (thought parts → thinking, `thoughtSignature` → a signature on the open thinking block or
on a thinking block of its own before the part that carried it), assembles Vertex's streamed
`partialArgs` into one argument object, and finishes at the end of the stream. `StreamEncoder`
writes `data: <GenerateContentResponse>\\r\\n\\r\\n` events with the running usage the upstream
reported (none before it reports, so no count ever shrinks); a function call's arguments are held
until its block stops (one object on the wire, bounded, R4.10).
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from torouter.protocols import shapes
from torouter.protocols.common import args_object, dumps, upstream_call_id
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
from torouter.protocols.nesting import TooDeep
from torouter.protocols.shapes import Shape
from torouter.protocols.sse import MAX_EVENT_BYTES, EventTooLarge, SSEParser
from torouter.protocols.usage import from_gemini

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

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
STOP_REASONS_IN: dict[str, StopReason] = {
    "STOP": "end",
    "MAX_TOKENS": "length",
    **dict.fromkeys(_FILTERED, "filtered"),
}
STOP_REASONS: dict[StopReason, str] = {
    "end": "STOP",
    "length": "MAX_TOKENS",
    "tool_call": "STOP",
    "filtered": "SAFETY",
}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def stop_reason_of(raw: Any, any_tool_call: bool) -> StopReason:
    stop = STOP_REASONS_IN.get(raw, "end") if isinstance(raw, str) else "end"
    return "tool_call" if stop == "end" and any_tool_call else stop


def finish_reason_out(stop: StopReason, raw: str | None) -> str:
    """Gemini's own filter reason survives when the upstream was Gemini-like."""
    if stop == "filtered" and raw in _FILTERED:
        return raw
    return STOP_REASONS[stop]


def usage_from(u: Any) -> Usage:
    return from_gemini(u) if isinstance(u, dict) else Usage()


def usage_json(u: Usage) -> dict[str, Any]:
    prompt = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h
    out: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(u.output - u.reasoning, 0),
        "totalTokenCount": prompt + u.output,
    }
    if u.cache_read:
        out["cachedContentTokenCount"] = u.cache_read
    if u.reasoning:
        out["thoughtsTokenCount"] = u.reasoning
    return out


def in_stream_error(message: str, type_: str, code: str, *, sse: bool = True) -> bytes:
    """R4.6: one `{"error": …}` event; the HTTP-like code follows the gateway code."""
    status = {"UPSTREAM_TIMEOUT": 504, "INTERNAL_ERROR": 500}.get(code, 502)
    if code.isdigit() and int(code) in _STATUS:  # an upstream error keeps its status
        status = int(code)
    payload = {"error": {"code": status, "message": message, "status": _STATUS[status]}}
    if not sse:
        return b",\r\n" + orjson.dumps(payload) + b"]"
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def _set_path(obj: dict[str, Any], path: str, value: Any, append: bool) -> None:
    """Apply one Vertex `partialArgs` item (`$.a.b`, `$.list[0]`) to the argument object."""
    keys = [k for k in path.lstrip("$").replace("[", ".").replace("]", "").split(".") if k]
    node: Any = obj
    for j, key in enumerate(keys):
        last = j == len(keys) - 1
        nxt: Any = value if last else ([] if keys[j + 1].isdigit() else {})
        if isinstance(node, list) and key.isdigit():
            i = int(key)
            while len(node) <= i:
                node.append(None)
            if last:
                node[i] = (
                    (node[i] or "") + value if append and isinstance(node[i], str | None) else value
                )
            elif node[i] is None:
                node[i] = nxt
            node = node[i]
        elif isinstance(node, dict):
            if last:
                prev = node.get(key)
                node[key] = (
                    (prev or "") + value if append and isinstance(prev, str | None) else value
                )
            else:
                node = node.setdefault(key, nxt)
        else:
            return


# What the decoder reads of an event, with the types it reads them as (R9.4: an event of other
# types ends the stream like one that is not JSON).
EVENT_SHAPE: dict[str, Shape] = {
    "candidates": [{"content": {"parts": [{"functionCall": {"partialArgs": list}}]}}],
    "promptFeedback": dict,
    "usageMetadata": dict,
}
_check_event = shapes.checker(EVENT_SHAPE)  # compiled once: it runs per event


class StreamDecoder:
    """Upstream Gemini SSE bytes → internal events. Gemini has no end marker, so `Finish`
    comes from `flush()` at the end of the stream, after the last usage."""

    def __init__(
        self, *, max_event_bytes: int = MAX_EVENT_BYTES, rng: random.Random | None = None
    ) -> None:
        self._sse = SSEParser(max_event_bytes)
        self._max = max_event_bytes
        self._rng = rng
        self._started = False
        self._ended = False
        self._block = -1
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._partial: dict[str, Any] | None = None  # Vertex streamed arguments
        self._finish: str | None = None
        self._tool_calls = False
        self._blocked = False
        self._usage: Any = None

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
        if not self._ended and self._finish is not None:
            self._end_partial(out)
            self._close(out)
            stop = "filtered" if self._blocked else stop_reason_of(self._finish, self._tool_calls)
            out.append(Finish(stop, self._finish))
            self._ended = True
        return out

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._block))
            self._open = None

    def _open_block(self, kind: BlockKind, out: list[Event]) -> None:
        if self._open != kind:
            self._end_partial(out)
            self._close(out)
            self._block += 1
            self._open = kind
            out.append(BlockStart(self._block, kind))

    def _signature(self, sig: str, out: list[Event]) -> None:
        """A part's signature: onto the open thinking block, else on one of its own."""
        if self._open != "thinking":
            self._open_block("thinking", out)
        out.append(SignatureDelta(self._block, sig))
        self._close(out)

    def _end_partial(self, out: list[Event]) -> None:
        if self._partial is not None:
            out.append(ToolArgsDelta(self._block, dumps(self._partial)))
            self._partial = None
            self._close(out)

    def _handle(self, data: bytes, out: list[Event]) -> None:
        try:
            obj = orjson.loads(data)
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
        err = obj.get("error")
        if isinstance(err, dict):
            status = str(err.get("status") or "UNKNOWN")
            out.append(
                ErrorEvent(str(err.get("message") or ""), status, str(err.get("code") or status))
            )
            self._ended = True
            return
        if not self._started:
            self._started = True
            out.append(Start(str(obj.get("responseId") or ""), str(obj.get("modelVersion") or "")))
        candidates = obj.get("candidates") or ()
        cand = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        for part in (cand.get("content") or {}).get("parts") or ():
            if isinstance(part, dict):
                self._part(part, out)
        if cand.get("finishReason"):
            self._finish = str(cand["finishReason"])
        blocked = (obj.get("promptFeedback") or {}).get("blockReason")
        if blocked and not candidates:
            self._finish = str(blocked)
            self._blocked = True
        usage = obj.get("usageMetadata")
        if isinstance(usage, dict) and "promptTokenCount" in usage and usage != self._usage:
            self._usage = usage
            out.append(UsageEvent(from_gemini(usage)))

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        sig = part.get("thoughtSignature")
        fc = part.get("functionCall")
        if isinstance(fc, dict):
            self._function_call(fc, sig, out)
            return
        text = part.get("text")
        if not isinstance(text, str):
            return
        if part.get("thought") is True:
            self._open_block("thinking", out)
            if text:
                out.append(ThinkingDelta(self._block, text))
            if sig:
                out.append(SignatureDelta(self._block, str(sig)))
            return
        if sig:
            self._end_partial(out)
            self._signature(str(sig), out)
        if text:
            self._open_block("text", out)
            out.append(TextDelta(self._block, text))

    def _function_call(self, fc: dict[str, Any], sig: Any, out: list[Event]) -> None:
        if self._partial is not None and not fc.get("name"):
            # Vertex streams a call's arguments: `willContinue` says more follows, and an
            # empty `functionCall: {}` ends the call.
            for item in fc.get("partialArgs") or ():
                self._partial_item(item)
            if not fc.get("partialArgs") or not fc.get("willContinue"):
                self._end_partial(out)
            return
        if not fc.get("name"):
            return
        self._end_partial(out)
        if sig:
            self._signature(str(sig), out)
        else:
            self._close(out)
        self._block += 1
        self._open = "tool"
        self._tool_calls = True
        call_id = upstream_call_id(fc.get("id"), self._rng)
        out.append(ToolCallStart(self._block, call_id, str(fc["name"])))
        if "args" in fc or not fc.get("willContinue"):
            out.append(ToolArgsDelta(self._block, dumps(fc.get("args") or {})))
            self._close(out)
        else:
            self._partial = {}
            for item in fc.get("partialArgs") or ():
                self._partial_item(item)

    def _partial_item(self, item: Any) -> None:
        if not isinstance(item, dict) or self._partial is None:
            return
        path = str(item.get("jsonPath") or "$")
        if "stringValue" in item:
            _set_path(self._partial, path, str(item["stringValue"]), True)
        elif "numberValue" in item:
            _set_path(self._partial, path, item["numberValue"], False)
        elif "boolValue" in item:
            _set_path(self._partial, path, bool(item["boolValue"]), False)
        elif "nullValue" in item:
            _set_path(self._partial, path, None, False)
        if len(dumps(self._partial)) > self._max:
            raise EventTooLarge(f"function call arguments exceeded {self._max} bytes")


class StreamEncoder:
    """Internal events → a client's `streamGenerateContent` events (R4.5).

    `sse=False` writes the streamed JSON array that Gemini sends without `alt=sse`.
    """

    fast = True  # text deltas from a byte template (off only in the tests comparing both)

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        input_estimate: int = 0,
        max_args_bytes: int = MAX_EVENT_BYTES,
        sse: bool = True,
    ) -> None:
        self.model = model
        self.include_usage = include_usage  # Gemini events always carry usage
        self._sse = sse
        self._max = max_args_bytes
        self._id = ""
        self._first = True
        self._done = False
        # None until the upstream reports counts: interim events carry no usage rather than an
        # estimate a later event would contradict; the last event carries the estimate if
        # nothing better came.
        self._usage: Usage | None = None
        self._estimate = input_estimate
        self._sig: str | None = None  # a signature waiting for the part it belongs to
        self._tool: tuple[str, str] | None = None
        self._args: list[str] = []
        self._size = 0
        # What follows a text part's string in `_emit`'s event, for this usage and id.
        self._text_tail = b""
        self._tail_of: tuple[Usage | None, str] | None = None

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for ev in events:
            if self._done:
                break
            if isinstance(ev, Start):
                self._id = ev.id
            elif isinstance(ev, TextDelta):
                if self._sig is None and self.fast:
                    self._text(out, ev.text)
                else:
                    self._emit(out, [self._signed({"text": ev.text})])
            elif isinstance(ev, ThinkingDelta):
                self._emit(out, [{"text": ev.text, "thought": True}])
            elif isinstance(ev, SignatureDelta):
                self._sig = ev.signature
            elif isinstance(ev, ToolCallStart):
                self._tool, self._args, self._size = (ev.id, ev.name), [], 0
            elif isinstance(ev, ToolArgsDelta):
                self._size += len(ev.json)
                if self._size > self._max:
                    out.append(
                        self.error(
                            "function call arguments too large",
                            "upstream_unavailable",
                            "upstream_unavailable",
                        )
                    )
                    self._done = True
                    break
                self._args.append(ev.json)
            elif isinstance(ev, BlockStop):
                if self._tool is not None:
                    try:
                        args = args_object("".join(self._args))
                    except TooDeep:  # as malformed as arguments too large (one object, R4.10)
                        out.append(
                            self.error(
                                "function call arguments nested too deeply",
                                "upstream_unavailable",
                                "upstream_unavailable",
                            )
                        )
                        self._done = True
                        break
                    call = {"id": self._tool[0], "name": self._tool[1], "args": args}
                    self._tool, self._args = None, []
                    self._emit(out, [self._signed({"functionCall": call})])
            elif isinstance(ev, UsageEvent):
                self._usage = ev.usage
            elif isinstance(ev, Finish):
                parts = [self._signed({"text": ""})]
                self._emit(out, parts, finish_reason_out(ev.stop_reason, ev.raw))
                if not self._sse:
                    out.append(b"]")
                self._done = True
            elif isinstance(ev, ErrorEvent):
                out.append(self.error(ev.message, ev.type, ev.code))
                self._done = True
        return b"".join(out)

    def error(self, message: str, type_: str, code: str) -> bytes:
        if not self._sse and self._first:
            self._first = False
            return b"[" + in_stream_error(message, type_, code, sse=False)[3:]
        return in_stream_error(message, type_, code, sse=self._sse)

    def _signed(self, part: dict[str, Any]) -> dict[str, Any]:
        if self._sig is not None:
            part["thoughtSignature"], self._sig = self._sig, None
        return part

    def _text(self, out: list[bytes], text: str) -> None:
        """The bytes `_emit(out, [{"text": text}])` writes, from a template: only the text is
        encoded (the tail is rebuilt when the usage or the id changes)."""
        tail_of = self._tail_of
        if tail_of is None or tail_of[0] is not self._usage or tail_of[1] is not self._id:
            usage = b""
            if self._usage is not None:
                usage = b',"usageMetadata":' + orjson.dumps(usage_json(self._usage))
            self._text_tail = (
                b'}],"role":"model"},"index":0}]'
                + usage
                + b',"modelVersion":'
                + orjson.dumps(self.model)
                + b',"responseId":'
                + orjson.dumps(self._id)
                + b"}"
            )
            self._tail_of = (self._usage, self._id)
        body = (
            b'{"candidates":[{"content":{"parts":[{"text":' + orjson.dumps(text) + self._text_tail
        )
        if self._sse:
            out.append(b"data: " + body + b"\r\n\r\n")
        else:
            out.append((b"[" if self._first else b",\r\n") + body)
        self._first = False

    def _emit(
        self, out: list[bytes], parts: list[dict[str, Any]], finish: str | None = None
    ) -> None:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish is not None:
            cand["finishReason"] = finish
        usage = self._usage
        if usage is None and finish is not None:
            usage = Usage(input=self._estimate)
        obj: dict[str, Any] = {"candidates": [cand]}
        if usage is not None:
            obj["usageMetadata"] = usage_json(usage)
        obj["modelVersion"] = self.model
        obj["responseId"] = self._id
        body = orjson.dumps(obj)
        if self._sse:
            out.append(b"data: " + body + b"\r\n\r\n")
        else:
            out.append((b"[" if self._first else b",\r\n") + body)
        self._first = False
