"""Incremental `multipart/form-data` scanning (RFC 7578) for uploads (SPEC R3.1, R3.3). Pure.

The gateway forwards multipart bodies byte for byte; it reads only the small text fields (the
`model`, `stream`) and the size of each part. `MultipartScanner.feed(chunk)` takes the body
split anywhere and keeps at most one delimiter's worth of bytes plus the current part's headers
(bounded), so memory does not grow with the upload. The byte span of each text field's value is
recorded so the model id can be rewritten without re-encoding the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MultipartError", "MultipartScanner", "Part", "boundary_of"]

MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024


class MultipartError(ValueError):
    """The body is not a well-formed multipart/form-data body."""


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None
    start: int  # offset of the value's first byte in the body
    end: int = -1  # offset just past the value
    value: bytearray = field(default_factory=bytearray)  # text fields only, capped

    @property
    def size(self) -> int:
        return self.end - self.start


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a `multipart/form-data; boundary=…` content type, else None."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if 0 < len(value) <= 200:
                return value.encode("latin-1")
    return None


def _params(header: str) -> dict[str, str]:
    """`form-data; name="model"; filename="a.png"` → {"name": "model", "filename": "a.png"}."""
    out: dict[str, str] = {}
    for item in header.split(";")[1:]:
        key, sep, value = item.strip().partition("=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"')
            out[key.strip().lower()] = value
    return out


class MultipartScanner:
    """Push parser: `feed()` the body in pieces, then `close()`; `parts` lists every part."""

    __slots__ = ("_buf", "_delim", "_first", "_part", "_pos", "_state", "parts")

    def __init__(self, boundary: bytes) -> None:
        self._first = b"--" + boundary
        self._delim = b"\r\n--" + boundary
        self._buf = b""
        self._pos = 0  # body offset of _buf[0]
        self._state = "preamble"  # preamble | after | headers | data | end
        self._part: Part | None = None
        self.parts: list[Part] = []

    @property
    def complete(self) -> bool:
        return self._state == "end"

    def fields(self) -> dict[str, str]:
        """Text fields (parts without a filename), first value per name."""
        out: dict[str, str] = {}
        for p in self.parts:
            if p.filename is None and p.name not in out:
                out[p.name] = p.value.decode("utf-8", "replace")
        return out

    def field(self, name: str) -> Part | None:
        for p in self.parts:
            if p.filename is None and p.name == name:
                return p
        return None

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        while self._step():
            pass

    def close(self) -> None:
        if self._state != "end":
            raise MultipartError("the multipart body ended before its closing boundary")

    def _consume(self, n: int) -> None:
        self._buf = self._buf[n:]
        self._pos += n

    def _step(self) -> bool:
        """One state transition; False when more bytes are needed."""
        state, buf = self._state, self._buf
        if state == "preamble":
            i = buf.find(self._first)
            if i < 0:
                keep = len(self._first) - 1
                if len(buf) > keep:
                    self._consume(len(buf) - keep)
                return False
            self._consume(i + len(self._first))
            self._state = "after"
            return True
        if state == "after":  # just past a delimiter: `--` ends the body, CRLF starts a part
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self._state = "end"
                self._consume(len(buf))
                return False
            if buf[:2] != b"\r\n":
                raise MultipartError("malformed multipart boundary line")
            self._consume(2)
            self._state = "headers"
            return True
        if state == "headers":
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                if len(buf) > MAX_HEADER_BYTES:
                    raise MultipartError("multipart part headers too large")
                return False
            self._part = self._headers(buf[:i].decode("utf-8", "replace"), self._pos + i + 4)
            self.parts.append(self._part)
            self._consume(i + 4)
            self._state = "data"
            return True
        if state == "data":
            part = self._part
            assert part is not None
            i = buf.find(self._delim)
            if i < 0:
                safe = len(buf) - (len(self._delim) - 1)
                if safe > 0:
                    self._keep(part, buf[:safe])
                    self._consume(safe)
                return False
            self._keep(part, buf[:i])
            part.end = self._pos + i
            self._consume(i + len(self._delim))
            self._state = "after"
            return True
        self._consume(len(buf))  # end: the epilogue is ignored
        return False

    @staticmethod
    def _keep(part: Part, data: bytes) -> None:
        if part.filename is None and len(part.value) < MAX_FIELD_BYTES:
            part.value += data[: MAX_FIELD_BYTES - len(part.value)]

    @staticmethod
    def _headers(text: str, start: int) -> Part:
        disposition = ""
        for line in text.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        if not disposition.lower().startswith("form-data"):
            raise MultipartError("a multipart part without Content-Disposition: form-data")
        params = _params(disposition)
        name = params.get("name", "")
        return Part(name=name, filename=params.get("filename"), start=start)
