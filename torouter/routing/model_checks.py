"""Testing every model of a channel (R9.9, ToRouter extension): one small request per model,
optionally streamed, each result reported as soon as it is known.

    check_model(http, ch, model_id, kind, stream=…) → ModelCheck
    check_models(http, ch, [(model_id, kind), …], stream=…) → async iterator of ModelCheck

A check is unbilled and never touches the gateway's counters or health: it asks the upstream
directly with the channel's credential, like the probe. `kind` is what the model serves
(`chat` or `embeddings`, from its endpoints); other kinds are reported as skipped rather than
sent a request they cannot answer. `check_models` runs a few checks at a time and yields in
completion order; closing the iterator (the admin pressed Stop, or the page went away) cancels
the checks still running and starts no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from torouter.platforms.names import Operation, Wire
from torouter.platforms.registry import spec_for
from torouter.records import ChannelRec
from torouter.upstreams.egress import transport_for
from torouter.upstreams.transport import UpstreamFailure, UpstreamTransport

__all__ = ["ModelCheck", "check_model", "check_models", "kind_of", "request_for"]

PROMPT = "Reply with one word: ok"
MAX_TOKENS = 16
MAX_READ = 256 * 1024  # enough for any short answer; a runaway stream is cut here
TEXT_CHARS = 200
_CHAT_ENDPOINTS = frozenset({"chat", "responses", "messages", "generate"})


@dataclass(frozen=True, slots=True)
class ModelCheck:
    model: str
    kind: str  # chat | embeddings | skipped
    ok: bool | None  # None: skipped
    status: int  # HTTP status, 0 for a network error or a skip
    latency_ms: int
    ttft_ms: int | None  # first body byte (streams)
    text: str  # the answer's first characters, or the error


def kind_of(endpoints: frozenset[str] | None) -> str:
    """What a check sends a model: a chat, an embedding, or nothing."""
    if not endpoints or endpoints & _CHAT_ENDPOINTS:
        return "chat"
    if "embeddings" in endpoints:
        return "embeddings"
    return "skipped"


def request_for(
    ch: ChannelRec, model: str, kind: str, *, stream: bool
) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of the check of public model `model` on channel `ch`. Pure."""
    upstream = ch.upstream_model(model)
    spec = spec_for(ch.platform)
    headers = spec.headers(ch, "check")
    if spec.wire is Wire.ANTHROPIC:
        body: dict[str, Any] = {
            "model": upstream,
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        if stream:
            body["stream"] = True
        url = spec.url(ch, Operation.MESSAGES, upstream, native=True, stream=False)
        return url, headers, _json(body)
    if spec.wire is Wire.GEMINI:
        if kind == "embeddings":
            body = {"content": {"parts": [{"text": PROMPT}]}}
            url = spec.url(ch, Operation.EMBED_CONTENT, upstream, native=True, stream=False)
            return url, headers, _json(body)
        body = {
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": MAX_TOKENS},
        }
        url = spec.url(ch, Operation.GENERATE, upstream, native=True, stream=stream)
        return url, headers, _json(body)
    if kind == "embeddings":
        body = {"model": upstream, "input": PROMPT}
        url = spec.url(ch, Operation.EMBEDDINGS, upstream, native=True, stream=False)
        return url, headers, _json(body)
    body = {
        "model": upstream,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if stream:
        body["stream"] = True
    url = spec.url(ch, Operation.CHAT, upstream, native=True, stream=False)
    return url, headers, _json(body)


def _json(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def answer_text(raw: bytes, *, stream: bool) -> str:
    """The answer's text from a JSON body or an SSE stream of any of the three wire formats;
    the raw body's start when nothing is recognised (an error page, say)."""
    if stream:
        parts: list[str] = []
        for line in raw.splitlines():
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    with contextlib.suppress(orjson.JSONDecodeError):
                        parts.append(_text_of(orjson.loads(payload)))
        text = "".join(parts)
    else:
        try:
            text = _text_of(orjson.loads(raw))
        except orjson.JSONDecodeError:
            text = ""
    return (text or raw.decode("utf-8", "replace")).strip()[:TEXT_CHARS]


def _text_of(obj: Any) -> str:
    """Text in one JSON answer or stream event (OpenAI, Anthropic, Gemini, embeddings)."""
    if not isinstance(obj, dict):
        return ""
    if "error" in obj:
        err = obj["error"]
        return str(err.get("message", err)) if isinstance(err, dict) else str(err)
    for choice in obj.get("choices") or []:
        msg = choice.get("delta") or choice.get("message") or {}
        if isinstance(msg.get("content"), str):
            return str(msg["content"])
    delta = obj.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("text"), str):
        return str(delta["text"])
    for block in obj.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    for cand in obj.get("candidates") or []:
        parts = (cand.get("content") or {}).get("parts") or []
        return "".join(str(p.get("text", "")) for p in parts if not p.get("thought"))
    data = obj.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict) and "embedding" in data[0]:
        return f"embedding[{len(data[0]['embedding'])}]"
    emb = obj.get("embedding")
    if isinstance(emb, dict) and isinstance(emb.get("values"), list):
        return f"embedding[{len(emb['values'])}]"
    return ""


async def check_model(
    http: UpstreamTransport, ch: ChannelRec, model: str, kind: str, *, stream: bool
) -> ModelCheck:
    if kind == "skipped":
        return ModelCheck(model, kind, None, 0, 0, None, "")
    stream = stream and kind == "chat"
    url, headers, body = request_for(ch, model, kind, stream=stream)
    started = time.perf_counter()
    ttft: int | None = None
    try:
        resp = await transport_for(http, ch.proxy).send(
            "POST",
            url,
            body=body,
            headers=headers,
            connect_s=ch.connect_timeout,
            total_s=min(ch.first_byte_timeout, 60),
        )
        try:
            chunks: list[bytes] = []
            size = 0
            while size < MAX_READ:
                chunk = await resp.read_chunk()
                if not chunk:
                    break
                if ttft is None:
                    ttft = int((time.perf_counter() - started) * 1000)
                chunks.append(chunk)
                size += len(chunk)
            raw = b"".join(chunks)
            status = resp.status
        finally:
            resp.close()
    except UpstreamFailure as exc:
        latency = int((time.perf_counter() - started) * 1000)
        return ModelCheck(model, kind, False, 0, latency, None, str(exc))
    latency = int((time.perf_counter() - started) * 1000)
    ok = 200 <= status < 300
    text = answer_text(raw, stream=stream and ok)
    return ModelCheck(model, kind, ok, status, latency, ttft if stream else None, text)


async def check_models(
    http: UpstreamTransport,
    ch: ChannelRec,
    models: Sequence[tuple[str, str]],
    *,
    stream: bool,
    concurrency: int = 3,
) -> AsyncGenerator[ModelCheck, None]:
    """Check each (model, kind) with at most `concurrency` at once; yield in completion
    order. Leaving the loop early cancels what runs and starts nothing more."""
    pending = list(reversed(models))
    running: set[asyncio.Task[ModelCheck]] = set()
    try:
        while pending or running:
            while pending and len(running) < concurrency:
                model, kind = pending.pop()
                running.add(asyncio.create_task(check_model(http, ch, model, kind, stream=stream)))
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield task.result()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
