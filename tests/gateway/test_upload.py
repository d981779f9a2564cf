"""Multipart uploads held for replay (SPEC R3.3, R9.3, R18.5): memory up to 1 MiB, then a
temporary file; the size cap (E17); each attempt's bytes with the model field rewritten."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from torouter.errors import GatewayError
from torouter.gateway.upload import SPOOL_BYTES, Upload, read_upload

BOUNDARY = "b0undary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}".encode()


def multipart(model: str, file: bytes, *, stream: str | None = None) -> bytes:
    out = b""
    fields = [("model", model)] + ([("stream", stream)] if stream is not None else [])
    for name, value in fields:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
        "Content-Type: audio/mpeg\r\n\r\n"
    ).encode()
    return out + file + f"\r\n--{BOUNDARY}--\r\n".encode()


def receiver(data: bytes, chunk: int = 65536) -> Callable[[], Awaitable[dict[str, Any]]]:
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]

    async def receive() -> dict[str, Any]:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    return receive


async def sent(upload: Upload, model: str) -> bytes:
    body = upload.payload(model)
    data = b"".join([block async for block in body.chunks()])
    assert len(data) == body.size
    return data


@pytest.mark.parametrize("size", [10, SPOOL_BYTES - 500, 3 * SPOOL_BYTES + 7])
async def test_replayed_bytes_and_model_rewrite(size: int) -> None:
    file = bytes(i % 251 for i in range(size))
    data = multipart("whisper-test", file, stream="true")
    upload = await read_upload(receiver(data), CTYPE, 64 * 1024 * 1024)
    try:
        assert upload.size == len(data)
        assert upload.spooled is (len(data) >= SPOOL_BYTES)
        assert upload.fields() == {"model": "whisper-test", "stream": True}
        assert upload.content_type == CTYPE.decode()
        for _ in range(2):  # every attempt sends the same bytes
            assert await sent(upload, "whisper-test") == data
        rewritten = await sent(upload, "whisper-1")
        assert rewritten == data.replace(b"\r\n\r\nwhisper-test\r\n", b"\r\n\r\nwhisper-1\r\n", 1)
        assert upload.payload("whisper-1").content_type == CTYPE.decode()
    finally:
        upload.close()
    assert not upload.spooled


async def test_over_the_limit_is_e17() -> None:
    data = multipart("m", b"x" * 5000)
    with pytest.raises(GatewayError) as info:
        await read_upload(receiver(data, chunk=1000), CTYPE, 4000)
    assert info.value.code == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize(
    ("ctype", "data"),
    [
        (b"application/json", b"{}"),
        (CTYPE, b"--" + BOUNDARY.encode() + b"\r\nno headers end"),
    ],
    ids=["not-multipart", "malformed"],
)
async def test_refused_bodies_are_e16(ctype: bytes, data: bytes) -> None:
    with pytest.raises(GatewayError) as info:
        await read_upload(receiver(data), ctype, 1 << 20)
    assert info.value.code == "INVALID_REQUEST"


async def test_client_gone_before_the_body() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(GatewayError):
        await read_upload(receive, CTYPE, 1 << 20)
