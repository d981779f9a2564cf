"""Model list and get, answered by the gateway (SPEC R2.2, R6.5) in the caller's format."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from torouter.access.admission import KeyAdmission
from torouter.asgi import Send, respond
from torouter.config import Settings
from torouter.errors import error
from torouter.gateway.context import RequestContext
from torouter.platforms.names import FrontDoor
from torouter.records import ModelRec, Snapshot

__all__ = ["answer", "list_surface"]


def list_surface(headers: dict[bytes, bytes], query: dict[str, str]) -> FrontDoor:
    """R2.2: x-goog-api-key or ?key= → Gemini; anthropic-version or x-api-key → Anthropic."""
    if b"x-goog-api-key" in headers or "key" in query:
        return FrontDoor.GEMINI
    if b"anthropic-version" in headers or b"x-api-key" in headers:
        return FrontDoor.ANTHROPIC
    return FrontDoor.OPENAI


def visible_models(
    snap: Snapshot, ka: KeyAdmission, settings: Settings
) -> list[tuple[str, ModelRec]]:
    """Group catalog ∩ key whitelist, in admin order, plus `-thinking` variants."""
    group = snap.groups.get(ka.key.group_id)
    if group is None:
        return []
    wl = ka.key.model_whitelist
    out: list[tuple[str, ModelRec]] = []
    for mid in group.catalog:
        if wl is not None and mid not in wl:
            continue
        m = snap.models[mid]
        out.append((mid, m))
        if m.supports_thinking and settings.catalog.list_thinking_variants:
            out.append((f"{mid}-thinking", m))
    return out


def _openai(mid: str, m: ModelRec) -> dict[str, Any]:
    return {"id": mid, "object": "model", "created": m.created, "owned_by": m.owned_by}


def _anthropic(mid: str, m: ModelRec) -> dict[str, Any]:
    created = dt.datetime.fromtimestamp(m.created, dt.UTC).isoformat().replace("+00:00", "Z")
    name = m.display_name + (" (thinking)" if mid.endswith("-thinking") else "")
    return {"type": "model", "id": mid, "display_name": name, "created_at": created}


def _gemini(mid: str, m: ModelRec) -> dict[str, Any]:
    methods = ["generateContent", "streamGenerateContent", "countTokens"]
    if m.modality == "embedding":
        methods = ["embedContent", "batchEmbedContents"]
    return {
        "name": f"models/{mid}",
        "version": "001",
        "displayName": m.display_name,
        "inputTokenLimit": m.context_length or 0,
        "outputTokenLimit": m.max_output_tokens or 0,
        "supportedGenerationMethods": methods,
        "thinking": m.supports_thinking,
    }


_FORMAT = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}


async def answer(
    ctx: RequestContext, snap: Snapshot, ka: KeyAdmission, settings: Settings, send: Send
) -> None:
    models = visible_models(snap, ka, settings)
    fmt = _FORMAT[ctx.surface]
    if ctx.route.operation == "model_get":
        wanted = ctx.route.model or ""
        wanted = wanted.removeprefix("models/")
        for mid, m in models:
            if mid == wanted:
                body: Any = fmt(mid, m)
                break
        else:
            raise error(
                "E18", f"The model `{wanted}` does not exist or you do not have access to it"
            )
    elif ctx.surface == "anthropic":
        data = [fmt(mid, m) for mid, m in models]
        body = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    elif ctx.surface == "gemini":
        body = {"models": [fmt(mid, m) for mid, m in models]}
    else:
        body = {"object": "list", "data": [fmt(mid, m) for mid, m in models]}
    raw = orjson.dumps(body)
    ctx.status = 200
    ctx.outcome = "success"
    ctx.response_started = True
    await respond(send, 200, raw, ctx.request_id)
