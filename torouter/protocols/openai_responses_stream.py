"""OpenAI Responses streams ⇄ internal events (SPEC R4.3, R4.6, R4.10, R5.1). Pure, push-style.

`StreamEncoder` writes named events, `event: <type>\\ndata: <JSON with the same type and a
sequence_number from 0>`: `response.created`, `response.in_progress`, then per output item
`response.output_item.added` … `response.output_item.done` (reasoning as `reasoning_text`, a
message as `output_text`, a function call as `function_call_arguments`), then
`response.completed` or `response.incomplete` carrying the whole response and its usage. That
final event repeats the output, so the encoder holds the current output (R4.10). Errors are
`error` then `response.failed` (R4.6). `StreamDecoder` reads an upstream Responses stream.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from torouter.protocols.common import upstream_call_id
from torouter.protocols.internal import (
    BlockStart,
    BlockStop,
    ErrorEvent,
    Event,
    Finish,
    Start,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from torouter.protocols.sse import MAX_EVENT_BYTES, EventTooLarge, SSEParser
from torouter.protocols.usage import from_openai

__all__ = [
    "STOP_REASONS",
    "STOP_REASONS_IN",
    "TERMINAL",
    "StreamDecoder",
    "StreamEncoder",
    "in_stream_error",
    "item_text",
    "shell",
    "usage_from",
    "usage_json",
]

# Internal stop reason → (status, incomplete_details.reason) (R5.5).
STOP_REASONS: dict[StopReason, tuple[str, str | None]] = {
    "end": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "tool_call": ("completed", None),
    "filtered": ("incomplete", "content_filter"),
}
STOP_REASONS_IN: dict[str, StopReason] = {
    "max_output_tokens": "length",
    "content_filter": "filtered",
}
# The final events of a Responses stream: each carries the whole response.
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def usage_from(u: Any) -> Usage:
    return from_openai(u) if isinstance(u, dict) else Usage()


def usage_json(u: Usage) -> dict[str, Any]:
    """Normalised usage → a Responses usage block (cache writes count as input tokens)."""
    prompt = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": prompt + u.output,
    }


def item_text(item: dict[str, Any]) -> str:
    """The text of a reasoning item: its `reasoning_text` content, else its summaries."""
    for key, kind in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = [
            str(p.get("text") or "")
            for p in item.get(key) or ()
            if isinstance(p, dict) and p.get("type") == kind
        ]
        if any(parts):
            return "\n\n".join(p for p in parts if p)
    return ""


def shell(rid: str, created: int, model: str, echo: dict[str, Any]) -> dict[str, Any]:
    """A response object in progress: no output, no usage; the request's fields echoed."""
    out: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
    }
    out.update(echo)
    out["model"] = model
    out["output"] = []
    out["previous_response_id"] = None
    out["usage"] = None
    return out


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def in_stream_error(
    message: str,
    type_: str,
    code: str,
    *,
    sequence_number: int = 0,
    response: dict[str, Any] | None = None,
) -> bytes:
    """R4.6: `event: error` with a flat code and message, then `event: response.failed`."""
    err = {
        "type": "error",
        "sequence_number": sequence_number,
        "code": code,
        "message": message,
        "param": None,
    }
    failed = dict(response or shell("resp_" + secrets.token_hex(24), int(time.time()), "", {}))
    failed["status"] = "failed"
    failed["error"] = {"code": code, "message": message}
    tail = {"type": "response.failed", "sequence_number": sequence_number + 1, "response": failed}
    return _event("error", err) + _event("response.failed", tail)


# ── encoder ─────────────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class _Item:
    kind: str  # message | reasoning | function_call
    output_index: int
    id: str
    pieces: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""


