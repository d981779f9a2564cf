"""Incremental server-sent-events parsing (the WHATWG rules the providers' SDKs follow). Pure.

`SSEParser.feed(chunk)` takes bytes split anywhere and returns the events completed by them;
only the current partial line and the current event's lines are held, bounded by
`max_event_bytes`. Lines end in `\\n` or `\\r\\n` (Gemini separates events with `\\r\\n\\r\\n`);
comment lines (`: OPENROUTER PROCESSING`) and `id:`/`retry:` fields are skipped.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MAX_EVENT_BYTES", "EventTooLarge", "SSEEvent", "SSEParser"]

MAX_EVENT_BYTES = 16 * 1024 * 1024  # stream.max_event_bytes (R4.10)


_new = tuple.__new__


class EventTooLarge(ValueError):
    """One event grew past the limit; the relay ends the stream with an error (R4.10)."""


class SSEEvent(NamedTuple):  # a tuple: built per event, cheaper than a frozen dataclass
    event: str | None
    data: bytes


class SSEParser:
    __slots__ = ("_data", "_event", "_max", "_partial", "_partial_size", "_size")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._partial: list[bytes] = []  # the current line's pieces, joined once it ends
        self._partial_size = 0
        self._data: list[bytes] = []
        self._event: str | None = None
        self._size = 0  # data bytes of the current event
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        # Fast path: the events of a read split on their blank lines at once, one slice per
        # event instead of a call per line. Only for LF-only bytes; the line path below takes
        # what comes before the first blank line while an event is in progress, and the tail
        # after the last one. Equivalent to the line path: a block between blank lines is that
        # event's lines, then the blank line that dispatches it. CRLF (Gemini) becomes LF first
        # unless a CR is left that ends no line here (split from its LF, or a stray one).
        if b"\r" in chunk:
            lf = chunk.replace(b"\r\n", b"\n")
            if b"\r" in lf:
                return self._lines(chunk)
            chunk = lf
        cut = chunk.find(b"\n\n")
        if cut < 0:
            return self._lines(chunk)
        out: list[SSEEvent] = []
        start = 0
        if self._partial or self._data or self._event is not None:
            out = self._lines(chunk[: cut + 2])
            start = cut + 2
        end = chunk.rfind(b"\n\n")
        if end >= start:
            for block in chunk[start:end].split(b"\n\n"):
                nl = block.find(b"\n")
                name: str | None = None
                if nl >= 0 and block[:6] == b"event:":  # a named event (Anthropic's, Responses')
                    if block[6:7] == b" ":
                        name = block[7:nl].decode("utf-8", "replace")
                    else:
                        name = block[6:nl].decode("utf-8", "replace")
                    line = block[nl + 1 :]
                else:
                    line = block
                if line[:5] == b"data:" and (nl < 0 if name is None else b"\n" not in line):
                    data = line[6:] if line[5:6] == b" " else line[5:]
                    if len(data) + 1 > self._max:
                        raise EventTooLarge(f"an event exceeded {self._max} bytes")
                    out.append(_new(SSEEvent, (name, data)))  # without NamedTuple's __new__
                    continue
                for line in block.split(b"\n"):
                    self._line(line, out)
                self._line(b"", out)
            start = end + 2
        if start < len(chunk):
            out += self._lines(chunk[start:])
        return out

    def data_lines(self, chunk: bytes) -> list[bytes] | None:
        """The data of every event in `chunk` when it is nothing but whole unnamed one-line
        events (`data: …` and a blank line each) and nothing is held from earlier reads; else
        None, and `feed` takes it. Three C passes instead of a Python step per event (the
        usual read of an OpenAI-compatible stream): every newline must belong to an event's
        end, so no block has a second line, a name, an id or a comment."""
        if self._partial or self._data or self._event is not None or len(chunk) > self._max:
            return None
        if not (chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")):
            return None
        datas = chunk[6:-2].split(b"\n\ndata: ")
        # No newline but the separators': one copy and a memchr, cheaper than counting them.
        if b"\n" in (datas[0] if len(datas) == 1 else b"".join(datas)):
            return None
        return datas

    def _lines(self, chunk: bytes) -> list[SSEEvent]:
        end = chunk.rfind(b"\n")
        if end < 0:
            self._hold(chunk)
            return []
        head = chunk[:end]
        if self._partial:
            head = b"".join(self._partial) + head
            self._partial, self._partial_size = [], 0
        out: list[SSEEvent] = []
        for line in head.split(b"\n"):
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
        if end + 1 < len(chunk):
            self._hold(chunk[end + 1 :])
        return out

    def flush(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line still counts."""
        out: list[SSEEvent] = []
        if self._partial:
            line = b"".join(self._partial)
            self._partial, self._partial_size = [], 0
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
        self._line(b"", out)
        return out

    def _hold(self, piece: bytes) -> None:
        self._partial.append(piece)
        self._partial_size += len(piece)
        if self._size + self._partial_size > self._max:
            raise EventTooLarge(f"an event exceeded {self._max} bytes")

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                out.append(SSEEvent(self._event, b"\n".join(self._data)))
            self._data, self._event, self._size = [], None, 0
            return
        if line[0] == 0x3A:  # ':' comment
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._size += len(value) + 1
            if self._size > self._max:
                raise EventTooLarge(f"an event exceeded {self._max} bytes")
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
