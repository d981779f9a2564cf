"""Multipart uploads held for replay (SPEC R3.3, R9.3, R18.5).

An upload is read once, size-capped (`gateway.max_multipart_bytes`, E17), scanned for its text
fields on the way (`protocols/multipart.py`) and held so that each failover attempt can send it
again: in memory up to `SPOOL_BYTES`, then in an anonymous temporary file, written and read in
blocks off the event loop. Memory per upload therefore stays near one block whatever its size.
Each attempt sends the bytes as received, except that the `model` field's value is replaced when
the channel maps the model to another upstream id.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from torouter.asgi import Receive
from torouter.errors import error
from torouter.protocols.multipart import MultipartError, MultipartScanner, boundary_of

__all__ = ["SPOOL_BYTES", "Upload", "read_upload"]

SPOOL_BYTES = 1024 * 1024  # held in memory up to this; spooled to a temporary file above
_BLOCK = 1024 * 1024


class Upload:
    """One received multipart body: its text fields, its bytes (memory or temp file)."""

    def __init__(self, scanner: MultipartScanner, content_type: str) -> None:
        self.content_type = content_type
        self.scanner = scanner
        self.size = 0
        self._memory = bytearray()
        self._file: IO[bytes] | None = None

    @property
    def spooled(self) -> bool:
        return self._file is not None

    def fields(self) -> dict[str, Any]:
        """The text fields as the gateway reads them (R3.1): `stream` as a boolean."""
        out: dict[str, Any] = dict(self.scanner.fields())
        if "stream" in out:
            out["stream"] = out["stream"].strip().lower() == "true"
        return out

    async def _append(self, data: bytes) -> None:
        self._memory += data
        self.size += len(data)
        if len(self._memory) >= SPOOL_BYTES:
            await self._spill()

    async def _spill(self) -> None:
        if not self._memory:
            return
        if self._file is None:
            self._file = await asyncio.to_thread(tempfile.TemporaryFile)
        block, self._memory = bytes(self._memory), bytearray()
        await asyncio.to_thread(self._file.write, block)

    async def _finish(self) -> None:
        if self._file is not None:
            await self._spill()
            await asyncio.to_thread(self._file.flush)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Async iterator over the body bytes [start, end), in blocks."""
        if self._file is None:
            if start < end:
                yield bytes(self._memory[start:end])
            return
        fd = self._file.fileno()
        pos = start
        while pos < end:
            n = min(_BLOCK, end - pos)
            block = await asyncio.to_thread(os.pread, fd, n, pos)
            if not block:
                raise OSError("the spooled upload is shorter than expected")
            yield block
            pos += len(block)

    def payload(self, model: str) -> UploadBody:
        """The body for one attempt, with the `model` field's value set to `model`."""
        part = self.scanner.field("model")
        segments: list[tuple[int, int] | bytes] = [(0, self.size)]
        if part is not None and bytes(part.value) != model.encode():
            segments = [(0, part.start), model.encode(), (part.end, self.size)]
        return UploadBody(self, segments)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # an anonymous temporary file: closing deletes it
            self._file = None
        self._memory = bytearray()


class UploadBody:
    """One attempt's body (an `upstreams.transport.StreamedBody`): the upload's bytes in
    blocks, the `model` field's value replaced, with its exact length."""

    __slots__ = ("_segments", "_upload", "size")

    def __init__(self, upload: Upload, segments: list[tuple[int, int] | bytes]) -> None:
        self._upload = upload
        self._segments = segments
        self.size = sum(len(s) if isinstance(s, bytes) else s[1] - s[0] for s in segments)

    @property
    def content_type(self) -> str:
        return self._upload.content_type

    async def chunks(self) -> AsyncIterator[bytes]:
        for seg in self._segments:
            if isinstance(seg, bytes):
                yield seg
            else:
                async for block in self._upload.read(*seg):
                    yield block


async def read_upload(
    receive: Receive, content_type: bytes | None, limit: int, *, required: str = "model"
) -> Upload:
    """Read a multipart body (at most `limit` bytes, else E17) and scan its fields."""
    ctype = (content_type or b"").decode("latin-1")
    boundary = boundary_of(ctype)
    if boundary is None:
        raise error("E16", "the request body must be multipart/form-data", param="file")
    upload = Upload(MultipartScanner(boundary), ctype)
    try:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise error("E16", "client disconnected before sending the body")
            chunk = msg.get("body", b"")
            if chunk:
                if upload.size + len(chunk) > limit:
                    raise error("E17")
                upload.scanner.feed(chunk)
                await upload._append(chunk)
            if not msg.get("more_body", False):
                break
        upload.scanner.close()
        await upload._finish()
    except MultipartError as exc:
        upload.close()
        raise error("E16", f"malformed multipart body: {exc}", param=required) from None
    except BaseException:
        upload.close()
        raise
    return upload
