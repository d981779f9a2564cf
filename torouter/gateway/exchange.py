"""One upstream exchange: native pass-through or translation for a (front door, channel) pair.

SPEC R5.2, R5.3, R6.2, R6.4. `build` prepares URL, headers and body; the `Exchange` then turns
the upstream's answer into the client's: `json_response` for whole bodies, `stream_relayer` for
streams. Native exchanges forward the client's bytes unless the model id, the thinking switch,
`stream_options` or OpenRouter-only fields must change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from torouter.gateway.context import RequestContext
from torouter.gateway.passthrough import (
    AnthropicPassthrough,
    GeminiPassthrough,
    OpenAIPassthrough,
    StreamRelayer,
)
from torouter.protocols.internal import Usage
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai
from torouter.routing import matrix
from torouter.snapshot import ChannelRec
from torouter.upstreams import anthropic as anthropic_up
from torouter.upstreams import gemini as gemini_up
from torouter.upstreams import openai as openai_up
from torouter.upstreams.thinking import apply_thinking

__all__ = ["Exchange", "build"]

_OPENAI_WIRE = frozenset({"openai", "openrouter", "openai-compatible", "azure-openai"})


@dataclass(slots=True)
class Exchange:
    url: str
    headers: dict[str, str]
    body: bytes
    front: str  # the client's protocol: openai | anthropic | gemini
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
    translation: Any = None  # translated.Translation when not native

    def json_response(self, data: bytes) -> tuple[bytes, Usage | None, str | None]:
        """(body for the client, usage, upstream response id)."""
        if not self.native:
            return self.translation.json_response(data)
        if not self.billable:
            return data, None, None
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            return data, None, None
        rid = obj.get("id") or obj.get("responseId")
        if self.front == "openai":
            u = obj.get("usage")
            usage = from_openai(u, openrouter=self.platform == "openrouter") if u else None
        elif self.front == "anthropic":
            u = obj.get("usage")
            usage = from_anthropic(u) if isinstance(u, dict) else None
        else:
            u = obj.get("usageMetadata")
            usage = from_gemini(u) if isinstance(u, dict) else None
        return data, usage, rid if isinstance(rid, str) else None

    def stream_relayer(self, max_event: int) -> StreamRelayer:
        if not self.native:
            return self.translation.stream_relayer(max_event)
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
    upstream_model = ch.upstream_model(adm.model.id, adm.model.vendor, adm.vendor_id)
    native = matrix.is_native(op, ch.platform)
    billable = op in ("chat", "messages", "generate")
    sse = front != "gemini" or ctx.query.get("alt") == "sse"
    if native:
        body = _native_body(ctx, ch, front, upstream_model)
        ex = Exchange(
            url="",
            headers={},
            body=body,
            front=front,
            platform=ch.platform,
            native=True,
            stream=ctx.stream,
            sse=sse,
            upstream_model=upstream_model,
            billable=billable,
            include_usage=ctx.include_usage,
        )
    else:
        from torouter.gateway.translated import Translation

        tr = Translation.prepare(ctx, ch, front, upstream_model)
        ex = Exchange(
            url="",
            headers={},
            body=tr.body,
            front=front,
            platform=ch.platform,
            native=False,
            stream=ctx.stream,
            sse=sse,
            upstream_model=upstream_model,
            billable=billable,
            include_usage=ctx.include_usage,
            translation=tr,
        )
        if tr.dropped:
            ex.extra_headers.append((b"x-torouter-dropped", ",".join(tr.dropped).encode()))
    ex.url, ex.headers = _target(ctx, ch, ex, upstream_model)
    return ex


def _native_body(ctx: RequestContext, ch: ChannelRec, front: str, upstream_model: str) -> bytes:
    payload = ctx.payload
    assert payload is not None and ctx.admission is not None
    changes: dict[str, Any] = {}
    drop: tuple[str, ...] = ()
    if front != "gemini" and upstream_model != payload.get("model"):
        changes["model"] = upstream_model
    if front == "openai":
        if ctx.stream:
            opts = payload.get("stream_options")
            if not (isinstance(opts, dict) and opts.get("include_usage") is True):
                changes["stream_options"] = {
                    **(opts if isinstance(opts, dict) else {}),
                    "include_usage": True,
                }
        if ch.platform != "openrouter":
            drop = tuple(k for k in openai_up.OPENROUTER_ONLY if k in payload)
    if not changes and not drop and not ctx.admission.thinking:
        return ctx.body
    out = {k: v for k, v in payload.items() if k not in drop}
    out.update(changes)
    if ctx.admission.thinking:
        out = apply_thinking(ch.platform, out, ctx.admission.model.thinking_defaults)
    return orjson.dumps(out)


def _target(
    ctx: RequestContext, ch: ChannelRec, ex: Exchange, upstream_model: str
) -> tuple[str, dict[str, str]]:
    op = ctx.route.operation
    counting = op in ("count_tokens", "gemini_count_tokens")
    if ch.platform in _OPENAI_WIRE:
        return (
            openai_up.chat_url(ch, upstream_model),
            openai_up.request_headers(ch, ctx.request_id),
        )
    if ch.platform == "anthropic":
        query = ""
        if ex.native:
            raw = ctx.raw_query
            query = raw if raw else ""
        return (
            anthropic_up.messages_url(ch, count_tokens=counting, query=query),
            anthropic_up.request_headers(ch, ctx.request_id, ctx.headers if ex.native else None),
        )
    action = (
        "countTokens"
        if counting
        else ("streamGenerateContent" if ctx.stream else "generateContent")
    )
    return (
        gemini_up.action_url(ch, upstream_model, action, sse=ctx.stream),
        gemini_up.request_headers(ch, ctx.request_id),
    )
