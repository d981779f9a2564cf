"""R18.5's limits on what a client may make the server hold, and the answer that refuses it.

Shared by both HTTP protocols `serve` can run (`server.protocol`): the native one
(`torouter/server/native.py`) and uvicorn's with the limits added (`torouter/server/protocol.py`),
so that both refuse with the same bytes.
"""

from __future__ import annotations

import http
from dataclasses import dataclass

from torouter.config import ServerSettings

__all__ = ["HttpLimits", "refusal", "status_line"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 30.0
    body_timeout_s: float = 60.0

    @classmethod
    def of(cls, server: ServerSettings) -> HttpLimits:
        return cls(server.max_header_bytes, server.header_timeout_s, server.body_timeout_s)


def status_line(status: int) -> bytes:
    """`HTTP/1.1 <status> <phrase>` and CRLF (an unknown status has an empty phrase)."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


def refusal(
    status: int, text: str, default_headers: list[tuple[bytes, bytes]], request_id: str
) -> bytes:
    """The whole answer the server makes itself before closing: plain text, `connection:
    close` and the request's id (R8.6)."""
    body = text.encode("ascii")
    head = [status_line(status)]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: ",
        str(len(body)).encode("ascii"),
        b"\r\nconnection: close\r\nx-request-id: ",
        request_id.encode("ascii"),
        b"\r\n\r\n",
        body,
    ]
    return b"".join(head)
