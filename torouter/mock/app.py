"""The mock providers as one raw ASGI application.

A request reads top to bottom: normalise the path (strip the mount, ``/mock`` and a provider
prefix such as ``/anthropic``), route it (a pure function of method, path and auth signals),
check the credential, read the body, then hand it to the provider's handler.

Routes (also under ``/openai``, ``/anthropic``, ``/gemini`` and ``/mock/…``, which pin the
provider): OpenAI ``/v1/chat/completions``, ``/v1/responses`` (+ ``/input_tokens``),
``/v1/embeddings``, ``/v1/images/generations|edits``, ``/v1/audio/transcriptions|speech``,
``/v1/completions``, ``/v1/moderations``, ``/v1/rerank``, Azure-style
``/deployments/{name}/…``; Anthropic ``/v1/messages`` (+ ``/count_tokens``); Gemini
``/v1beta|v1/models/{model}:{action}``; ``GET /v1/models[/{id}]`` in the format the auth headers
point to (``x-goog-api-key`` or ``?key=`` → Gemini, ``x-api-key`` or ``anthropic-version`` →
Anthropic, else OpenAI) and ``GET /v1beta/models[/{id}]``.

Credentials: OpenAI ``Authorization: Bearer`` (or Azure ``api-key``); Anthropic ``x-api-key`` or
Bearer, plus ``anthropic-version``; Gemini ``x-goog-api-key``, ``?key=`` or Bearer. Missing → 401;
containing ``invalid`` (or outside ``MockConfig.keys`` when set) → 401; containing ``nocredit`` →
the provider's out-of-credit error. Faults and replay: see ``faults.py``.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import parse_qsl

from torouter.mock.anthropic import Anthropic
from torouter.mock.cache import PromptCache
from torouter.mock.config import MockConfig
from torouter.mock.context import Call, Receive, Scope, Send
from torouter.mock.faults import NONE, parse_header
from torouter.mock.gemini import Gemini
from torouter.mock.openai import OpenAI
from torouter.mock.provider import Provider
from torouter.mock.text import new_id

__all__ = ["MockApp", "route"]

_POST = {
    "/v1/chat/completions": ("openai", "chat"),
    "/v1/completions": ("openai", "completions"),
    "/v1/responses": ("openai", "responses"),
    "/v1/responses/input_tokens": ("openai", "input_tokens"),
    "/v1/embeddings": ("openai", "embeddings"),
    "/v1/moderations": ("openai", "moderations"),
    "/v1/rerank": ("openai", "rerank"),
    "/v1/images/generations": ("openai", "images"),
    "/v1/images/edits": ("openai", "image_edits"),
    "/v1/audio/transcriptions": ("openai", "transcriptions"),
    "/v1/audio/speech": ("openai", "speech"),
    "/v1/messages": ("anthropic", "messages"),
    "/v1/messages/count_tokens": ("anthropic", "count_tokens"),
}
_AZURE = {
    "chat/completions": "chat",
    "completions": "completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "images/generations": "images",
    "images/edits": "image_edits",
    "audio/transcriptions": "transcriptions",
    "audio/speech": "speech",
}
_GEMINI_ACTIONS = frozenset(
    (
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
    )
)
_PINS = (("/openai/", "openai"), ("/anthropic/", "anthropic"), ("/gemini/", "gemini"))


def route(method: str, path: str, list_format: str) -> tuple[str, str, str] | None:
    """(provider, operation, path parameter) for a normalised path, or None.

    ``list_format`` is the provider that ``GET /v1/models`` answers for (chosen from the auth
    headers, or from the path prefix).
    """
    if method == "POST":
        found = _POST.get(path)
        if found is not None:
            return found[0], found[1], ""
        for prefix in ("/v1beta/models/", "/v1/models/"):
            if path.startswith(prefix):
                model, sep, action = path[len(prefix) :].rpartition(":")
                if sep and model and action in _GEMINI_ACTIONS:
                    return "gemini", action, model
        if path.startswith("/deployments/"):
            deployment, _, rest = path[len("/deployments/") :].partition("/")
            if rest in _AZURE and deployment:
                return "openai", _AZURE[rest], deployment
        return None
    if method != "GET":
        return None
    if path in ("/v1/models", "/v1beta/models"):
        return ("gemini" if path == "/v1beta/models" else list_format), "models", ""
    for prefix in ("/v1beta/models/", "/v1/models/"):
        if path.startswith(prefix) and len(path) > len(prefix):
            provider = "gemini" if prefix == "/v1beta/models/" else list_format
            return provider, "model", path[len(prefix) :]
    return None


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class MockApp:
    """OpenAI, Anthropic and Gemini mock providers on one ASGI listener (SPEC §19)."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.cache = PromptCache(self.config.cache_max_entries)
        self.rng = random.Random(self.config.seed)
        self.providers: dict[str, Provider] = {
            "openai": OpenAI(),
            "anthropic": Anthropic(),
            "gemini": Gemini(),
        }
        keys = self.config.keys
        self._keys = frozenset(keys) if keys else None
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, once started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            self.loop = asyncio.get_running_loop()
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if path.startswith("/mock/"):
            path = path[5:]
        pin = ""
        if not path.startswith("/v1"):
            for prefix, name in _PINS:
                if path.startswith(prefix):
                    pin = name
                    path = path[len(prefix) - 1 :]
                    break

        bearer = x_api_key = goog = azure = b""
        anthropic_version = False
        mock_headers: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                if value[:7].lower() == b"bearer ":
                    bearer = value[7:].strip()
            elif name == b"x-api-key":
                x_api_key = value
            elif name == b"x-goog-api-key":
                goog = value
            elif name == b"anthropic-version":
                anthropic_version = True
            elif name == b"x-mock":
                mock_headers.append(value.decode("latin-1"))
            elif name == b"api-key":
                azure = value
        raw_query: bytes = scope.get("query_string", b"")
        query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}

        method = scope["method"]
        if method == "POST":
            found = route(method, path, "")
        else:  # GET /v1/models answers in the format the auth headers (or the prefix) point to
            list_format = pin or (
                "gemini"
                if goog or "key" in query
                else "anthropic"
                if anthropic_version or x_api_key
                else "openai"
            )
            found = route(method, path, list_format)
        if found is None or (pin and found[0] != pin):
            provider = self.providers[pin or ("gemini" if "/v1beta" in path else "openai")]
            await provider.not_found(self._call(scope, receive, send, provider, b"", b"", {}))
            return
        provider_name, op, param = found
        provider = self.providers[provider_name]

        if provider_name == "openai":
            credential = bearer or azure
        elif provider_name == "anthropic":
            credential = x_api_key or bearer
        else:
            credential = goog or query.get("key", "").encode() or bearer
        body = await read_body(receive)
        call = self._call(
            scope, receive, send, provider, credential, body, query, mock_headers, op, param
        )
        key = call.credential
        if not key:
            await provider.auth_failure(call, "missing")
        elif "invalid" in key or (self._keys is not None and key not in self._keys):
            await provider.auth_failure(call, "invalid")
        elif "nocredit" in key:
            await provider.auth_failure(call, "nocredit")
        elif call.header_directives.replay is not None:
            await provider.replay(call, call.header_directives)
        elif op in ("models", "model"):
            if not await provider.gate(call, call.directives("")[0]):
                await provider.handlers[op](call)
        else:
            try:
                await provider.handlers[op](call)
            except (TypeError, ValueError, AttributeError, KeyError, IndexError):
                # A field of the right name but the wrong type: real APIs answer 400.
                if call.started:
                    raise
                await provider.error(call, 400, "Invalid request: a field has the wrong type.")

    def _call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        provider: Provider,
        credential: bytes,
        body: bytes,
        query: dict[str, str],
        mock_headers: list[str] | None = None,
        op: str = "",
        param: str = "",
    ) -> Call:
        if provider.name == "openai":
            id_header: tuple[bytes, bytes] | None = (b"x-request-id", b"req_" + new_id(32).encode())
        elif provider.name == "anthropic":
            id_header = (b"request-id", b"req_011C" + new_id(20).encode())
        else:
            id_header = None
        return Call(
            scope,
            receive,
            send,
            self.config,
            self.cache,
            self.rng,
            credential.decode("latin-1"),
            body,
            parse_header(mock_headers) if mock_headers else NONE,
            id_header,
            query,
            provider,
            op,
            param,
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
