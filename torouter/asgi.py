"""The ASGI types, once, and the gateway's hand-built answers: a whole response in one body
(JSON, an error, a relayed answer) and the head of a stream.

A leaf (imports nothing from the project), so the dispatcher, the gateway and the middleware
share the aliases. The helpers keep every answer's head in one order — content type, length,
`x-request-id` (R8.6), then the caller's extra headers — and cost one call: headers stay raw
byte pairs, nothing is copied but the list ASGI needs anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "Headers",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "respond",
    "start_stream",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]

JSON = b"application/json"


async def respond(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    *extra: Headers,
    content_type: bytes = JSON,
) -> None:
    """A whole answer: its head (`content-type`, `content-length`, `x-request-id`, then each of
    `extra` in order) and one body."""
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    for more in extra:
        headers.extend(more)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def start_stream(
    send: Send, status: int, head: Headers, request_id: str, *extra: Headers
) -> None:
    """The head of a streamed answer: `head` (its content type and caching), `x-request-id`,
    then each of `extra`; the body follows in `more_body` sends."""
    headers = list(head)
    headers.append((b"x-request-id", request_id.encode()))
    for more in extra:
        headers.extend(more)
    await send({"type": "http.response.start", "status": status, "headers": headers})
