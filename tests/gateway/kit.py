"""Build one request's context and exchange without a server: the records of a snapshot, an
`Admission`, a `RequestContext` for any front door, and `exchange.build` on one channel.

Used by the table tests that walk every (front door × platform) pair through the gateway's own
composition (`gateway/exchange.py`, `gateway/translated.py`) with upstream bytes supplied by
the test.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from torouter.access.admission import Admission
from torouter.billing import estimate
from torouter.billing.pricing import Prices
from torouter.gateway import exchange
from torouter.gateway.context import RequestContext
from torouter.gateway.routes import Route
from torouter.routing import matrix
from torouter.snapshot import ChannelRec, GroupRec, KeyRec, ModelRec, UserRec

__all__ = [
    "FRONT_OPERATION",
    "OPENAI_WIRE",
    "PLATFORMS",
    "build",
    "channel",
    "context",
    "model_rec",
]

PLATFORMS = ("openai", "anthropic", "gemini", "openrouter", "openai-compatible", "azure-openai")
OPENAI_WIRE = ("openai", "openrouter", "openai-compatible", "azure-openai")
# The generation operation of each client protocol.
FRONT_OPERATION = {
    "openai": "chat",
    "responses": "responses",
    "anthropic": "messages",
    "gemini": "generate",
}
_SURFACE = {"chat": "openai", "responses": "openai", "messages": "anthropic", "generate": "gemini"}


def channel(platform: str, **kw: Any) -> ChannelRec:
    fields: dict[str, Any] = {
        "id": 1,
        "name": f"ch-{platform}",
        "platform": platform,
        "base_url": "http://upstream.test" + ("/v1" if platform in OPENAI_WIRE else ""),
        "credential": "secret-key",
        "models": frozenset({"m"}),
        "model_mapping": {},
        "priority": 0,
        "weight": 1,
        "connect_timeout": 1,
        "first_byte_timeout": 1,
        "stream_idle_timeout": 1,
        "status": "enabled",
        "max_concurrency": 0,
        "options": {},
    }
    if platform == "azure-openai":
        fields["base_url"] = "http://upstream.test"
    fields.update(kw)
    return ChannelRec(**fields)


def model_rec(**kw: Any) -> ModelRec:
    fields: dict[str, Any] = {
        "id": "m",
        "display_name": "M",
        "vendor": "openai",
        "modality": "text",
        "endpoints": frozenset(),
        "context_length": None,
        "max_output_tokens": None,
        "supports_thinking": False,
        "thinking_defaults": {},
        "owned_by": "openai",
        "created": 0,
        "prices": Prices.with_defaults(input=Decimal(1), output=Decimal(2)),
    }
    fields.update(kw)
    return ModelRec(**fields)


def context(
    operation: str,
    payload: dict[str, Any],
    *,
    stream: bool = False,
    channels: tuple[ChannelRec, ...] = (),
    model: ModelRec | None = None,
    query: dict[str, str] | None = None,
) -> RequestContext:
    """The context the entry step leaves for the relay: parsed body, fields read, admitted."""
    body = orjson.dumps(payload)
    surface = _SURFACE.get(operation, "openai")
    route = Route(surface, operation, model="m" if surface == "gemini" else None, stream=stream)
    ctx = RequestContext(
        request_id="req_test",
        method="POST",
        path="/test",
        route=route,
        surface=surface,
        lang="en",
        client_ip="127.0.0.1",
        user_agent="",
        started=0.0,
        started_wall=0.0,
        headers={},
        query=dict(query or {}),
        body=body,
        payload=payload,
        model_id="m",
        stream=stream,
    )
    ctx.estimate_input_tokens, _ = estimate.input_tokens(body, payload)  # R7.9, as admitted
    if surface == "openai":
        opts = payload.get("stream_options")
        ctx.include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
    key = KeyRec(
        id=1,
        user_id=1,
        group_id=1,
        name="k",
        mask="sk-…",
        status="active",
        expires_at=None,
        quota_nusd=None,
        model_whitelist=None,
        ip_whitelist=(),
        ip_blacklist=(),
        spend_nusd=0,
    )
    user = UserRec(id=1, email="u@example.com", state="active", role="user", balance_nusd=0)
    group = GroupRec(
        id=1,
        name="g",
        billing_type="balance",
        multiplier=Decimal(1),
        status="enabled",
        visibility="public",
        catalog=("m",),
        catalog_set=frozenset({"m"}),
        granted=frozenset(),
    )
    ctx.admission = Admission(key, user, group, model or model_rec(), channels)
    return ctx


def build(
    front: str,
    platform: str,
    payload: dict[str, Any],
    *,
    stream: bool = False,
    query: dict[str, str] | None = None,
) -> exchange.Exchange:
    """`exchange.build` for one client protocol on one platform's channel."""
    op = FRONT_OPERATION[front]
    ch = channel(platform)
    ctx = context(op, payload, stream=stream, channels=(ch,), query=query)
    assert matrix.channel_mode(op, ch) in (matrix.NATIVE, matrix.TRANSLATED)
    return exchange.build(ctx, ch)
