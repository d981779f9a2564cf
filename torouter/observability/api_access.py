"""Access lines for the management API (R17.1): method, route template, status, duration,
request id and actor, on the same JSON sink as the gateway's lines. Never a body or a query
string: a route template (`/api/admin/users/{user_id}`) names the endpoint without the values.

The API's own middleware copies the ASGI scope and state, so what the inner layers learn (the
caller) comes back through one mutable note placed in the state before the call; the route
template is matched here against the API's OpenAPI paths once the response is sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import compile_path

from torouter.asgi import ASGIApp, Message, Receive, Scope, Send
from torouter.ids import request_id_for
from torouter.observability.logging import JsonSink

__all__ = ["NOTE_KEY", "AccessNote", "RouteTemplates", "with_access_log"]

NOTE_KEY = "access_note"  # in the ASGI state: the `AccessNote` of this request


class AccessNote:
    """What the API's layers tell the access line; `actor` is the principal's `actor`."""

    __slots__ = ("actor",)

    def __init__(self) -> None:
        self.actor: str | None = None


class RouteTemplates:
    """Path → route template, from the API's OpenAPI paths (every route but the docs page).

    The OpenAPI document is the one stable, flat list of full templates (FastAPI's included
    routers are resolved lazily, in private types); it is built on the first request.
    """

    def __init__(self, openapi: Callable[[], dict[str, Any]], extra: Sequence[str] = ()) -> None:
        self._openapi = openapi
        self._extra = tuple(extra)
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def _table(self) -> list[tuple[re.Pattern[str], str]]:
        if self._compiled is None:
            paths = [*self._openapi().get("paths", {}), *self._extra]
            # Literal segments before parameters: `/users/me` wins over `/users/{user_id}`.
            paths.sort(key=lambda p: (p.count("{"), -len(p)))
            self._compiled = [(compile_path(p)[0], p) for p in paths]
        return self._compiled

    def __call__(self, path: str) -> str | None:
        for pattern, template in self._table():
            if pattern.match(path):
                return template
        return None


def with_access_log(
    app: ASGIApp, templates: Callable[[str], str | None], sink: JsonSink
) -> ASGIApp:
    """`app` writing one access line per request to `sink` once it has answered."""

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        note = AccessNote()
        state = dict(scope.get("state") or {})
        rid = state.get("request_id")
        if not isinstance(rid, str):
            incoming = next((v for n, v in scope["headers"] if n == b"x-request-id"), None)
            rid = request_id_for(incoming)
        state.update({"request_id": rid, NOTE_KEY: note})
        scope = {**scope, "state": state}
        status = 500  # stays so when the app fails before answering

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, watched)
        finally:
            sink.line(
                "INFO",
                "request",
                surface="api",
                request_id=rid,
                method=scope["method"],
                route=templates(scope["path"]) or "(no route)",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                actor=note.actor,
            )

    return logged
