"""Where a gateway request enters: the raw ASGI callable (SPEC R1.3, §2, R7.1, §8).

Reads top to bottom, one call per step: route → request id → query-key rule and declared size
→ key (credentials, admission from the snapshot) → body → model → reservation → relay →
settle and record. No database round trip, no blocking I/O.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from torouter.access import admission, limits
from torouter.access.client_ip import client_ip, parse_networks
from torouter.asgi import Receive, Scope, Send, respond
from torouter.billing import estimate
from torouter.billing.ledger import Ledger
from torouter.billing.pricing import estimate_nusd
from torouter.config import Settings
from torouter.errors import GatewayError, UpstreamError, error
from torouter.gateway import credentials, key_info, local_count, models_list, routes
from torouter.gateway.context import RequestContext
from torouter.gateway.refusals import LookupThrottle, RefusalSampler
from torouter.gateway.relay import Relay
from torouter.gateway.response_routes import ResponseRoutes
from torouter.gateway.upload import read_upload
from torouter.ids import new_ulid
from torouter.observability.logging import JsonSink, now_text
from torouter.observability.metrics import Metrics
from torouter.platforms.names import FrontDoor
from torouter.protocols import nesting, translate
from torouter.protocols.envelopes import pick_language, render_error
from torouter.protocols.openai_responses import check_front
from torouter.records import ChannelRec
from torouter.routing import matrix
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database
from torouter.usage.recorder import UsageRecorder
from torouter.usage.settlement import Settlement

__all__ = ["Gateway"]

log = logging.getLogger("torouter.gateway")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Gateway:
    """The request's steps; its collaborators are built by the composition root (`app.py`):
    the relay (with the node's health book and affinity), the settlement it shares with the
    relay, and the `previous_response_id` routes (R3.3)."""

    def __init__(
        self,
        *,
        settings: Settings,
        snapshot: SnapshotHolder,
        ledger: Ledger,
        recorder: UsageRecorder,
        relay: Relay,
        settlement: Settlement,
        response_routes: ResponseRoutes,
        metrics: Metrics,
        sink: JsonSink,
        db: Database | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._tz = ZoneInfo(settings.timezone)
        self._trusted = parse_networks(settings.trusted_proxies)
        self._lookups = LookupThrottle(ledger.note_failed_lookup)
        self._refusals = RefusalSampler()
        self._snapshot = snapshot
        self._ledger = ledger
        self._recorder = recorder
        self._metrics = metrics
        self._sink = sink
        self._max_body = settings.gateway.max_body_bytes
        self._max_multipart = settings.gateway.max_multipart_bytes
        self.response_routes = response_routes
        self._lang = settings.default_language
        self._output_cap = settings.billing.reserve_output_cap
        self._queue_enabled = settings.usage.queue_size > 0
        self._count_local = settings.count_tokens.mode == "local"
        self.relay = relay
        self._settlement = settlement

    # -- the request -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID_RE.match(rid):
            rid = "req_" + new_ulid()
        method, path = scope["method"], scope["path"]
        route = routes.match(method, path)
        client = scope.get("client")
        peer = client[0] if client else None
        if self._trusted and peer:
            xff = headers.get(b"x-forwarded-for")
            peer = client_ip(peer, xff.decode("latin-1") if xff else None, self._trusted)
        ctx = RequestContext(
            request_id=rid,
            method=method,
            path=path,
            route=route or routes.Route(routes.surface_for_path(path), "unknown"),
            surface=FrontDoor.OPENAI,
            lang=self._lang,
            client_ip=peer,
            user_agent=headers.get(b"user-agent", b"")[:200].decode("latin-1"),
            started=started,
            started_wall=time.time(),
            headers=headers,
        )
        accept = headers.get(b"accept-language")
        if accept:
            ctx.lang = pick_language(accept.decode("latin-1"), self._lang)
        self._metrics.inflight.inc()
        try:
            if route is None:
                ctx.surface = routes.surface_for_path(path)
                raise error("E19")
            raw_query = scope.get("query_string", b"")
            if raw_query:
                ctx.raw_query = raw_query.decode("latin-1")
                ctx.query = credentials.query_params(raw_query)
            if route.surface == "models":
                ctx.surface = models_list.list_surface(headers, ctx.query)
            else:
                ctx.surface = route.surface
            await self._handle(ctx, scope, receive, send)
        except GatewayError as exc:
            await self._send_error(ctx, exc, send)
        except UpstreamError as exc:
            await self._send_upstream_error(ctx, exc, send)
        except Exception as exc:  # a gateway fault: never a traceback to the client (R8.5)
            log.exception("unhandled gateway error", extra={"request_id": rid})
            await self._send_error(ctx, error("E20"), send, cause=exc)
        finally:
            self._metrics.inflight.dec()
            await self._finish(ctx)

    async def _handle(
        self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send
    ) -> None:
        route = ctx.route
        headers = ctx.headers
        # Step 0: the query-key rule and the declared body size.
        query = ctx.query
        if credentials.query_key_violation(query, route.gemini):
            raise error("E15")
        declared = headers.get(b"content-length")
        multipart = route.operation in routes.MULTIPART
        limit = self._max_multipart if multipart else self._max_body
        if declared and declared.isdigit() and int(declared) > limit:
            raise error("E17")
        # Steps 1–6: the key.
        key_hash = scope.get(credentials.INTERNAL_KEY_HASH)
        if key_hash is None:
            key = credentials.extract_key(scope["headers"], query, route.gemini)
            if not key:
                raise error("E1")
            self._lookups.check(ctx.client_ip, ctx.started_wall)
            if not credentials.KEY_RE.match(key):
                await self._lookups.failed(ctx.client_ip, ctx.started_wall)
                raise error("E2")
            key_hash = hashlib.sha256(key.encode()).hexdigest()
        snap = self._snapshot.current
        try:
            ka = admission.check_key(
                snap,
                key_hash,
                now=ctx.started_wall,
                client_ip=ctx.client_ip,
            )
        except GatewayError as exc:
            if exc.code == "INVALID_API_KEY":
                await self._lookups.failed(ctx.client_ip, ctx.started_wall)
            raise
        ctx.key_rec = ka.key
        ctx.user_id = ka.user.id
        if route.operation in ("models_list", "model_get"):
            await models_list.answer(ctx, snap, ka, self._settings, send)
            return
        if route.operation in routes.SELF_SERVICE:
            await key_info.answer(
                route.operation,
                snap=snap,
                state=self._ledger.state,
                db=self._db,
                key=ka.key,
                query=ctx.query,
                now=ctx.started_wall,
                tz=self._tz,
                request_id=ctx.request_id,
                send=send,
            )
            ctx.status = 200
            return
        # Body read (size-capped) and parsed; a multipart upload is held for replay.
        if multipart:
            ctx.upload = await read_upload(receive, headers.get(b"content-type"), limit)
            ctx.payload = ctx.upload.fields()
        else:
            ctx.body = await _read_body(receive, self._max_body)
            ctx.payload = _parse_json(ctx.body)
        self._read_fields(ctx)
        # Steps 7–8: whitelist, group, catalog (R6.1).
        adm = admission.check_model(snap, ka, ctx.model_id)
        ctx.admission = adm
        # Step 9: a subscription group needs an active subscription.
        sub = admission.check_subscription(snap, adm, ctx.started_wall)
        candidates = self.relay.candidates(ctx)
        counting = route.operation in ("count_tokens", "gemini_count_tokens")
        if counting and (
            self._count_local or not candidates or not _upstream_counts(candidates, route)
        ):
            if not candidates and not matrix.wants_local(adm.channels, route.operation):
                raise _not_on_endpoint(ctx)
            await local_count.answer(ctx, send)
            return
        if not candidates:
            raise _not_on_endpoint(ctx)
        native_only = translate.untranslatable(route.operation, ctx.payload)
        if native_only is not None:  # n > 1, audio output: native channels only (R5.7)
            candidates = [
                c for c in candidates if matrix.channel_mode(route.operation, c) == matrix.NATIVE
            ]
            if not candidates:
                raise error("E16", native_only[1], param=native_only[0])
        previous = (
            ctx.payload.get("previous_response_id") if route.operation == "responses" else None
        )
        if previous:
            candidates = await self.response_routes.route(previous, candidates)
        if counting:  # free: skips windows and reservation (R10.7)
            await self.relay.run(ctx, candidates, receive, send)
            return
        # Nothing is served unbilled: a full usage queue refuses (R11.2).
        if not self._queue_enabled or not self._recorder.has_room():
            raise error("E20")
        # Steps 10–11: windows, then the estimate reserved against every limit, atomically.
        ctx.estimate_input_tokens, _ = estimate.input_tokens(
            ctx.body, ctx.payload, adm.model.context_length
        )
        ctx.estimate_nusd = estimate_nusd(
            ctx.estimate_input_tokens,
            ctx.max_output,
            adm.model.prices,
            adm.group.multiplier,
            output_cap=self._output_cap,
            images=estimate.requested_images(route.operation, ctx.payload),
            choices=estimate.requested_choices(route.operation, ctx.payload),
        )
        ctx.admission_id = self._settlement.admission_id()
        ctx.ticket, verdict = await self._ledger.admit(
            ctx.admission_id, adm, sub, ctx.estimate_nusd, client_ip=ctx.client_ip
        )
        ctx.reserved = True
        ctx.response_headers = limits.rate_headers(verdict)
        await self.relay.run(ctx, candidates, receive, send)
        if ctx.response_id is not None and ctx.channel_id is not None:
            self.response_routes.remember(ctx.response_id, ctx.channel_id)

    def _read_fields(self, ctx: RequestContext) -> None:
        """The few fields the gateway reads: model, stream flag, output limit (R3.1)."""
        payload = ctx.payload
        assert payload is not None
        route = ctx.route
        if route.surface == "gemini":
            ctx.model_id = (route.model or "").removeprefix("models/")
            ctx.stream = route.stream
            gen = payload.get("generationConfig")
            if isinstance(gen, dict) and isinstance(gen.get("maxOutputTokens"), int):
                ctx.max_output = gen["maxOutputTokens"]
            return
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            raise error("E16", "you must provide a model parameter", param="model")
        ctx.model_id = model
        ctx.stream = payload.get("stream") is True
        if route.operation in ("chat", "messages"):
            _require_messages(payload.get("messages"), route.surface)
        if route.surface == "openai":
            opts = payload.get("stream_options")
            ctx.include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            out = payload.get("max_completion_tokens") or payload.get("max_tokens")
            if route.operation == "responses":
                check_front(payload)  # background: true is E16 (R3.3)
                out = payload.get("max_output_tokens")
        else:
            out = payload.get("max_tokens")
            if route.operation == "messages" and not isinstance(out, int):
                raise error("E16", "max_tokens: Field required", param="max_tokens")
        ctx.max_output = out if isinstance(out, int) else None

    # -- answers -----------------------------------------------------------------------------

    async def _send_error(
        self, ctx: RequestContext, exc: GatewayError, send: Send, cause: Exception | None = None
    ) -> None:
        ctx.status = exc.status
        ctx.code = exc.code
        ctx.outcome = ctx.outcome or ("refused" if not ctx.reserved else "failed")
        if ctx.response_started:
            return  # the relay already ended the stream with its in-stream error
        status, extra, body = render_error(
            exc, ctx.surface, lang=ctx.lang, request_id=ctx.request_id
        )
        await respond(send, status, body, ctx.request_id, extra)

    async def _send_upstream_error(
        self, ctx: RequestContext, exc: UpstreamError, send: Send
    ) -> None:
        """A terminal upstream error (R8.2): relayed as is on same-protocol routes."""
        ctx.status = exc.status
        ctx.outcome = "upstream_error"
        ctx.code = exc.type
        await respond(
            send,
            exc.status,
            exc.body,
            ctx.request_id,
            (exc.retry_header,),
            content_type=exc.content_type.encode(),
        )

    async def _finish(self, ctx: RequestContext) -> None:
        if ctx.upload is not None:
            ctx.upload.close()
        if ctx.reserved and not ctx.settled:
            if not ctx.outcome:
                ctx.outcome = "failed"
            try:
                await self._settlement.settle(ctx)
            except Exception:
                log.exception("settlement failed", extra={"request_id": ctx.request_id})
        elif (
            ctx.outcome == "refused"
            and ctx.key_rec is not None
            and self._queue_enabled
            and self._refusals.take(ctx.key_rec.id, ctx.code, ctx.started_wall)
        ):
            self._settlement.record(ctx)
        duration = time.perf_counter() - ctx.started
        self._metrics.request_done(
            (ctx.surface, ctx.route.operation, str(ctx.status), ctx.code or ""),
            duration,
            max(duration - ctx.upstream_wait, 0.0),
            ctx.ttft,
            ctx.attempts,
            ctx.model_id,
            ctx.usage,
            ctx.cost_nusd,
        )
        # The record built whole, as `JsonSink.line` would build it from keywords: keyword
        # matching and the merge into a second dict cost ~30 % of the line (measured, callgrind).
        # Milliseconds to three places as int / 1000 (to the microsecond, truncated): what
        # `round(x, 3)` gave but for the last digit, without its decimal conversion.
        ttft = ctx.ttft
        self._sink.write(
            {
                "ts": now_text(),
                "level": "INFO",
                "msg": "request",
                "request_id": ctx.request_id,
                "method": ctx.method,
                "path": ctx.path,
                "status": ctx.status,
                "outcome": ctx.outcome or "success",
                "code": ctx.code,
                "duration_ms": int(duration * 1_000_000) / 1000,
                "ttft_ms": int(ttft * 1_000_000) / 1000 if ttft is not None else None,
                "key": ctx.key_rec.mask if ctx.key_rec else None,
                "user": ctx.user_id,
                "model": ctx.model_id or None,
                "channel": ctx.channel_id,
                "attempts": [a.as_dict() for a in ctx.attempts],
                "cost_nusd": ctx.cost_nusd,
            }
        )


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise error("E16", "client disconnected before sending the body")
        chunk = msg.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise error("E17")
            chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _not_on_endpoint(ctx: RequestContext) -> GatewayError:
    """R3.2: the group has no channel on a platform able to serve this endpoint."""
    return error(
        "E16",
        f"model {ctx.model_id} is not available on endpoint {ctx.path}",
        param="model",
    )


def _upstream_counts(candidates: list[ChannelRec], route: routes.Route) -> bool:
    return any(matrix.mode(route.operation, c.platform) in ("N", "T") for c in candidates)


_TOO_DEEP = f"The request body nests JSON deeper than {nesting.MAX_JSON_DEPTH} levels."


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson itself stops at 1,024 levels; deeper bodies get the same answer as the rest.
        message = (
            _TOO_DEEP
            if "depth" in str(exc)
            else "We could not parse the JSON body of your request."
        )
        raise error("E16", message) from None
    if not isinstance(obj, dict):
        raise error("E16", "The request body must be a JSON object.")
    if nesting.body_too_deep(body, obj):  # what every path can re-encode (R3.1)
        raise error("E16", _TOO_DEEP)
    return obj


def _require_messages(messages: object, surface: str) -> None:
    """`messages` is required by both protocols: refused here, like a missing `model`, rather
    than sent upstream to fail there (and count as an attempt, or fail over)."""
    if isinstance(messages, list) and messages:
        return
    if surface == "openai":
        text = (
            "Missing required parameter: 'messages'."
            if messages is None
            else "Invalid 'messages': expected a non-empty array."
        )
    else:
        text = (
            "messages: Field required"
            if messages is None
            else "messages: at least one message is required"
        )
    raise error("E16", text, param="messages")
