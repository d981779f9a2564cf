"""A cross-protocol exchange (SPEC §5): the client's wire → internal → the upstream's wire, and
back for the answer, whole or streamed. The codecs in `protocols/` are pure; this module only
wires them to one request and keeps the stream's usage and end state for settlement.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import orjson

from torouter.errors import error
from torouter.gateway.context import RequestContext
from torouter.gateway.passthrough import StreamRelayer
from torouter.platforms.names import Codec
from torouter.platforms.spec import PlatformSpec
from torouter.protocols import (
    anthropic,
    count_tokens,
    embeddings,
    gemini,
    nesting,
    openai_chat,
    openai_responses,
)
from torouter.protocols import internal as ir
from torouter.protocols.envelopes import Surface
from torouter.protocols.translate import FRONT, UPSTREAM
from torouter.records import ChannelRec, ModelRec

__all__ = ["TranslatedStream", "Translation"]


@dataclass(slots=True)
class Translation:
    front: Surface
    platform: str
    client_model: str
    body: bytes
    dropped: list[str]
    include_usage: bool
    input_estimate: int
    counting: str | None = None  # count_tokens | gemini_count_tokens
    echo: dict[str, Any] | None = None  # Responses: the request fields the response repeats
    embedding: str | None = None  # embeddings | embed_content | batch_embed_contents
    texts: list[str] = dataclasses.field(default_factory=list)  # embedding inputs
    encoding_format: Any = None
    estimated: bool = False  # the last `json_response` usage is an estimate (R10.1)

    @classmethod
    def prepare(
        cls,
        ctx: RequestContext,
        ch: ChannelRec,
        spec: PlatformSpec,
        front: Surface,
        upstream_model: str,
    ) -> Translation:
        adm = ctx.admission
        assert adm is not None and ctx.payload is not None
        op = ctx.route.operation
        if op in ("count_tokens", "gemini_count_tokens"):
            return cls._prepare_count(ctx, ch, front, upstream_model)
        if op in ("embeddings", "embed_content", "batch_embed_contents"):
            return cls._prepare_embed(ctx, ch, front, upstream_model)
        if ctx.internal is None:  # parsed once, replayed on failover
            req = FRONT[front].parse_request(ctx.payload)
            if front == "gemini":
                req.model = ctx.model_id
                req.stream = ctx.stream
            ctx.internal = req
        req = ctx.internal
        if adm.thinking and (req.reasoning is None or not req.reasoning.enabled):
            # R6.4 defaults: the platform's own budget unless the admin set one (Gemini: dynamic).
            defaults = adm.model.thinking_defaults
            budget = defaults.get("budget_tokens")
            req = dataclasses.replace(
                req,
                reasoning=ir.Reasoning(
                    enabled=True,
                    budget_tokens=int(budget) if budget is not None else None,
                    effort=str(defaults.get("effort", "high")),
                ),
            )
        # Rendering notes what the platform drops in `req.dropped`: on a copy of the list, so
        # the parsed request replayed on failover keeps its own (a copy of the whole request,
        # `dataclasses.replace`, cost ~3 µs per request).
        parsed_dropped = req.dropped
        req.dropped = dropped = list(parsed_dropped)
        try:
            body = _render(req, ch, spec, adm.model, upstream_model)
        except nesting.TooDeep:
            raise error(
                "E16",
                f"Tool call arguments nest JSON deeper than {nesting.MAX_JSON_DEPTH} levels.",
                param="input" if front == "responses" else "messages",
            ) from None
        finally:
            req.dropped = parsed_dropped
        if ctx.stream and spec.codec is Codec.OPENAI_CHAT:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        elif ctx.stream and spec.codec is Codec.ANTHROPIC:
            body["stream"] = True  # Gemini streams by its URL's action instead
        return cls(
            front=front,
            platform=ch.platform,
            client_model=ctx.model_id,
            body=orjson.dumps(body),
            dropped=dropped,
            include_usage=ctx.include_usage,
            # What a stream announces before the upstream's counts: the local token count
            # (the one `count_tokens` answers with, R10.7), not the admission's body size / 4.
            input_estimate=count_tokens.estimate(req),
            echo=openai_responses.echo_fields(ctx.payload) if front == "responses" else None,
        )

    @classmethod
    def _prepare_embed(
        cls, ctx: RequestContext, ch: ChannelRec, front: Surface, upstream_model: str
    ) -> Translation:
        """Embeddings across protocols (R5.2): OpenAI ⇄ Gemini batchEmbedContents."""
        assert ctx.payload is not None
        op = ctx.route.operation
        dropped: list[str] = []
        if op == "embeddings":  # an OpenAI client on a gemini channel
            body = embeddings.gemini_request(ctx.payload, upstream_model=upstream_model)
            texts = embeddings.openai_texts(ctx.payload)
            if ctx.payload.get("user"):
                dropped.append("user")
        else:  # a Gemini client on an OpenAI-wire channel
            body, dropped = embeddings.openai_request(
                ctx.payload, upstream_model=upstream_model, batch=op == "batch_embed_contents"
            )
            texts = []
        return cls(
            front=front,
            platform=ch.platform,
            client_model=ctx.model_id,
            body=orjson.dumps(body),
            dropped=dropped,
            include_usage=False,
            input_estimate=0,
            embedding=op,
            texts=texts,
            encoding_format=ctx.payload.get("encoding_format"),
        )

    @classmethod
    def _prepare_count(
        cls, ctx: RequestContext, ch: ChannelRec, front: Surface, upstream_model: str
    ) -> Translation:
        """Token counting across protocols (R5.2): Anthropic count_tokens ⇄ Gemini countTokens."""
        assert ctx.payload is not None
        op = ctx.route.operation
        if op == "count_tokens":
            body = count_tokens.anthropic_to_gemini(ctx.payload, upstream_model=upstream_model)
        else:
            body = count_tokens.gemini_to_anthropic(
                ctx.payload, upstream_model=upstream_model, model=ctx.model_id
            )
        return cls(
            front=front,
            platform=ch.platform,
            client_model=ctx.model_id,
            body=orjson.dumps(body),
            dropped=[],
            include_usage=False,
            input_estimate=0,
            counting=op,
        )

    def json_response(self, data: bytes) -> tuple[bytes, ir.Usage | None, str | None]:
        if self.counting == "count_tokens":
            return (
                orjson.dumps(count_tokens.anthropic_response_from_gemini(orjson.loads(data))),
                None,
                None,
            )
        if self.counting == "gemini_count_tokens":
            return (
                orjson.dumps(count_tokens.gemini_response_from_anthropic(orjson.loads(data))),
                None,
                None,
            )
        if self.embedding is not None:
            return self._embed_response(orjson.loads(data))
        resp = UPSTREAM[self.platform].parse_response(orjson.loads(data))
        if not resp.created:
            resp.created = int(time.time())  # a real time, as OpenAI's own (not 0)
        if self.front == "responses":
            out = openai_responses.render_response(resp, model=self.client_model, echo=self.echo)
        else:
            out = FRONT[self.front].render_response(resp, model=self.client_model)
        return orjson.dumps(out), resp.usage, resp.id or None

    def _embed_response(self, obj: Any) -> tuple[bytes, ir.Usage | None, str | None]:
        if not isinstance(obj, dict):
            raise ValueError("an embeddings answer must be an object")
        if self.embedding == "embeddings":
            body, usage = embeddings.openai_response(
                obj, model=self.client_model, texts=self.texts, encoding_format=self.encoding_format
            )
            self.estimated = True  # Gemini reports no usage for embeddings
            return orjson.dumps(body), usage, None
        out, reported = embeddings.gemini_response(
            obj, batch=self.embedding == "batch_embed_contents"
        )
        return orjson.dumps(out), reported, None

    def stream_relayer(self, max_event: int, *, sse: bool = True) -> TranslatedStream:
        return TranslatedStream(self, max_event, sse=sse)


def _render(
    req: ir.Request, ch: ChannelRec, spec: PlatformSpec, model: ModelRec, upstream_model: str
) -> dict[str, Any]:
    """The upstream body in the platform's codec, with its options (R5.4, R5.6, R6.4)."""
    thinking = model.supports_thinking
    if spec.codec is Codec.OPENAI_CHAT:
        return openai_chat.render_request(
            req,
            upstream_model=upstream_model,
            platform=spec.dialect,
            send_reasoning=bool(ch.options.get("send_reasoning_history", spec.reasoning_history)),
            supports_reasoning=thinking,
        )
    if spec.codec is Codec.ANTHROPIC:
        budget = model.thinking_defaults.get("budget_tokens")
        return anthropic.render_request(
            req,
            upstream_model=upstream_model,
            max_output_tokens=model.max_output_tokens or anthropic.DEFAULT_MAX_TOKENS,
            thinking_budget=int(budget) if budget is not None else 8192,
            supports_reasoning=thinking,
        )
    if spec.codec is Codec.GEMINI:
        return gemini.render_request(
            req, upstream_model=upstream_model, supports_reasoning=thinking
        )
    raise ValueError(f"no request renderer for codec {spec.codec}")  # a registry error


