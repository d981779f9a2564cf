"""One upstream exchange: native pass-through or translation for a (front door, channel) pair.

SPEC R5.2, R5.3, R6.2, R6.4, R10.6. `build` prepares URL, headers and body; the `Exchange` then
turns the upstream's answer into the client's: `json_response` for whole bodies,
`stream_relayer` for streams. Native exchanges forward the client's bytes unless the model id,
the thinking switch, `stream_options` or OpenRouter-only fields must change; multipart uploads
are replayed from their spool with only the model field rewritten. Speech audio is relayed as a
stream of bytes with the upstream's content type and length.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from torouter.errors import GatewayError
from torouter.gateway.context import RequestContext
from torouter.gateway.passthrough import (
    AnthropicPassthrough,
    BinaryPassthrough,
    GeminiPassthrough,
    MediaPassthrough,
    OpenAIPassthrough,
    ResponsesPassthrough,
    StreamRelayer,
)
from torouter.gateway.upload import UploadBody
from torouter.platforms.registry import PLATFORMS
from torouter.platforms.spec import PlatformSpec
from torouter.protocols import embeddings, media
from torouter.protocols.envelopes import Surface
from torouter.protocols.internal import Usage
from torouter.protocols.shapes import UpstreamShapeError
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai
from torouter.records import ChannelRec
from torouter.routing import matrix

if TYPE_CHECKING:  # at run time `build` imports it on the first translated exchange
    from torouter.gateway.translated import Translation

__all__ = ["Exchange", "build"]

ResponseIdSink = Callable[[str], None]  # told a native Responses id, for follow-ups (R3.3)

# Operations metered by `protocols/media.py` (R10.6) rather than as text generation.
_MEDIA = frozenset(
    {"embeddings", "images", "image_edits", "audio_transcription", "audio_speech", "rerank"}
    | {"completions", "moderations"}
)
_STREAM_OPTIONS = frozenset({"chat", "completions"})  # R4.2: include_usage asked upstream
_THINKING = frozenset({"chat", "responses", "messages", "generate"})
# Operations without a streamed answer: a stray `stream: true` does not make them one.
_NEVER_STREAM = frozenset(
    {"embeddings", "rerank", "moderations", "embed_content", "batch_embed_contents"}
)
_GEMINI_EMBED = {"embed_content": False, "batch_embed_contents": True}  # operation → batch


@dataclass(slots=True)
class Exchange:
    url: str
    headers: dict[str, str]
    body: bytes | UploadBody  # an upload's body replays a multipart request from its spool
    front: Surface  # the client's protocol, which its errors are rendered in
    platform: str
    native: bool
    stream: bool
    sse: bool  # False: a Gemini stream as a JSON array
    upstream_model: str
    billable: bool = True
    include_usage: bool = False
    model_for_client: str = ""
    input_estimate: int = 0
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    translation: Translation | None = None  # set when not native
    operation: str = "chat"
    binary: bool = False  # speech audio: relayed as bytes with the upstream's content type
    estimated: bool = False  # the usage `json_response` gave is an estimate (R10.1)
    base_usage: Usage | None = None  # what a stream is metered by before any report (speech)
    on_response_id: ResponseIdSink | None = None  # a native Responses id, for follow-ups (R3.3)

    def json_response(self, data: bytes) -> tuple[bytes, Usage | None, str | None]:
        """(body for the client, usage, upstream response id)."""
        tr = self.translation
        if tr is not None:  # not native
            out = tr.json_response(data)
            self.estimated = tr.estimated
            return out
        if self.operation in _MEDIA:
            return data, self._media_usage(data), None
        if self.operation in _GEMINI_EMBED:
            # Gemini reports no usage for embeddings: the input texts' estimate (R10.1).
            self.estimated = True
            return data, self.base_usage, None
        if not self.billable:
            return data, None, None
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            return data, None, None
        rid = obj.get("id") or obj.get("responseId")
        if self.operation == "responses" and isinstance(rid, str) and self.on_response_id:
            self.on_response_id(rid)
        if self.front in ("openai", "responses"):
            u = obj.get("usage")
            usage = from_openai(u) if isinstance(u, dict) else None
        elif self.front == "anthropic":
            u = obj.get("usage")
            usage = from_anthropic(u) if isinstance(u, dict) else None
        else:
            u = obj.get("usageMetadata")
            usage = from_gemini(u) if isinstance(u, dict) else None
        if usage is None and u is not None:  # unmeterable: a broken upstream (R9.4)
            where = "$.usageMetadata" if self.front == "gemini" else "$.usage"
            raise UpstreamShapeError(where, "an object", u)
        return data, usage, rid if isinstance(rid, str) else None

    def _media_usage(self, data: bytes) -> Usage | None:
        usage = media.body_usage(self.operation, data)
        if usage is None and self.operation == "embeddings" and self.base_usage is not None:
            self.estimated = True  # no usage reported: the input's estimate (R10.1)
            return self.base_usage
        return usage

    def stream_head(self, headers: Mapping[str, str]) -> list[tuple[bytes, bytes]] | None:
        """Response headers of a binary stream: the upstream's content type and length (R5.3);
        None for event streams (the relay's SSE headers)."""
        if not self.binary:
            return None
        head = [(b"content-type", str(headers.get("content-type", "audio/mpeg")).encode())]
        for name in ("content-length", "content-disposition"):
            value = headers.get(name)
            if value is not None and (name != "content-length" or str(value).isdigit()):
                head.append((name.encode(), str(value).encode()))
        return head

    def stream_relayer(self, max_event: int) -> StreamRelayer:
        if self.translation is not None:  # not native
            return self.translation.stream_relayer(max_event, sse=self.sse)
        if self.binary:
            return BinaryPassthrough(max_event, self.base_usage)
        if self.operation == "responses":
            return _ResponsesRelay(max_event, self.on_response_id)
        if self.operation in _MEDIA and self.operation != "completions":
            return MediaPassthrough(max_event, self.operation, self.base_usage)
        if self.front == "openai":
            return OpenAIPassthrough(
                max_event,
                keep_usage=self.include_usage,
                openrouter=self.platform == "openrouter",
            )
        if self.front == "anthropic":
            return AnthropicPassthrough(max_event)
        return GeminiPassthrough(max_event, as_array=not self.sse)


def build(ctx: RequestContext, ch: ChannelRec) -> Exchange:
    adm = ctx.admission
    assert adm is not None and ctx.payload is not None
    op = ctx.route.operation
    front = matrix.FRONT_PROTOCOL[op]
    spec = PLATFORMS[ch.platform]  # eligible channels are of registered platforms
    upstream_model = ch.upstream_model(adm.model.id, adm.model.vendor, adm.vendor_id)
    native = matrix.channel_mode(op, ch) == matrix.NATIVE
    billable = op in ("chat", "messages", "generate", "responses")
    sse = front != "gemini" or ctx.query.get("alt") == "sse"
    binary = op == "audio_speech" and ctx.payload.get("stream_format") != "sse"
    if native:
        body = _native_body(ctx, spec, front, upstream_model)
        ex = Exchange(
            url="",
            headers={},
            body=body,
            front=front,
            platform=ch.platform,
            native=True,
            stream=(ctx.stream and op not in _NEVER_STREAM) or op == "audio_speech",
            sse=sse,
            upstream_model=upstream_model,
            billable=billable,
            include_usage=ctx.include_usage,
            operation=op,
            binary=binary,
        )
        if op == "audio_speech":
            ex.base_usage = media.speech_usage(ctx.payload)
        elif op == "embeddings" or op in _GEMINI_EMBED:
            ex.base_usage = _embed_estimate(op, ctx.payload)
        if op == "responses" and spec.stores_responses:
            ex.on_response_id = _response_id_setter(ctx)
    else:
        from torouter.gateway.translated import Translation

        tr = Translation.prepare(ctx, ch, spec, front, upstream_model)
        ex = Exchange(
            url="",
            headers={},
            body=tr.body,
            front=front,
            platform=ch.platform,
            native=False,
            stream=ctx.stream and op not in _NEVER_STREAM,
            sse=sse,
            upstream_model=upstream_model,
            billable=billable,
            include_usage=ctx.include_usage,
            translation=tr,
            operation=op,
        )
        if tr.dropped:
            ex.extra_headers.append((b"x-torouter-dropped", ",".join(tr.dropped).encode()))
    ex.url, ex.headers = _target(ctx, ch, spec, ex.native, upstream_model)
    return ex


def _response_id_setter(ctx: RequestContext) -> ResponseIdSink:
    def note(response_id: str) -> None:
        ctx.response_id = response_id

    return note


def _embed_estimate(op: str, payload: dict[str, Any]) -> Usage | None:
    """The input texts' estimate, used only when the upstream reports no usage (R10.1)."""
    try:
        if op == "embeddings":
            return embeddings.text_usage(embeddings.openai_texts(payload))
        return embeddings.text_usage(embeddings.gemini_texts(payload, batch=_GEMINI_EMBED[op]))
    except GatewayError:  # not texts (token arrays…): the gateway's byte estimate applies
        return None


class _ResponsesRelay(ResponsesPassthrough):
    """The native Responses relay, remembering the response id for follow-ups (R3.3)."""

    def __init__(self, max_event: int, on_id: ResponseIdSink | None) -> None:
        super().__init__(max_event)
        self._on_id = on_id

    def events(self, events: bytes) -> bytes:
        known = self.response_id
        out = super().events(events)
        if self._on_id is not None and known is None and self.response_id is not None:
            self._on_id(self.response_id)
        return out


def _native_body(
    ctx: RequestContext, spec: PlatformSpec, front: Surface, upstream_model: str
) -> bytes | UploadBody:
    if ctx.upload is not None:  # multipart: replayed from the spool, model field rewritten
        return ctx.upload.payload(upstream_model)
    payload = ctx.payload
    assert payload is not None and ctx.admission is not None
    op = ctx.route.operation
    changes: dict[str, Any] = {}
    drop: tuple[str, ...] = ()
    if front != "gemini" and upstream_model != payload.get("model"):
        changes["model"] = upstream_model
    if op in _GEMINI_EMBED:
        fixed = embeddings.gemini_native_body(
            payload, upstream_model=upstream_model, batch=_GEMINI_EMBED[op]
        )
        return orjson.dumps(fixed) if fixed is not None else ctx.body
    if front in ("openai", "responses"):
        if ctx.stream and op in _STREAM_OPTIONS:
            opts = payload.get("stream_options")
            if not (isinstance(opts, dict) and opts.get("include_usage") is True):
                changes["stream_options"] = {
                    **(opts if isinstance(opts, dict) else {}),
                    "include_usage": True,
                }
        drop = tuple(k for k in spec.native_drop if k in payload)
    thinking = ctx.admission.thinking and op in _THINKING
    if not changes and not drop and not thinking:
        return ctx.body
    out = {k: v for k, v in payload.items() if k not in drop}
    out.update(changes)
    if thinking:
        out = spec.thinking(out, ctx.admission.model.thinking_defaults, op == "responses")
    return orjson.dumps(out)


def _target(
    ctx: RequestContext, ch: ChannelRec, spec: PlatformSpec, native: bool, upstream_model: str
) -> tuple[str, dict[str, str]]:
    """The platform's URL and headers; the client's headers and query string are forwarded
    only on native exchanges (R5.3)."""
    url = spec.url(
        ch,
        ctx.route.operation,
        upstream_model,
        native=native,
        stream=ctx.stream,
        query=ctx.raw_query,
    )
    ctype = ctx.upload.content_type if ctx.upload is not None else "application/json"
    return url, spec.headers(ch, ctx.request_id, ctx.headers if native else None, ctype)
