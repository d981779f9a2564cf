"""Same-protocol stream relays (SPEC R4.1–R4.6, R5.3): bytes out as they come, usage peeked.

Each relayer takes upstream reads (`feed`), returns the bytes to send for the events those reads
completed, and keeps only the partial event. Only events that carry usage are parsed, but every
read is checked to hold whole JSON events (`valid_prefix`): a malformed event is never passed on;
the stream ends before it with the in-stream error (R4.6, `upstream_unavailable`).

An upstream error event is relayed as the provider sent it, and is the stream's one error event:
the relay then only completes the framing (`finish_after_error`), never adds its own.
"""

from __future__ import annotations

from typing import Any

import orjson

from torouter.protocols import envelopes, openai_chat
from torouter.protocols.envelopes import Surface
from torouter.protocols.internal import Usage
from torouter.protocols.media import StreamMeter
from torouter.protocols.openai_responses_stream import TERMINAL, in_stream_error
from torouter.protocols.shapes import UpstreamShapeError
from torouter.protocols.usage import from_gemini, from_openai, merge_anthropic

__all__ = [
    "AnthropicPassthrough",
    "BinaryPassthrough",
    "GeminiPassthrough",
    "MediaPassthrough",
    "OpenAIPassthrough",
    "ResponsesPassthrough",
    "StreamRelayer",
]


def valid_prefix(events: bytes, separator: bytes) -> int:
    """How many bytes of these complete events are well-formed SSE with JSON data (all of them
    when nothing is wrong). The common case costs two `count` passes (~9 µs for a 7.5 KB
    stream; parsing every event would cost ten times that): every `data:` line of a healthy
    stream ends with the `}` of its object and the event's end, or is `[DONE]`. Only a read
    where that does not add up — a truncated, spliced or foreign line, a field after the data
    line, or merely `data:` inside a string or whitespace after the brace — is parsed event by
    event, the SSE way (data lines joined)."""
    lines = events.count(b"data:")
    # Relayers turn CRLF into LF, except Gemini's, whose events end in CRLF CRLF. The longer
    # needle is the faster one (`}\n` alone takes ~6 µs for 7.5 KB, `}\n\n` ~4.5).
    ends = events.count(b"}\r\n\r\n" if separator == b"\r\n\r\n" else b"}\n\n")
    if lines > ends and events.rfind(b"[DONE]") >= 0:  # `rfind`: [DONE] comes last
        ends += 1 if lines == ends + 1 else events.count(b"[DONE]")
    if lines <= ends:
        return len(events)
    return parsed_prefix(events, separator)


def parsed_prefix(events: bytes, separator: bytes) -> int:
    """`valid_prefix` the slow way: every event parsed, the SSE way (data lines joined)."""
    pos = 0
    step = len(separator)
    for ev in events.split(separator):
        data = [ln[5:] for ln in ev.splitlines() if ln.startswith(b"data:")]
        if data:
            payload = b"\n".join(ln[1:] if ln.startswith(b" ") else ln for ln in data)
            if payload.strip() != b"[DONE]":
                try:
                    obj = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return pos
                if not isinstance(obj, dict):
                    return pos
        pos += len(ev) + step
    return len(events)


def _data(event: bytes) -> Any:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                return orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return None
    return None


# Relayed events whose characters are not counted yet, at most this many bytes per stream.
_UNCOUNTED_MAX = 32 * 1024


