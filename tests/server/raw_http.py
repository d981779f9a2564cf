"""Raw HTTP/1.1 over a socket: requests built byte by byte, answers read to the close."""

from __future__ import annotations

import socket

__all__ = [
    "big_headers",
    "parse_closing",
    "parse_head",
    "read_all",
    "read_response",
    "send_until_refused",
]

KiB = 1024


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a content-length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before a response"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    size = int(headers["content-length"])
    while len(rest) < size:
        rest += sock.recv(65536)
    return status, headers, rest


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def parse_closing(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return status, headers, body


def big_headers(total: int, *, request_id: str | None = None) -> bytes:
    lines = [b"GET /big HTTP/1.1", b"Host: x"]
    if request_id:
        lines.append(b"X-Request-Id: " + request_id.encode())
    i = 0
    while sum(len(x) + 2 for x in lines) < total:
        lines.append(b"X-Fill-%d: " % i + b"a" * 1000)
        i += 1
    return b"\r\n".join(lines) + b"\r\n\r\n"


def send_until_refused(sock: socket.socket, data: bytes, piece: int = 16 * KiB) -> int:
    """Send `data` in pieces until the server stops taking it; returns the bytes sent."""
    sent = 0
    try:
        while sent < len(data):
            sock.sendall(data[sent : sent + piece])
            sent += piece
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent
