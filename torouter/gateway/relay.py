"""The attempt loop: choose a channel, call it, fail over before the first byte, relay after it.

SPEC §4, R5.2, R9.3–R9.7. Per attempt `exchange.build` decides native pass-through or
translation and prepares URL, headers and body; the response is relayed as JSON or as a stream
(`passthrough.py` for the same protocol, `translated.py` across protocols). A stream is relayed
one send per upstream read that completes one or more events; memory is bounded by one partial
event. A client that leaves while the upstream call runs cancels it (`disconnect.py`, R4.9);
after the first byte a failure ends the stream with exactly one in-stream error event (R4.6).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from torouter.asgi import Receive, Send, respond, start_stream
from torouter.config import Settings
from torouter.errors import UpstreamError, error, upstream_should_retry
from torouter.gateway import exchange
from torouter.gateway.context import Attempt, RequestContext
from torouter.gateway.disconnect import ClientWatch
from torouter.gateway.exchange import Exchange
from torouter.gateway.keepalive import KeepAlive, ping_for
from torouter.protocols import envelopes
from torouter.records import ChannelRec
from torouter.routing import matrix
from torouter.routing.affinity import Affinity, session_signal
from torouter.routing.classify import Outcome, classify_status
from torouter.routing.health import HealthBook
from torouter.routing.selector import select_channel
from torouter.upstreams.egress import transport_for
from torouter.upstreams.transport import (
    UpstreamFailure,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTransport,
)

__all__ = ["Relay"]

log = logging.getLogger("torouter.relay")

_ERROR_BODY_LIMIT = 1024 * 1024
_UNAVAILABLE = "upstream_unavailable"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_ARRAY_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache")]


class _Failover(Exception):
    """This attempt failed in a way that allows trying another channel."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class _EmptyStream(Exception):
    """The upstream closed a 2xx stream before sending a byte."""


class _ClientGone(Exception):
    """The client disconnected while the upstream call ran: the attempt was abandoned."""


class Relay:
    def __init__(
        self,
        *,
        transport: UpstreamTransport,
        settings: Settings,
        settle: Callable[[RequestContext], Awaitable[None]],
        health: HealthBook,
        affinity: Affinity,
    ) -> None:
        """`settle` is `usage.settlement.Settlement.settle`; health and affinity are the node's
        own, shared with the channel mirror and the probes (all built by the root)."""
        self._transport = transport
        self.health = health
        self.affinity = affinity
        self._settle = settle
        self._max_attempts = settings.routing.max_attempts
        self._budget = settings.routing.failover_budget_s
        self._granularity = settings.routing.lru_granularity_ms
        self._max_event = settings.stream.max_event_bytes
        self._keepalive_s = settings.stream.keepalive_s
        # Least-recently-used stamps stay per process (R9.2, R20.3).
        self.last_used_ms: dict[int, int] = {}

    def _egress(self, ch: ChannelRec) -> UpstreamTransport:
        """The channel's egress proxy client (R9.1); a bad proxy fails the attempt."""
        return transport_for(self._transport, ch.proxy)

    def candidates(self, ctx: RequestContext) -> list[ChannelRec]:
        adm = ctx.admission
        assert adm is not None
        return matrix.eligible(adm.channels, ctx.route.operation, adm.model)

    async def run(
        self, ctx: RequestContext, candidates: list[ChannelRec], receive: Receive, send: Send
    ) -> None:
        adm = ctx.admission
        assert adm is not None
        model = adm.model.id
        health = self.health
        session = None
        if ctx.payload is not None:
            signal = session_signal(
                matrix.FRONT_PROTOCOL[ctx.route.operation], ctx.payload, ctx.headers
            )
            if signal is not None:
                session = (adm.key.id, model, signal)

        def available(c: ChannelRec) -> bool:
            return health.available(c, model)

        watch = ClientWatch(receive)
        try:
            await self._attempts(ctx, candidates, session, available, watch, send)
        except _ClientGone:
            await self._client_gone(ctx)
        finally:
            watch.close()

    async def _attempts(
        self,
        ctx: RequestContext,
        candidates: list[ChannelRec],
        session: tuple[int, str, str] | None,
        available: Callable[[ChannelRec], bool],
        watch: ClientWatch,
        send: Send,
    ) -> None:
        assert ctx.admission is not None
        model = ctx.admission.model.id
        health = self.health
        tried: set[int] = set()
        outcomes: list[Outcome] = []
        for n in range(self._max_attempts):
            if watch.gone:  # no further attempt for a client that left during the last one
                raise _ClientGone
            if n and time.perf_counter() - ctx.started > self._budget:
                break
            ch = self._sticky(session, candidates, tried, available)
            if ch is None:
                ch = select_channel(
                    candidates,
                    tried=tried,
                    last_used_ms=self.last_used_ms,
                    granularity_ms=self._granularity,
                    is_available=available,
                )
            if ch is None:
                break
            tried.add(ch.id)
            self.last_used_ms[ch.id] = int(time.time() * 1000)
            if session is not None:
                self.affinity.put(session, ch.id)
            health.acquire(ch.id)
            try:
                await self._attempt(ctx, ch, exchange.build(ctx, ch), watch, send)
                return
            except _Failover as f:
                outcomes.append(f.outcome)
            finally:
                health.release(ch.id)
        if watch.gone:
            raise _ClientGone
        wait = health.earliest_end(candidates, model)
        if not outcomes:
            raise error("E22", retry_after=wait)
        if all(o is Outcome.TIMEOUT for o in outcomes):
            raise error("E23")
        tried_chans = [c for c in candidates if c.id in tried]
        all_cool = all(health.cooling_until(c, model) is not None for c in tried_chans)
        raise error(
            "E21", retry_after=health.earliest_end(tried_chans, model) if all_cool else None
        )

    def _sticky(
        self,
        session: tuple[int, str, str] | None,
        candidates: list[ChannelRec],
        tried: set[int],
        available: Callable[[ChannelRec], bool],
    ) -> ChannelRec | None:
        """The session's channel, while eligible and in the best priority tier left (R9.2)."""
        if session is None:
            return None
        cid = self.affinity.get(session)
        if cid is None or cid in tried:
            return None
        eligible = [
            c for c in candidates if c.status == "enabled" and c.id not in tried and available(c)
        ]
        if not eligible:
            return None
        best = min(c.priority for c in eligible)
        for c in eligible:
            if c.id == cid and c.priority == best:
                return c
        return None

    async def _client_gone(self, ctx: RequestContext) -> None:
        """R4.9, R10.6: the client left before the first byte of the answer. The upstream call
        was abandoned (its connection closed); the provider bills the input it read anyway, so
        the estimated input is charged and no output."""
        ctx.status = 499
        ctx.outcome = "client_cancelled"
        ctx.usage = None
        ctx.delivered_chars = 0
        ctx.estimated = True
        await self._settle(ctx)

    def _abandoned(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        t0: float,
        resp: UpstreamResponse | None,
    ) -> _ClientGone:
        """The attempt the client walked away from: on the chain, not a channel failure."""
        elapsed = time.perf_counter() - t0
        ctx.upstream_wait += elapsed
        ctx.channel_id = ch.id
        status = resp.status if resp is not None else 0
        ctx.attempts.append(Attempt(ch.id, status, "client_cancelled", int(elapsed * 1000)))
        if resp is not None:
            resp.close()  # never reuse an abandoned upstream connection
        log.info(
            "client disconnected: upstream call abandoned",
            extra={"request_id": ctx.request_id, "channel": ch.id},
        )
        return _ClientGone()

    async def _attempt(
        self, ctx: RequestContext, ch: ChannelRec, ex: Exchange, watch: ClientWatch, send: Send
    ) -> None:
        ctx.model_upstream = ex.upstream_model
        t0 = time.perf_counter()
        resp: UpstreamResponse | None = None
        first = b""
        try:
            with watch.waiting(ch.first_byte_timeout):  # the first-byte deadline (R9.3)
                transport = self._transport if ch.proxy is None else self._egress(ch)
                resp = await transport.send(
                    "POST",
                    ex.url,
                    body=ex.body,
                    headers=ex.headers,
                    connect_s=ch.connect_timeout,
                    read_s=ch.stream_idle_timeout,
                )
                if ex.stream and 200 <= resp.status < 300:
                    first = await resp.read_chunk()
                    if not first:
                        raise _EmptyStream
        except asyncio.CancelledError:
            if not watch.swallow():
                raise
            if watch.gone or not watch.expired:
                raise self._abandoned(ctx, ch, t0, resp) from None
            late = TimeoutError()  # the first-byte deadline passed
            self._fail(ctx, ch, t0, 0, Outcome.TIMEOUT, resp, cause=late)
            raise _Failover(Outcome.TIMEOUT) from late
        except (TimeoutError, UpstreamTimeout) as exc:  # a phase's own timeout (connect, read)
            self._fail(ctx, ch, t0, 0, Outcome.TIMEOUT, resp, cause=exc)
            raise _Failover(Outcome.TIMEOUT) from exc
        except (UpstreamFailure, _EmptyStream) as exc:
            self._fail(ctx, ch, t0, resp.status if resp else 0, Outcome.NETWORK, resp, cause=exc)
            raise _Failover(Outcome.NETWORK) from exc
        assert resp is not None
        status = resp.status
        if status >= 300:
            try:
                with watch.waiting():
                    err_body = await resp.read(_ERROR_BODY_LIMIT)
            except asyncio.CancelledError:
                if not watch.swallow():
                    raise
                raise self._abandoned(ctx, ch, t0, resp) from None
            except UpstreamFailure:
                err_body = b""
            outcome = classify_status(status, err_body)
            self._fail(ctx, ch, t0, status, outcome, resp, err_body)
            if outcome.fails_over:
                raise _Failover(outcome)
            raise _terminal(ch, ex, status, err_body, resp.headers)
        ctx.upstream_request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id")
        ctx.channel_id = ch.id
        try:
            if ex.stream:
                await self._relay_stream(ctx, ch, ex, resp, first, t0, watch, send)
            else:
                await self._relay_json(ctx, ch, ex, resp, t0, watch, send)
        finally:
            resp.close()  # reused only when read to its end, never when abandoned

    def _fail(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        t0: float,
        status: int,
        outcome: Outcome,
        resp: UpstreamResponse | None,
        body: bytes = b"",
        cause: BaseException | None = None,
    ) -> None:
        elapsed = time.perf_counter() - t0
        ctx.upstream_wait += elapsed
        ctx.attempts.append(Attempt(ch.id, status, outcome, int(elapsed * 1000)))
        if outcome.fails_over:
            assert ctx.admission is not None
            cooldown = self.health.failure(
                ch,
                ctx.admission.model.id,
                outcome,
                status=status,
                headers=dict(resp.headers) if resp is not None else None,
                body=body,
                latency_ms=int(elapsed * 1000),
            )
            if cooldown is not None:
                log.info(
                    "channel cooling",
                    extra={
                        "request_id": ctx.request_id,
                        "channel": ch.id,
                        "model": cooldown.model,
                        "reason": cooldown.reason,
                        "seconds": round(cooldown.until - self.health.clock(), 3),
                    },
                )
        if resp is not None:
            resp.close()
        log.info(
            "upstream attempt failed",
            extra={
                "request_id": ctx.request_id,
                "channel": ch.id,
                "status": status,
                "class": outcome.value,
                "error": type(cause).__name__ if cause is not None else None,
                # The seam's own message (e.g. which egress proxy refused); never a secret.
                "cause": str(cause) if isinstance(cause, UpstreamFailure) else None,
            },
        )

    async def _relay_json(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        ex: Exchange,
        resp: UpstreamResponse,
        t0: float,
        watch: ClientWatch,
        send: Send,
    ) -> None:
        try:
            with watch.waiting():
                data = await resp.read()
        except asyncio.CancelledError:
            if not watch.swallow():
                raise
            raise self._abandoned(ctx, ch, t0, resp) from None
        except UpstreamFailure as exc:
            self._fail(ctx, ch, t0, resp.status, Outcome.NETWORK, None)
            raise _Failover(Outcome.NETWORK) from exc
        elapsed = time.perf_counter() - t0
        ctx.upstream_wait += elapsed
        ctx.attempts.append(Attempt(ch.id, resp.status, Outcome.SUCCESS, int(elapsed * 1000)))
        assert ctx.admission is not None
        self.health.success(ch, ctx.admission.model.id, int(elapsed * 1000), None)
        try:
            out, usage, upstream_id = ex.json_response(data)
        except ValueError as exc:  # not JSON (orjson's error is one) or refused by the codec
            # Only the upstream's bytes fail over; a KeyError or TypeError here is our bug and
            # goes to the entry's E20 with its traceback, never to the channel's record.
            log.warning("malformed upstream response", extra={"request_id": ctx.request_id})
            ctx.attempts[-1].cls = Outcome.NETWORK
            raise _Failover(Outcome.NETWORK) from exc
        if ex.estimated:  # e.g. Gemini embeddings, which report no usage (R10.1)
            ctx.estimated = True
        if usage is not None:
            ctx.usage = usage
        elif ex.billable:
            ctx.estimated = True
            ctx.delivered_chars = len(out) // 2
        ctx.upstream_request_id = ctx.upstream_request_id or upstream_id
        ctx.status = resp.status
        ctx.outcome = "success"
        watch.close()  # the answer is ours now: its end is no disconnect
        await self._settle(ctx)  # journaled before the client has the answer
        ctype = b"application/json"
        if ex.native:
            ctype = resp.headers.get("content-type", "application/json").encode()
        ctx.ttft = time.perf_counter() - ctx.started
        ctx.response_started = True
        await respond(
            send,
            resp.status,
            out,
            ctx.request_id,
            ex.extra_headers,
            ctx.response_headers,
            content_type=ctype,
        )

    async def _relay_stream(
        self,
        ctx: RequestContext,
        ch: ChannelRec,
        ex: Exchange,
        resp: UpstreamResponse,
        first: bytes,
        t0: float,
        watch: ClientWatch,
        send: Send,
    ) -> None:
        first_ms = int((time.perf_counter() - t0) * 1000)
        ctx.attempts.append(Attempt(ch.id, resp.status, Outcome.SUCCESS, first_ms))
        assert ctx.admission is not None
        self.health.success(ch, ctx.admission.model.id, first_ms, first_ms)
        ctx.status = resp.status
        ctx.response_started = True
        ctx.ttft = time.perf_counter() - ctx.started
        head = ex.stream_head(resp.headers) or (_SSE_HEADERS if ex.sse else _ARRAY_HEADERS)
        await start_stream(
            send, resp.status, head, ctx.request_id, ex.extra_headers, ctx.response_headers
        )
        relayer = ex.stream_relayer(self._max_event)
        watch.resp = resp  # a disconnect now closes it: the read below ends at once (R4.9)
        ping = ping_for(ex.front, ex.sse) if self._keepalive_s > 0 else None
        # Started before the first wait for the upstream, as if the first write had just gone:
        # a stream whose first read holds it all never schedules one (a timer per stream).
        keepalive: KeepAlive | None = None
        failure: tuple[str, str, str] | None = None
        chunk: bytes | None = first
        try:
            while True:
                out = relayer.feed(chunk) if chunk else relayer.close()
                if (
                    relayer.done
                    and not ctx.settled
                    and (relayer.failed or relayer.upstream_error is None)
                ):
                    # An upstream that ends its own stream as failed (Responses) is charged what
                    # it reports, but the row says it failed (R11.1). Any other error event in
                    # the stream makes it partial below, even when the framing completed.
                    ctx.outcome = "partial" if relayer.failed else "success"
                    if relayer.failed:
                        ctx.code = "upstream_error"
                    ctx.usage = relayer.usage
                    # Without upstream usage, settlement estimates the output from it (R10.1);
                    # with it, the characters are never counted (`StreamRelayer.chars`).
                    ctx.delivered_chars = relayer.chars if relayer.usage is None else 0
                    await self._settle(ctx)  # journaled before the client sees the end
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                    if keepalive is not None:
                        keepalive.sent()
                if relayer.malformed:  # what came before it went out; it does not (R4.6)
                    failure = ("Upstream sent malformed data", "upstream_error", _UNAVAILABLE)
                    break
                if not chunk or relayer.done or relayer.upstream_error is not None:
                    break  # an error event relayed is the stream's last event (R4.6)
                if relayer.overflow:
                    failure = ("Upstream event too large", "upstream_error", _UNAVAILABLE)
                    break
                if keepalive is None and ping:
                    keepalive = KeepAlive(send, ping, self._keepalive_s)
                try:
                    chunk = await resp.read_chunk()
                except UpstreamTimeout:
                    failure = ("Upstream stream stalled", "upstream_error", "UPSTREAM_TIMEOUT")
                    break
                except UpstreamFailure:
                    if not watch.gone:
                        failure = ("Upstream connection lost", "upstream_error", _UNAVAILABLE)
                    break
        finally:
            watch.close()
            if keepalive is not None:
                keepalive.stop()
            ctx.upstream_wait = time.perf_counter() - t0
        if relayer.done and ctx.settled:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        # Cut before the final usage: what was delivered is charged, estimated (R10.1, R10.6).
        ctx.delivered_chars = relayer.chars
        ctx.estimated = True
        if relayer.usage is not None:
            ctx.usage = dataclasses.replace(
                relayer.usage, output=max(relayer.usage.output, math.ceil(relayer.chars / 4))
            )
        if watch.gone:
            ctx.status = 499
            ctx.outcome = "client_cancelled"
            await self._settle(ctx)
            return
        ctx.outcome = "partial"
        if relayer.upstream_error is not None:
            # The upstream's own error event (relayed, or rendered by the translation) is the
            # stream's one error event: only its framing is completed (R4.6).
            ctx.code = "upstream_error"
            tail = relayer.finish_after_error()
        else:
            failure = failure or ("Upstream stream ended early", "upstream_error", _UNAVAILABLE)
            ctx.code = failure[2]
            tail = relayer.error_tail(ex.front, *failure, sse=ex.sse)
        await self._settle(ctx)
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _terminal(
    ch: ChannelRec, ex: Exchange, status: int, body: bytes, headers: Any
) -> UpstreamError:
    """A terminal upstream error (R8.2): relayed as is natively, else re-wrapped; secrets masked.
    `x-should-retry` is the upstream's own, else decided from the status like the SDKs (R8.1)."""
    ctype: str | None = headers.get("content-type")
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
    if not ex.native:
        body = envelopes.render_upstream_error(ex.front, status, ch.platform, type_, message)
        ctype = "application/json"
    return UpstreamError(
        status,
        ch.platform,
        type_,
        message,
        body,
        ctype or "application/json",
        should_retry=upstream_should_retry(status, headers.get("x-should-retry")),
    )