class StreamRelayer:
    """Common state: usage seen, end seen, characters delivered, an upstream error event.

    The characters delivered (`chars`: R10.1's output estimate) are counted only when asked
    for, which a stream that reports its usage never is: each read relayed is kept, up to
    `_UNCOUNTED_MAX` bytes (beyond it the oldest are counted and let go), and counted by
    `chars`. Counting every read as it went cost ~14 µs of a 7.5 KB stream's ~300.
    """

    separator = b"\n\n"
    _marks: tuple[bytes, ...] = ()  # the JSON strings whose characters `chars` counts

    def __init__(self, max_event: int) -> None:
        self.usage: Usage | None = None
        self.done = False
        self._chars = 0
        self._uncounted: list[bytes] = []
        self._uncounted_size = 0
        self.upstream_error: tuple[str, str] | None = None  # (type, message) from the stream
        self.failed = False  # the stream ended as the upstream's own failure (response.failed)
        self.overflow = False
        self.malformed = False  # an event that is not SSE with JSON data: the stream ends there
        self._buf = b""
        self._max = max_event

    @property
    def chars(self) -> int:
        """Characters of the content strings relayed so far."""
        if self._uncounted:
            self._count()
        return self._chars

    @chars.setter
    def chars(self, value: int) -> None:
        if self._uncounted:
            self._count()
        self._chars = value

    def _defer_count(self, events: bytes) -> None:
        """Keep a read relayed for `chars` to count if it is ever asked for."""
        self._uncounted.append(events)
        self._uncounted_size += len(events)
        if self._uncounted_size > _UNCOUNTED_MAX:
            self._count()

    def _count(self) -> None:
        marks = self._marks
        self._chars += sum(openai_chat.string_chars(ev, marks) for ev in self._uncounted)
        self._uncounted = []
        self._uncounted_size = 0

    def feed(self, chunk: bytes) -> bytes:
        buf = self._buf + chunk
        if b"\r" in chunk and self.separator == b"\n\n":
            buf = buf.replace(b"\r\n", b"\n")
        cut = buf.rfind(self.separator)
        if cut < 0:
            self._buf = buf
            if len(buf) > self._max:
                self.overflow = True
            return b""
        end = cut + len(self.separator)
        events, self._buf = buf[:end], buf[end:]
        return self._checked(events)

    def close(self) -> bytes:
        """Upstream EOF: some upstreams omit the last blank line (`data: [DONE]\\n`)."""
        rest, self._buf = self._buf, b""
        if rest.strip():
            return self._checked(rest.rstrip(b"\r\n") + self.separator)
        return b""

    def _checked(self, events: bytes) -> bytes:
        good = valid_prefix(events, self.separator)
        if good < len(events):
            self.malformed = True  # what came before is relayed; the relay ends the stream
            events = events[:good]
            if not events:
                return b""
        try:
            return self.events(events)
        except UpstreamShapeError:  # e.g. a usage block of the wrong type: this read is dropped
            self.malformed = True
            return b""

    def events(self, events: bytes) -> bytes:
        raise NotImplementedError

    def error_tail(
        self, front: Surface, message: str, type_: str, code: str, *, sse: bool
    ) -> bytes:
        """The in-stream error that ends a stream cut after the first byte (R4.6)."""
        return envelopes.stream_error(front, message, type_, code, sse=sse)

    def finish_after_error(self) -> bytes:
        """What completes the stream after the upstream's own error event went out (R4.6)."""
        return b""


class OpenAIPassthrough(StreamRelayer):
    _marks = openai_chat.CHAR_MARKS

    def __init__(self, max_event: int, *, keep_usage: bool, openrouter: bool = False) -> None:
        super().__init__(max_event)
        self._keep = keep_usage
        self._openrouter = openrouter

    def events(self, events: bytes) -> bytes:
        if self._openrouter and b'"reasoning"' in events:
            events = _copy_reasoning(events)
        out, usage = openai_chat.scan_stream(events, self._keep)
        if usage is not None:
            self.usage = from_openai(usage)
        self._defer_count(events)
        # `rfind` for what is usually absent, or last: it scans 7.5 KB in ~1 µs, `in` in ~3.
        if events.rfind(b'data: {"error"') >= 0:
            obj = _data(events[events.find(b'data: {"error"') :])
            err = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(err, dict):
                self.upstream_error = (str(err.get("type")), str(err.get("message")))
        if events.rfind(openai_chat.DONE) >= 0:
            self.done = True
        return out

    def finish_after_error(self) -> bytes:
        return b"" if self.done else openai_chat.DONE