class TranslatedStream(StreamRelayer):
    """Upstream bytes → internal events → client bytes, one read at a time."""

    def __init__(self, tr: Translation, max_event: int, *, sse: bool = True) -> None:
        super().__init__(max_event)
        self._decoder = UPSTREAM[tr.platform].StreamDecoder()
        extra: dict[str, Any] = {}
        if tr.front == "responses":
            extra["echo"] = tr.echo
        elif tr.front == "gemini":
            extra["sse"] = sse  # without alt=sse: one streamed JSON array (R3.5)
        elif tr.front == "openai":
            extra["created"] = int(time.time())  # Anthropic and Gemini streams carry no time
        self._encoder = FRONT[tr.front].StreamEncoder(
            tr.client_model,
            include_usage=tr.include_usage,
            input_estimate=tr.input_estimate,
            **extra,
        )

    def error_tail(
        self, front: Surface, message: str, type_: str, code: str, *, sse: bool
    ) -> bytes:
        if isinstance(self._encoder, openai_responses.StreamEncoder):
            return self._encoder.error(message, type_, code)  # numbered after what was sent
        return super().error_tail(front, message, type_, code, sse=sse)

    def feed(self, chunk: bytes) -> bytes:
        return self._encode(self._decoder.decode(chunk))

    def close(self) -> bytes:
        return self._encode(self._decoder.flush())

    def _encode(self, events: list[Any]) -> bytes:
        if self.upstream_error is not None:
            return b""  # the encoder rendered the stream's one error event: it has ended (R4.6)
        # One pass, dispatched on the exact type (the event classes have no subclasses), text
        # first: it is nearly every event of a stream. An error event is the last one kept.
        # The characters are counted as the events go (nothing is deferred here), into the
        # relayer's own total: `chars` is a property, a call per event.
        chars = 0
        for i, ev in enumerate(events):
            kind = type(ev)
            if kind is ir.TextDelta or kind is ir.ThinkingDelta:
                chars += len(ev.text)
            elif kind is ir.UsageEvent:
                self.usage = ev.usage
            elif kind is ir.Finish:
                # The decoder's last event (the usage it reports comes before; an error event
                # ends the list first): the stream is whole on this read, without waiting for
                # the upstream's end of body.
                self.done = True
            elif kind is ir.ErrorEvent:
                self.upstream_error = (ev.type, ev.message)
                events = events[: i + 1]
                break
            elif kind is ir.ToolArgsDelta:
                chars += len(ev.json)
        self._chars += chars
        if not events:
            return b""
        return self._encoder.encode(events)
