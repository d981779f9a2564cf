"""The attempt loop: choose a channel, call it, fail over before the first byte, relay after it.

SPEC §4 and R9.3–R9.7. Native pass-through of OpenAI chat to OpenAI-wire channels (R5.3):
the request bytes are forwarded unchanged unless the model id, `stream_options` or
OpenRouter-only fields need rewriting. A stream is relayed one send per upstream read that
completes one or more events; memory is bounded by one partial event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from torouter.config import Settings
from torouter.errors import UpstreamError, error
from torouter.gateway.context import Attempt, RequestContext
from torouter.protocols import openai_chat
from torouter.protocols.usage import from_openai
from torouter.routing.classify import Outcome, classify_status
from torouter.routing.selector import select_channel
from torouter.snapshot import ChannelRec
from torouter.upstreams import openai as openai_up
from torouter.upstreams.http import UpstreamHttp

__all__ = ["Relay"]

log = logging.getLogger("torouter.relay")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

_ERROR_BODY_LIMIT = 1024 * 1024
_MAX_BODY = 64 * 1024 * 1024
_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class _Failover(Exception):
    """This attempt failed in a way that allows trying another channel."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class Relay:
    def __init__(
        self,
        *,
        http: UpstreamHttp,
        settings: Settings,
        settle: Callable[[RequestContext], Awaitable[None]],
    ) -> None:
        self._http = http
        self._settle = settle
        self._max_attempts = settings.routing.max_attempts
        self._budget = settings.routing.failover_budget_s
        self._granularity = settings.routing.lru_granularity_ms
        self._max_event = settings.stream.max_event_bytes
        # Least-recently-used stamps stay per process (R9.2, R20.3).
        self.last_used_ms: dict[int, int] = {}

    async def chat(self, ctx: RequestContext, receive: Receive, send: Send) -> None:
        """OpenAI chat completions through OpenAI-wire channels."""
        adm = ctx.admission
        assert adm is not None
        candidates = [c for c in adm.channels if c.platform in openai_up.OPENAI_WIRE]
        if not candidates:
            raise error(
                "E16",
                f"model {ctx.model_id} is not available on endpoint /v1/chat/completions",
                param="model",
            )
        tried: set[int] = set()
        outcomes: list[Outcome] = []
        for n in range(self._max_attempts):
            if n and time.perf_counter() - ctx.started > self._budget:
                break
            ch = select_channel(
                candidates,
                tried=tried,
                last_used_ms=self.last_used_ms,
                granularity_ms=self._granularity,
            )
            if ch is None:
                break
            tried.add(ch.id)
            self.last_used_ms[ch.id] = int(time.time() * 1000)
            try:
                await self._attempt(ctx, ch, receive, send)
                return
            except _Failover as f:
                outcomes.append(f.outcome)
        if not outcomes:
            raise error("E22")
        if all(o is Outcome.TIMEOUT for o in outcomes):
            raise error("E23")
        raise error("E21")

    def _request_body(self, ctx: RequestContext, ch: ChannelRec) -> bytes:
        payload = ctx.payload
        assert payload is not None
        upstream_model = ch.upstream_model(ctx.model_id)
        ctx.model_upstream = upstream_model
        changes: dict[str, Any] = {}
        if upstream_model != payload.get("model"):
            changes["model"] = upstream_model
        if ctx.stream:
            opts = payload.get("stream_options")
            if not (isinstance(opts, dict) and opts.get("include_usage") is True):
                changes["stream_options"] = {
                    **(opts if isinstance(opts, dict) else {}),
                    "include_usage": True,
                }
        drop = ()
        if ch.platform != "openrouter":
            drop = tuple(k for k in openai_up.OPENROUTER_ONLY if k in payload)
        if not changes and not drop:
            return ctx.body
        out = {k: v for k, v in payload.items() if k not in drop}
        out.update(changes)
        return orjson.dumps(out)

    async def _attempt(
        self, ctx: RequestContext, ch: ChannelRec, receive: Receive, send: Send
    ) -> None:
        session = self._http.session
        assert session is not None
        body = self._request_body(ctx, ch)
        t0 = time.perf_counter()
        resp: aiohttp.ClientResponse | None = None
        first = b""
        try:
            async with asyncio.timeout(ch.first_byte_timeout):
                resp = await session.post(
                    openai_up.chat_url(ch),
                    data=body,
                    headers=openai_up.request_headers(ch, ctx.request_id),
                    timeout=self._http.timeout(ch.connect_timeout, ch.stream_idle_timeout),
                    allow_redirects=False,
                )
                if ctx.stream and 200 <= resp.status < 300:
                    first = await _first_chunk(resp)
        except TimeoutError as exc:
            self._fail(ctx, ch, t0, 0, Outcome.TIMEOUT, resp)
            raise _Failover(Outcome.TIMEOUT) from exc
        except (aiohttp.ClientError, OSError, _EmptyStream) as exc:
            self._fail(ctx, ch, t0, resp.status if resp else 0, Outcome.NETWORK, resp)
            raise _Failover(Outcome.NETWORK) from exc
        assert resp is not None
        status = resp.status
        if status >= 300:
            try:
                err_body = await resp.content.read(_ERROR_BODY_LIMIT)
            except (aiohttp.ClientError, OSError, TimeoutError):
                err_body = b""
            outcome = classify_status(status, err_body)
            self._fail(ctx, ch, t0, status, outcome, resp)
            if outcome.fails_over:
                raise _Failover(outcome)
            raise _terminal(ch, status, err_body, resp.headers.get("content-type"))
        ctx.upstream_request_id = resp.headers.get("x-request-id")
        ctx.channel_id = ch.id
        try:
            if ctx.stream:
                await self._relay_stream(ctx, ch, resp, first, t0, receive, send)
            else:
                await self._relay_json(ctx, ch, resp, t0, send)
        finally:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()  # never reuse an abandoned upstream connection

    def _fail(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        t0: float,
        status: int,
        outcome: Outcome,
        resp: aiohttp.ClientResponse | None,
    ) -> None:
        elapsed = time.perf_counter() - t0
        ctx.upstream_wait += elapsed
        ctx.attempts.append(Attempt(ch.id, status, outcome.value, int(elapsed * 1000)))
        if resp is not None:
            resp.close()
        log.info(
            "upstream attempt failed",
            extra={
                "request_id": ctx.request_id,
                "channel": ch.id,
                "status": status,
                "class": outcome.value,
            },
        )

    async def _relay_json(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        resp: aiohttp.ClientResponse,
        t0: float,
        send: Send,
    ) -> None:
        try:
            data = await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._fail(ctx, ch, t0, resp.status, Outcome.NETWORK, None)
            raise _Failover(Outcome.NETWORK) from exc
        elapsed = time.perf_counter() - t0
        ctx.upstream_wait += elapsed
        ctx.attempts.append(Attempt(ch.id, resp.status, "success", int(elapsed * 1000)))
        usage, upstream_id = openai_chat.usage_of_body(data)
        if usage is not None:
            ctx.usage = from_openai(usage, openrouter=ch.platform == "openrouter")
        else:
            ctx.estimated = True
            ctx.delivered_chars = openai_chat.content_chars(data)
        ctx.upstream_request_id = ctx.upstream_request_id or upstream_id
        ctx.status = resp.status
        ctx.outcome = "success"
        await self._settle(ctx)  # journaled before the client has the answer
        ctype = resp.headers.get("content-type", "application/json").encode()
        ctx.ttft = time.perf_counter() - ctx.started
        ctx.response_started = True
        await send(
            {
                "type": "http.response.start",
                "status": resp.status,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-request-id", ctx.request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _relay_stream(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        resp: aiohttp.ClientResponse,
        first: bytes,
        t0: float,
        receive: Receive,
        send: Send,
    ) -> None:
        ctx.attempts.append(
            Attempt(ch.id, resp.status, "success", int((time.perf_counter() - t0) * 1000))
        )
        ctx.status = resp.status
        ctx.response_started = True
        ctx.ttft = time.perf_counter() - ctx.started
        await send(
            {
                "type": "http.response.start",
                "status": resp.status,
                "headers": [*_STREAM_HEADERS, (b"x-request-id", ctx.request_id.encode())],
            }
        )
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, disconnected, resp))
        keep_usage = ctx.include_usage
        openrouter = ch.platform == "openrouter"
        buf = b""
        done = False
        failure: tuple[str, str, str] | None = None

        async def forward(events: bytes) -> None:
            nonlocal done
            out, usage = openai_chat.scan_stream(events, keep_usage)
            if usage is not None:
                ctx.usage = from_openai(usage, openrouter=openrouter)
            elif ctx.usage is None:
                ctx.delivered_chars += openai_chat.content_chars(events)
            if openai_chat.DONE in events:
                done = True
                ctx.outcome = "success"
                await self._settle(ctx)  # journaled before the client sees the end
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})

        chunk = first
        try:
            while not done:
                if chunk:
                    if b"\r" in chunk:
                        chunk = chunk.replace(b"\r\n", b"\n")
                    buf += chunk
                    cut = buf.rfind(b"\n\n")
                    if cut >= 0:
                        events, buf = buf[: cut + 2], buf[cut + 2 :]
                        await forward(events)
                        if done:
                            break
                    elif len(buf) > self._max_event:
                        failure = (
                            "Upstream event too large",
                            "upstream_error",
                            "upstream_unavailable",
                        )
                        break
                try:
                    chunk = await resp.content.readany()
                except TimeoutError:
                    failure = ("Upstream stream stalled", "upstream_error", "UPSTREAM_TIMEOUT")
                    break
                except (aiohttp.ClientError, OSError):
                    if not disconnected.is_set():
                        failure = (
                            "Upstream connection lost",
                            "upstream_error",
                            "upstream_unavailable",
                        )
                    break
                if not chunk:  # end of the upstream body
                    if buf.strip() and not disconnected.is_set():
                        # Some upstreams end without the final blank line (`data: [DONE]\n`).
                        await forward(buf.rstrip(b"\n") + b"\n\n")
                        buf = b""
                    if not done and not disconnected.is_set():
                        failure = (
                            "Upstream stream ended early",
                            "upstream_error",
                            "upstream_unavailable",
                        )
                    break
        finally:
            watcher.cancel()
        if disconnected.is_set() and not done:
            ctx.status = 499
            ctx.outcome = "client_cancelled"
            ctx.estimated = ctx.usage is None
            await self._settle(ctx)
            return
        if failure is not None:
            ctx.outcome = "partial"
            ctx.code = failure[2]
            ctx.estimated = ctx.usage is None
            await self._settle(ctx)
            tail = openai_chat.in_stream_error(*failure)
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _EmptyStream(Exception):
    """The upstream closed a 2xx stream before sending a byte."""


async def _first_chunk(resp: aiohttp.ClientResponse) -> bytes:
    chunk = await resp.content.readany()
    if not chunk:
        raise _EmptyStream
    return chunk


async def _watch_disconnect(
    receive: Receive, event: asyncio.Event, resp: aiohttp.ClientResponse
) -> None:
    """Abort the upstream as soon as the client goes away (R4.9)."""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            event.set()
            with contextlib.suppress(Exception):
                resp.close()
            return


def _terminal(ch: ChannelRec, status: int, body: bytes, ctype: str | None) -> UpstreamError:
    """A terminal upstream error relayed as is, secrets masked (R8.2)."""
    for secret in (ch.credential, ch.base_url):
        if secret:
            body = body.replace(secret.encode(), b"***")
    type_, message = "upstream_error", ""
    try:
        obj = orjson.loads(body)
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            type_ = str(err.get("type") or err.get("status") or type_)
            message = str(err.get("message") or "")
    except orjson.JSONDecodeError:
        message = body[:200].decode("utf-8", "replace")
    return UpstreamError(status, ch.platform, type_, message, body, ctype or "application/json")