def _copy_reasoning(events: bytes) -> bytes:
    """OpenRouter: `delta.reasoning` → `delta.reasoning_content` when absent (R4.2)."""
    out = []
    for ev in events.split(b"\n\n"):
        if b'"reasoning"' in ev and ev.startswith(b"data: {"):
            try:
                obj = orjson.loads(ev[6:])
            except orjson.JSONDecodeError:
                out.append(ev)
                continue
            changed = False
            for choice in obj.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("reasoning") and "reasoning_content" not in delta:
                    delta["reasoning_content"] = delta["reasoning"]
                    changed = True
            out.append(b"data: " + orjson.dumps(obj) if changed else ev)
        else:
            out.append(ev)
    return b"\n\n".join(out)


class AnthropicPassthrough(StreamRelayer):
    _marks = (b'"text":"', b'"thinking":"', b'"partial_json":"')

    def events(self, events: bytes) -> bytes:
        if b'"usage"' in events:
            for ev in events.split(b"\n\n"):
                if b'"usage"' not in ev:
                    continue
                obj = _data(ev)
                if not isinstance(obj, dict):
                    continue
                if obj.get("type") == "message_start":
                    u = (obj.get("message") or {}).get("usage")
                    if isinstance(u, dict):
                        self.usage = merge_anthropic(None, u)
                elif obj.get("type") == "message_delta" and isinstance(obj.get("usage"), dict):
                    self.usage = merge_anthropic(self.usage, obj["usage"])
        self._defer_count(events)
        if b"event: error" in events:
            obj = _data(events[events.find(b"event: error") :])
            err = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(err, dict):
                self.upstream_error = (str(err.get("type")), str(err.get("message")))
        if b"message_stop" in events:
            self.done = True
        return events


class GeminiPassthrough(StreamRelayer):
    """`data: {…}\\r\\n\\r\\n` events; or, for a client without `alt=sse`, a streamed JSON array."""

    separator = b"\r\n\r\n"
    _marks = (b'"text":"', b'"text": "')

    def __init__(self, max_event: int, *, as_array: bool = False) -> None:
        super().__init__(max_event)
        self._array = as_array
        self._opened = False
        self._closed = False

    def feed(self, chunk: bytes) -> bytes:
        if b"\r\n\r\n" not in chunk and b"\n\n" in chunk and not self._buf.endswith(b"\r"):
            chunk = chunk.replace(b"\n\n", b"\r\n\r\n")
        return super().feed(chunk)

    def events(self, events: bytes) -> bytes:
        i = events.rfind(b'"usageMetadata"')
        if i >= 0:
            start = events.rfind(b"data:", 0, i)
            obj = _data(events[start:]) if start >= 0 else None
            if isinstance(obj, dict) and isinstance(obj.get("usageMetadata"), dict):
                self.usage = from_gemini(obj["usageMetadata"])
        self._defer_count(events)
        if b'data: {"error"' in events:
            obj = _data(events[events.find(b'data: {"error"') :])
            err = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(err, dict):
                self.upstream_error = (str(err.get("status")), str(err.get("message")))
        if not self._array:
            return events
        parts = []
        for ev in events.split(self.separator):
            if ev.startswith(b"data:"):
                parts.append((b"[" if not self._opened else b",\r\n") + ev[5:].strip())
                self._opened = True
        return b"".join(parts)

    def close(self) -> bytes:
        out = super().close()
        if self.upstream_error is None and not self.malformed:
            self.done = True  # a Gemini stream simply ends
        return out + self._close_array()

    def _close_array(self) -> bytes:
        if not self._array or self._closed:
            return b""
        self._closed = True
        return b"]" if self._opened else b"[]"

    def finish_after_error(self) -> bytes:
        return self._close_array()


