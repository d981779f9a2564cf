"""Calling the gateway in-process, as the playground does (R15.1): the request takes the
gateway's own path (admission, reservation, relay, settlement, usage row) and is billed to
the key, exactly like one that came over the network.

The key is either a pasted key (sent as `Authorization: Bearer`) or one of the signed-in
user's keys, named by its hash in the scope (`credentials.INTERNAL_KEY_HASH`), since the
server never knows a stored key's plaintext. The caller's address, forwarding header,
language and user agent go along, so IP rules and messages apply as they would directly.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from torouter.asgi import ASGIApp
from torouter.asgi import Receive as GatewayReceive
from torouter.gateway.credentials import INTERNAL_KEY_HASH

__all__ = ["GatewayAnswer", "GatewayRelay", "call_gateway", "chat_scope"]

_PASSED = (b"x-forwarded-for", b"accept-language", b"user-agent")
CHAT_PATH = "/v1/chat/completions"


def chat_scope(
    outer: Scope,
    *,
    body: bytes,
    request_id: str,
    key_hash: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """A scope for `POST /v1/chat/completions` from the caller's own request scope."""
    headers = [(k, v) for k, v in outer.get("headers", []) if k.lower() in _PASSED]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode("ascii")),
    ]
    if api_key is not None:
        headers.append((b"authorization", f"Bearer {api_key}".encode("latin-1", "replace")))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": outer.get("asgi", {"version": "3.0"}),
        "http_version": outer.get("http_version", "1.1"),
        "method": "POST",
        "scheme": outer.get("scheme", "http"),
        "path": CHAT_PATH,
        "raw_path": CHAT_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": outer.get("client"),
        "server": outer.get("server"),
        "state": {},
    }
    if key_hash is not None:
        scope[INTERNAL_KEY_HASH] = key_hash
    return scope


def _receive_body(body: bytes, outer: Receive | None) -> GatewayReceive:
    """The body once; after it, the caller's own `receive` (its disconnect ends the stream)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if outer is None:
            return {"type": "http.disconnect"}
        msg = await outer()  # servers send dicts; the gateway's messages are typed as such
        return msg if isinstance(msg, dict) else dict(msg)

    return receive


class GatewayRelay(Response):
    """A response that is the gateway's answer, streamed through as it comes."""

    def __init__(self, gateway: ASGIApp, scope: dict[str, Any], body: bytes) -> None:
        super().__init__()
        self._gateway = gateway
        self._scope = scope
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._gateway(self._scope, _receive_body(self._body, receive), send)


class GatewayAnswer:
    """A collected gateway answer (the console's no-JavaScript playground)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def call_gateway(gateway: ASGIApp, scope: dict[str, Any], body: bytes) -> GatewayAnswer:
    answer = GatewayAnswer()
    await gateway(scope, _receive_body(body, None), answer.send)
    return answer
