"""Pure ASGI middleware of the management API: request ids (R8.6) and the last-resort 500.

RequestId  → every response gets `x-request-id`; the id is on `request.state.request_id`
  CatchAll → an exception no handler took becomes E20, logged with its traceback (R8.5)
    FastAPI's exception handlers and routes
"""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from torouter.api.errors import render
from torouter.errors import error

__all__ = ["BodyLimit", "CatchAll", "RequestId", "new_request_id", "request_id_from"]

log = logging.getLogger("torouter.api")

_SAFE_ID = re.compile(rb"\A[A-Za-z0-9._:-]{1,128}\Z")


def new_request_id() -> str:
    return f"req_{ULID()}"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """A safe incoming `X-Request-Id`, else a fresh `req_<ULID>`."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            return value.decode("ascii") if _SAFE_ID.match(value) else new_request_id()
    return new_request_id()


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.get("state", {})
        # The process's dispatcher may have assigned the id already; keep it then.
        preset = state.get("request_id")
        if isinstance(preset, str) and _SAFE_ID.match(preset.encode()):
            rid = preset
        else:
            rid = request_id_from(scope.get("headers", []))
        # A fresh scope and state: the caller's dicts are never mutated.
        scope = {**scope, "state": {**state, "request_id": rid}}
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != header[0]]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class CatchAll:
    def __init__(self, app: ASGIApp, *, default_language: str = "en") -> None:
        self.app = app
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            rid = scope.get("state", {}).get("request_id", "")
            log.exception("management API error", extra={"request_id": rid})
            if started:
                raise  # the status is gone; let the server drop the connection
            await _send_error(scope, send, "E20", self.default_language)


class BodyLimit:
    """Refuse request bodies over `max_bytes` in the error envelope.

    A declared `content-length` over the limit is answered at once; a body that grows past it
    while streaming raises a 413 `HTTPException` from `receive`, which FastAPI lets through
    to the error handlers (any other exception there would become a generic 400).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, default_language: str = "en") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(scope, send, "E17", self.default_language)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)


async def _send_error(scope: Scope, send: Send, key: str, default_language: str) -> None:
    accept = _header(scope, b"accept-language")
    status, headers, body = render(error(key), accept, default_language)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