class ResponsesPassthrough(StreamRelayer):
    """A Responses stream relayed as received (R4.3): every named event in order; usage from
    the final event (`response.completed`, `.incomplete` or `.failed`), which ends it."""

    _marks = (b'"delta":"',)
    _SEQ = b'"sequence_number":'
    _PEEK = (
        b"response.created",
        b'"type":"error"',
        b"event: error",
        *(k.encode() for k in TERMINAL),
    )

    def __init__(self, max_event: int) -> None:
        super().__init__(max_event)
        self.response_id: str | None = None
        self._shell: dict[str, Any] | None = None
        self._seq = -1  # the last sequence number relayed

    def events(self, events: bytes) -> bytes:
        i = events.rfind(self._SEQ)
        if i >= 0:
            j = i + len(self._SEQ)
            digits = events[j : j + 20].lstrip().split(b",", 1)[0].split(b"}", 1)[0]
            if digits.isdigit():
                self._seq = int(digits)
        else:
            self._seq += events.count(b"\n\n")
        self._defer_count(events)
        if any(m in events for m in self._PEEK):
            for ev in events.split(b"\n\n"):
                if any(m in ev for m in self._PEEK):
                    self._peek(ev)
        return events

    def _peek(self, ev: bytes) -> None:
        obj = _data(ev)
        if not isinstance(obj, dict):
            return
        kind = obj.get("type")
        resp = obj.get("response")
        if kind == "response.created" and isinstance(resp, dict) and self._shell is None:
            self._shell = {k: v for k, v in resp.items() if k != "output"}
            rid = resp.get("id")
            self.response_id = rid if isinstance(rid, str) else None
        elif kind == "error":
            err = e if isinstance(e := obj.get("error"), dict) else obj
            self.upstream_error = (str(err.get("type") or err.get("code")), str(err.get("message")))
        elif kind in TERMINAL and isinstance(resp, dict):
            u = resp.get("usage")
            if isinstance(u, dict):
                self.usage = from_openai(u)
            if kind == "response.failed":
                err = e if isinstance(e := resp.get("error"), dict) else {}
                self.upstream_error = (
                    str(err.get("code") or "server_error"),
                    str(err.get("message") or "The response failed upstream"),
                )
                self.failed = True
            self.done = True

    def error_tail(
        self, front: Surface, message: str, type_: str, code: str, *, sse: bool
    ) -> bytes:
        return in_stream_error(
            message, type_, code, sequence_number=self._seq + 1, response=self._shell
        )

    def finish_after_error(self) -> bytes:
        """After the upstream's `error` event: the `response.failed` that ends a Responses
        stream (R4.6), unless the upstream sent its final event itself."""
        if self.done:
            return b""
        assert self.upstream_error is not None
        type_, message = self.upstream_error
        both = in_stream_error(
            message, type_, type_, sequence_number=self._seq, response=self._shell
        )
        return both[both.index(b"event: response.failed") :]


class MediaPassthrough(StreamRelayer):
    """Image, transcript and speech event streams (`data:` or named events), relayed as
    received; they end at EOF. Usage per R10.6 (`protocols/media.py`)."""

    _marks = (b'"delta":"',)

    def __init__(self, max_event: int, operation: str, base: Usage | None = None) -> None:
        super().__init__(max_event)
        self._meter = StreamMeter(operation, base)
        self.usage = self._meter.usage

    def events(self, events: bytes) -> bytes:
        for ev in events.split(b"\n\n"):
            if b'"usage"' in ev or b"completed" in ev or b'"error"' in ev:
                obj = _data(ev)
                if not isinstance(obj, dict):
                    continue
                err = obj.get("error")
                if isinstance(err, dict):
                    self.upstream_error = (str(err.get("type")), str(err.get("message")))
                self._meter.event(obj)
        self.usage = self._meter.usage
        if b'"delta":"' in events and b"transcript" in events:
            self._defer_count(events)
        return events

    def close(self) -> bytes:
        out = super().close()
        self.done = self.upstream_error is None and not self.malformed
        return out


class BinaryPassthrough(StreamRelayer):
    """Bytes relayed as they come (speech audio); complete at EOF. Nothing is parsed."""

    def __init__(self, max_event: int, usage: Usage | None = None) -> None:
        super().__init__(max_event)
        self.usage = usage

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        self.done = True
        return b""

    def error_tail(
        self, front: Surface, message: str, type_: str, code: str, *, sse: bool
    ) -> bytes:
        return b""  # no in-band error in audio: the connection ends short of content-length