class StreamEncoder:
    """Internal events → a Responses client's named events (R4.3)."""

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        input_estimate: int = 0,
        echo: dict[str, Any] | None = None,
        rng: random.Random | None = None,
        created: int | None = None,
        max_held: int = MAX_EVENT_BYTES,
    ) -> None:
        self.model = model
        self._max_held = max_held  # R4.10: the output held for the final event
        self._held = 0
        self.include_usage = include_usage  # the final event always carries usage
        self._echo = echo or {}
        self._rng = rng
        self._created = created
        self._seq = 0
        self._usage = Usage(input=input_estimate)
        self._response: dict[str, Any] | None = None
        self._output: list[dict[str, Any]] = []  # completed items, in output order
        self._items: dict[int, _Item] = {}  # open items by block index
        self._skipped: set[int] = set()  # redacted thinking blocks: no item
        self._count = 0  # output items opened
        self._done = False

    def _id(self, prefix: str) -> str:
        if self._rng is None:
            return prefix + secrets.token_hex(24)
        return prefix + f"{self._rng.getrandbits(192):048x}"

    def _emit(self, out: list[bytes], kind: str, payload: dict[str, Any]) -> None:
        data = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        out.append(_event(kind, data))

    def encode(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for ev in events:
            if self._done:
                break
            if isinstance(ev, Start):
                self._begin(out, ev)
            elif isinstance(ev, BlockStart):
                # Items open at their first delta: a block without text (a Gemini signature
                # on its own) becomes no item at all.
                self._begin(out)
                if ev.kind == "redacted_thinking":
                    self._skipped.add(ev.index)
            elif isinstance(ev, TextDelta | ThinkingDelta | ToolArgsDelta) and self._over(ev):
                out.append(
                    self.error("Response too large", "upstream_error", "upstream_unavailable")
                )
            elif isinstance(ev, TextDelta):
                item = self._ensure(out, ev.index, "message")
                if item is not None:
                    item.pieces.append(ev.text)
                    self._emit(
                        out,
                        "response.output_text.delta",
                        {**self._at(item), "content_index": 0, "delta": ev.text, "logprobs": []},
                    )
            elif isinstance(ev, ThinkingDelta):
                item = self._ensure(out, ev.index, "reasoning")
                if item is not None:
                    item.pieces.append(ev.text)
                    self._emit(
                        out,
                        "response.reasoning_text.delta",
                        {**self._at(item), "content_index": 0, "delta": ev.text},
                    )
            elif isinstance(ev, ToolCallStart):
                self._begin(out)
                self._open_call(out, ev)
            elif isinstance(ev, ToolArgsDelta):
                item = self._items.get(ev.index)
                if item is not None and item.kind == "function_call":
                    item.pieces.append(ev.json)
                    self._emit(
                        out,
                        "response.function_call_arguments.delta",
                        {**self._at(item), "delta": ev.json},
                    )
            elif isinstance(ev, BlockStop):
                self._close(out, ev.index)
            elif isinstance(ev, UsageEvent):
                self._usage = ev.usage
            elif isinstance(ev, Finish):
                self._finish(out, ev)
            elif isinstance(ev, ErrorEvent):
                out.append(self.error(ev.message, ev.type, ev.code))
        return b"".join(out)

    def _over(self, ev: TextDelta | ThinkingDelta | ToolArgsDelta) -> bool:
        self._held += len(ev.json if isinstance(ev, ToolArgsDelta) else ev.text)
        return self._held > self._max_held

    def error(self, message: str, type_: str, code: str) -> bytes:
        """The in-stream error (R4.6); the response so far is marked failed."""
        out: list[bytes] = []
        self._begin(out)
        assert self._response is not None
        failed = {**self._response, "output": list(self._output)}
        out.append(
            in_stream_error(message, type_, code, sequence_number=self._seq, response=failed)
        )
        self._seq += 2
        self._done = True
        return b"".join(out)

    # -- lifecycle --------------------------------------------------------------------------

    def _begin(self, out: list[bytes], ev: Start | None = None) -> None:
        if self._response is not None:
            return
        rid = ev.id if ev is not None and ev.id.startswith("resp_") else self._id("resp_")
        created = ev.created if ev is not None and ev.created else self._created
        if created is None:
            created = int(time.time())
        self._response = shell(rid, created, self.model, self._echo)
        self._emit(out, "response.created", {"response": self._response})
        self._emit(out, "response.in_progress", {"response": self._response})

    def _finish(self, out: list[bytes], ev: Finish) -> None:
        self._begin(out)
        for index in list(self._items):
            self._close(out, index)
        assert self._response is not None
        status, reason = STOP_REASONS[ev.stop_reason]
        final = {
            **self._response,
            "status": status,
            "incomplete_details": {"reason": reason} if reason else None,
            "output": self._output,
            "usage": usage_json(self._usage),
        }
        kind = "response.completed" if status == "completed" else "response.incomplete"
        self._emit(out, kind, {"response": final})
        self._done = True

    # -- items ------------------------------------------------------------------------------

    @staticmethod
    def _at(item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.output_index}

    def _new(self, index: int, kind: str, prefix: str) -> _Item:
        item = _Item(kind, self._count, self._id(prefix))
        self._count += 1
        self._items[index] = item
        return item

    def _ensure(self, out: list[bytes], index: int, kind: str) -> _Item | None:
        """The open item of a block, opened at the block's first delta."""
        if index in self._skipped:
            return None
        item = self._items.get(index)
        if item is None:
            self._begin(out)
            if kind == "message":
                return self._open_message(out, index)
            return self._open_reasoning(out, index)
        return item if item.kind == kind else None

    def _open_message(self, out: list[bytes], index: int) -> _Item:
        item = self._new(index, "message", "msg_")
        added = {"id": item.id, "type": "message", "status": "in_progress", "content": []}
        added["role"] = "assistant"
        self._emit(
            out, "response.output_item.added", {"output_index": item.output_index, "item": added}
        )
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        self._emit(
            out, "response.content_part.added", {**self._at(item), "content_index": 0, "part": part}
        )
        return item

    def _open_reasoning(self, out: list[bytes], index: int) -> _Item:
        item = self._new(index, "reasoning", "rs_")
        added = {"id": item.id, "type": "reasoning", "summary": [], "content": []}
        self._emit(
            out, "response.output_item.added", {"output_index": item.output_index, "item": added}
        )
        part = {"type": "reasoning_text", "text": ""}
        self._emit(
            out, "response.content_part.added", {**self._at(item), "content_index": 0, "part": part}
        )
        return item

    def _open_call(self, out: list[bytes], ev: ToolCallStart) -> None:
        item = self._new(ev.index, "function_call", "fc_")
        item.call_id, item.name = ev.id, ev.name
        added = {
            "id": item.id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": ev.id,
            "name": ev.name,
        }
        self._emit(
            out, "response.output_item.added", {"output_index": item.output_index, "item": added}
        )

    def _close(self, out: list[bytes], index: int) -> None:
        item = self._items.pop(index, None)
        if item is None:
            return
        text = "".join(item.pieces)
        at = self._at(item)
        if item.kind == "message":
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            done: dict[str, Any] = {
                "id": item.id,
                "type": "message",
                "status": "completed",
                "content": [part],
                "role": "assistant",
            }
            self._emit(
                out,
                "response.output_text.done",
                {**at, "content_index": 0, "text": text, "logprobs": []},
            )
            self._emit(out, "response.content_part.done", {**at, "content_index": 0, "part": part})
        elif item.kind == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            done = {"id": item.id, "type": "reasoning", "summary": [], "content": [part]}
            self._emit(
                out, "response.reasoning_text.done", {**at, "content_index": 0, "text": text}
            )
            self._emit(out, "response.content_part.done", {**at, "content_index": 0, "part": part})
        else:
            args = text or "{}"
            done = {
                "id": item.id,
                "type": "function_call",
                "status": "completed",
                "arguments": args,
                "call_id": item.call_id,
                "name": item.name,
            }
            self._emit(out, "response.function_call_arguments.done", {**at, "arguments": args})
        self._output.append(done)
        self._emit(
            out, "response.output_item.done", {"output_index": item.output_index, "item": done}
        )


# ── decoder ─────────────────────────────────────────────────────────────────────────────────


class StreamDecoder:
    """Upstream Responses SSE bytes → internal events; `Finish` at `response.completed` or
    `response.incomplete`, an `ErrorEvent` at `error` or `response.failed`."""

    def __init__(
        self, *, max_event_bytes: int = MAX_EVENT_BYTES, rng: random.Random | None = None
    ) -> None:
        self._sse = SSEParser(max_event_bytes)
        self._rng = rng
        self._started = False
        self._ended = False
        self._block = -1
        self._open: str | None = None
        self._summary = -1  # the summary index of the open reasoning block
        self._any_tool = False

    def decode(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        if self._ended:
            return out
        try:
            for ev in self._sse.feed(chunk):
                self._event(ev.event, ev.data, out)
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
            self._event(ev.event, ev.data, out)
        return out

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._block))
            self._open = None

    def _open_block(
        self, kind: Literal["text", "thinking", "tool", "other"], out: list[Event]
    ) -> None:
        self._close(out)
        self._block += 1
        self._open = kind
        if kind == "text" or kind == "thinking":
            out.append(BlockStart(self._block, kind))

    def _event(self, name: str | None, data: bytes, out: list[Event]) -> None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._ended = True
            out.append(
                ErrorEvent(
                    "malformed upstream event", "upstream_unavailable", "upstream_unavailable"
                )
            )
            return
        if not isinstance(obj, dict):
            return
        kind = obj.get("type") or name
        raw = obj.get("response")
        response: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if not self._started and kind != "error":
            self._started = True
            created = response.get("created_at")
            out.append(
                Start(
                    str(response.get("id") or ""),
                    str(response.get("model") or ""),
                    int(created) if isinstance(created, (int, float)) else 0,
                )
            )
        if kind == "response.output_item.added":
            raw_item = obj.get("item")
            item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
            itype = item.get("type")
            if itype == "message":
                self._open_block("text", out)
            elif itype == "reasoning":
                self._open_block("thinking", out)
                self._summary = -1
            elif itype == "function_call":
                self._open_block("tool", out)
                self._any_tool = True
                out.append(
                    ToolCallStart(
                        self._block,
                        upstream_call_id(item.get("call_id"), self._rng),
                        str(item.get("name") or ""),
                    )
                )
                if isinstance(item.get("arguments"), str) and item["arguments"]:
                    out.append(ToolArgsDelta(self._block, item["arguments"]))
            else:
                self._open_block("other", out)
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            if self._open == "text" and isinstance(obj.get("delta"), str) and obj["delta"]:
                out.append(TextDelta(self._block, obj["delta"]))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = obj.get("delta")
            if self._open == "thinking" and isinstance(delta, str) and delta:
                index = obj.get("summary_index", obj.get("content_index", 0))
                if isinstance(index, int) and index > self._summary:
                    if self._summary >= 0:
                        out.append(ThinkingDelta(self._block, "\n\n"))
                    self._summary = index
                out.append(ThinkingDelta(self._block, delta))
        elif kind == "response.function_call_arguments.delta":
            if self._open == "tool" and isinstance(obj.get("delta"), str) and obj["delta"]:
                out.append(ToolArgsDelta(self._block, obj["delta"]))
        elif kind == "response.output_item.done":
            self._close(out)
        elif kind in ("response.completed", "response.incomplete"):
            self._close(out)
            if isinstance(response.get("usage"), dict):
                out.append(UsageEvent(usage_from(response["usage"])))
            details = response.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            stop: StopReason = "end"
            if kind == "response.incomplete":
                stop = STOP_REASONS_IN.get(str(reason), "length")
            elif self._any_tool:
                stop = "tool_call"
            out.append(Finish(stop, reason if isinstance(reason, str) else response.get("status")))
            self._ended = True
        elif kind in ("error", "response.failed"):
            err = obj.get("error") if kind == "error" else response.get("error")
            err = err if isinstance(err, dict) else obj
            if kind == "response.failed" and isinstance(response.get("usage"), dict):
                out.append(UsageEvent(usage_from(response["usage"])))
            code = err.get("code") or err.get("type") or "upstream_error"
            type_ = str(err.get("type") or code)
            out.append(ErrorEvent(str(err.get("message") or ""), type_, str(code)))
            self._ended = True
